"""Beam pipeline options shared by every Beam step."""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

# The DirectRunner's in-process engine, named directly: plain `DirectRunner` first tries to
# download and switch to the Prism runner, which waits on the network and changes behaviour.
LOCAL_RUNNER = "FnApiRunner"


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from command-line style arguments, on the local runner unless one is named."""
    args = list(beam_args)
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in args):
        args.append(f"--runner={LOCAL_RUNNER}")
    return PipelineOptions(args)
