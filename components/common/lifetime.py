"""A local run's step processes end with the `lstm-pipeline run` that started them.

kfp.local starts each step as a grandchild of the command (through `sh -c`), so when the
command is killed, even with SIGKILL, nothing tells the step; it would run on, orphaned, and
write into an output folder that another run may now hold. The command names itself in
RUN_PROCESS_ENV, and each step watches that process and kills itself when it is gone (its
`.incomplete` output folder is removed by the next run).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

import psutil

logger = logging.getLogger(__name__)

# "<pid>:<start time>": the start time tells the command apart from a later process that
# happens to get the same pid.
RUN_PROCESS_ENV = "LSTM_PIPELINE_RUN_PROCESS"
_POLL_SECONDS = 1.0


def run_process_marker() -> str:
    """The value of RUN_PROCESS_ENV that names this process."""
    return f"{os.getpid()}:{psutil.Process().create_time()}"


def _is_running(marker: str) -> bool:
    pid, _, started = marker.partition(":")
    try:
        return str(psutil.Process(int(pid)).create_time()) == started
    except (psutil.NoSuchProcess, ValueError):
        return False


def end_with_local_run() -> None:
    """Ends this process when the local run named in RUN_PROCESS_ENV ends; a no-op elsewhere
    (a step on a cluster has no such variable)."""
    marker = os.environ.get(RUN_PROCESS_ENV)
    if not marker:
        return

    def watch() -> None:
        while _is_running(marker):
            threading.Event().wait(_POLL_SECONDS)
        logger.warning("the lstm-pipeline run that started this step has ended; stopping")
        os.kill(os.getpid(), signal.SIGKILL)  # Certain: no handler can keep the step going.

    threading.Thread(target=watch, name="end-with-local-run", daemon=True).start()
