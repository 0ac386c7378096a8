"""Beam pipeline options shared by every Beam step."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

# The DirectRunner's in-process engine, named directly: plain `DirectRunner` first tries to
# download and switch to the Prism runner, which waits on the network and changes behaviour.
LOCAL_RUNNER = "FnApiRunner"
# Runners whose workers are this process: they import the components as it does.
IN_PROCESS_RUNNERS = (
    LOCAL_RUNNER,
    "DirectRunner",
    "BundleBasedDirectRunner",
    "SwitchingDirectRunner",
)
# Where components/Dockerfile keeps this project's wheel for remote workers.
IMAGE_WHEEL_DIR = "/opt/lstm-pipeline"
# Options by which a user already says how remote workers get code: then none is added.
WORKER_CODE_OPTIONS = ("--setup_file", "--extra_package", "--sdk_container_image")


def _option_value(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


def worker_code_args() -> list[str]:
    """Beam options that ship this project to remote workers, which pip-install it at start.

    In the component image: `--extra_package` with the wheel built into it. In a source
    checkout: `--setup_file`, from which Beam builds the package itself. Otherwise: none.
    """
    wheels = sorted(glob.glob(f"{IMAGE_WHEEL_DIR}/lstm_pipeline-*.whl"))
    if wheels:
        return [f"--extra_package={wheels[-1]}"]
    setup_file = Path(__file__).resolve().parents[2] / "setup.py"
    return [f"--setup_file={setup_file}"] if setup_file.exists() else []


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from command-line style arguments, on the local runner unless one is named.

    A remote runner's workers (Dataflow, Flink, Spark, a portable job server) do not have the
    components: unless the arguments say how they get code, this project is staged for them.
    """
    args = list(beam_args)
    runner = _option_value(args, "--runner")
    if runner is None:
        args.append(f"--runner={LOCAL_RUNNER}")
    elif runner not in IN_PROCESS_RUNNERS and not any(
        _option_value(args, option) for option in WORKER_CODE_OPTIONS
    ):
        args += worker_code_args()
    return PipelineOptions(args)
