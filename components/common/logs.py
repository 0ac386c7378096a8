"""Logging for component processes: timestamped lines a person watching a run can follow."""

import logging
import os
import re
import resource
import sys
import tempfile
import time

from components.common import progress

# What the CUDA-enabled TensorFlow wheel prints while it looks for a GPU on a machine with no
# CUDA driver: absl's note that logging is not set up yet, the missing driver (once per library
# that loads it), and then the failed driver call that follows from it.
_ABSL_PREAMBLE = "All log messages before absl::InitializeLog() is called are written to STDERR"
_NO_CUDA_DRIVER = "Could not find cuda drivers on your machine, GPU will not be used."
_FAILED_CUINIT = "failed call to cuInit"
# absl starts a line with its severity, I(nfo), W(arning), E(rror) or F(atal), then the date.
_ABSL_SEVERITY = re.compile(r"([IWEF])\d{4} ")


def configure() -> None:
    """Sets up a step process's logging; call it first, before anything imports TensorFlow."""
    start_tensorflow_quietly()
    progress.report_failures()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    # Beam, absl and TensorFlow log plenty at INFO that no user of the pipeline acts on.
    for noisy in ("apache_beam", "absl", "tensorflow", "tfx_bsl", "tensorflow_transform"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def start_tensorflow_quietly() -> None:
    """Imports TensorFlow and finds its devices without its GPU probing noise on a CPU machine.

    The probing lines come from C++ during the import and the first device query, before
    TensorFlow applies TF_CPP_MIN_LOG_LEVEL, so they are caught at the file descriptor for those
    two calls. Dropped: the lines of a machine without a CUDA driver, and the lines below that
    level (the oneDNN notice is at INFO); everything else printed meanwhile (and a failed driver
    call where a driver exists) is passed on. TF_CPP_MIN_LOG_LEVEL defaults to 2 (errors only)
    in every runner, a container's too, whose environment is not the command's.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    no_driver = any(_NO_CUDA_DRIVER in line for line in lines)
    level = os.environ["TF_CPP_MIN_LOG_LEVEL"]
    hidden = "IWE"[: int(level)] if level in ("0", "1", "2", "3") else ""
    for line in lines:
        probing = _ABSL_PREAMBLE in line or _NO_CUDA_DRIVER in line
        severity = _ABSL_SEVERITY.match(line)
        below_level = severity is not None and severity[1] in hidden
        if not (probing or below_level or (no_driver and _FAILED_CUINIT in line)):
            sys.stderr.write(line)
    sys.stderr.flush()


def step_stats(start: float) -> dict:
    """Wall seconds since `start` (time.monotonic()) and this process's peak memory so far."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux.
    return {"seconds": time.monotonic() - start, "peak_rss_mb": round(peak_kib / 1024, 1)}
