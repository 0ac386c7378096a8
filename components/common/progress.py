"""Progress events: what a running step tells the command that watches it.

A step prints each event as one line on its standard output, so events travel with the step's
log through every runner (a subprocess, a container, a cluster pod) without a side channel. The
local run's console (pipeline/console.py) reads them to draw the training bar and the failure
line and keeps them out of the step's log file; in a cluster's pod logs they are one short JSON
line each.
"""

from __future__ import annotations

import json
import sys
import time

EVENT_PREFIX = "lstm-pipeline-event: "

EPOCH_STARTED = "epoch_started"
BATCH_DONE = "batch_done"
EPOCH_DONE = "epoch_done"
STEP_FAILED = "step_failed"

# Batch events are for a live bar; a few a second are all a person can read.
BATCH_EVENT_INTERVAL_SECONDS = 0.5

# Exceptions whose message names the problem by itself; any other is shown with its type, since
# e.g. KeyError's message is just the key.
_SELF_EXPLAINING = (ValueError, RuntimeError)


def emit(event: str, **fields) -> None:
    """Prints one event line, flushed at once so the watcher sees it while the step runs."""
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def parse(line: str) -> dict | None:
    """The event a line carries, or None for an ordinary log line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        event = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def describe_error(error: BaseException) -> str:
    """The error as one line a person reads: its message, with its type where that is needed."""
    message = " ".join(str(error).split())
    if isinstance(error, _SELF_EXPLAINING) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def report_failures() -> None:
    """Makes an exception that ends this step process emit STEP_FAILED with its message first.

    The traceback still follows in the step's log; the event gives the console the step's own
    error for its one-line failure message.
    """
    default_hook = sys.excepthook
    if getattr(default_hook, "reports_failures", False):
        return  # Installed already: one event per failure.

    def hook(kind, error, traceback):
        emit(STEP_FAILED, error=describe_error(error))
        default_hook(kind, error, traceback)

    hook.reports_failures = True
    sys.excepthook = hook


class Throttle:
    """True at most once per `interval` seconds (and on the first call)."""

    def __init__(self, interval: float = BATCH_EVENT_INTERVAL_SECONDS, clock=time.monotonic):
        self._interval, self._clock, self._last = interval, clock, None

    def __call__(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True
