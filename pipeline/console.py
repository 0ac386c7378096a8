"""What a person sees of a local run: one line per step, a training bar, the step logs kept.

kfp.local prints everything a run does on standard output: its own lines ("Executing task
'ingest'", "Task 'ingest' finished with status SUCCESS"), and every line each step process
prints. `StepLogRouter` takes that stream in place of standard output, writes each step's lines
to that step's own log file, reads the steps' progress events (components/common/progress.py)
and tells a display what happened. `LiveDisplay` draws it with rich on a terminal;
`PlainDisplay` writes plain lines where the output is a file or a CI log.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import time
from collections import deque

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from components.common import progress

# kfp.local's orchestrator lines (colour codes removed) that open and close a task's output.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_STARTED = re.compile(r"Executing task '([^']+)'")
_TASK_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
# kfp's executor names the file it writes the task's results to; its folder is the task's.
_OUTPUT_FILE = re.compile(r'"outputFile": "([^"]+)"')
# kfp.local indents each step line it streams by these four spaces.
_STREAM_INDENT = "    "
LOG_TAIL_LINES = 10
TRACEBACK_START = "Traceback (most recent call last):"
# kfp's executor logs its whole input as indented JSON before the step's code runs.
EXECUTOR_INPUT_END = "}"
# kfp.local writes each task's results, artifact metadata included, to this file in its folder.
EXECUTOR_OUTPUT_FILE = "executor_output.json"


@dataclasses.dataclass
class StepRun:
    """One task of the run as the console saw it."""

    name: str  # The step, e.g. "train".
    label: str  # The name of its log, e.g. "train-lstm" for one of several train tasks.
    log_path: str
    started: float
    status: str = "running"
    seconds: float = 0.0
    task_dir: str = ""
    error: str = ""
    tail: deque = dataclasses.field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))


class StepLogRouter(io.TextIOBase):
    """A writable text stream that splits a kfp.local run's output into per-step logs.

    `step_names` maps kfp's task names to the steps they run (`ingest-sentiment` -> `ingest`).
    `task_labels` names the tasks of a step that runs several times (a ParallelFor), in the
    order they run: {"train": ["lstm", "gru"]} writes train-lstm.log, then train-gru.log.
    Lines outside any task (kfp's own) go to `run.log`.
    """

    def __init__(
        self,
        log_dir: str,
        display,
        task_labels: dict[str, list[str]] | None = None,
        step_names: dict[str, str] | None = None,
    ):
        super().__init__()
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir, self.display = log_dir, display
        self._step_names = dict(step_names or {})
        self._task_labels = {step: list(labels) for step, labels in (task_labels or {}).items()}
        self._seen: dict[str, int] = {}
        self._pending = ""
        self._run_log = open(os.path.join(log_dir, "run.log"), "a", encoding="utf-8")  # noqa: SIM115
        self._log = None
        self.current: StepRun | None = None
        self.steps: list[StepRun] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        for log in (self._log, self._run_log):
            if log is not None:
                log.flush()

    def close(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""
        if self.current is not None:
            self._finish("failed")
        super().close()
        self._run_log.close()

    def _label(self, step: str) -> str:
        index = self._seen.get(step, 0)
        self._seen[step] = index + 1
        labels = self._task_labels.get(step, [])
        if len(labels) > 1 and index < len(labels):
            return f"{step}-{labels[index]}"
        return step if index == 0 else f"{step}-{index + 1}"

    def _line(self, raw: str) -> None:
        plain = _ANSI.sub("", raw)
        if started := _TASK_STARTED.search(plain):
            task = started.group(1)
            self._start(self._step_names.get(task, task))
        elif (finished := _TASK_FINISHED.search(plain)) and self.current is not None:
            self._run_log.write(plain + "\n")
            self._finish("succeeded" if finished.group(2) == "SUCCESS" else "failed")
            return
        if self.current is None or started:
            self._run_log.write(plain + "\n")
            return
        line = plain.removeprefix(_STREAM_INDENT)
        event = progress.parse(line)
        if event is not None:
            self._event(event)
            return
        if match := _OUTPUT_FILE.search(line):
            self.current.task_dir = os.path.dirname(match.group(1))
        self._log.write(line + "\n")
        if line.strip():
            self.current.tail.append(line)
        self.display.step_output(self.current, line)

    def _start(self, step: str) -> None:
        label = self._label(step)
        path = os.path.join(self.log_dir, f"{label}.log")
        self._log = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in _finish
        self.current = StepRun(step, label, path, time.monotonic())
        self.steps.append(self.current)
        self.display.step_started(self.current)

    def _event(self, event: dict) -> None:
        if event["event"] == progress.STEP_FAILED:
            self.current.error = event.get("error", "")
        self.display.step_event(self.current, event)

    def _finish(self, status: str) -> None:
        step, self.current = self.current, None
        step.status, step.seconds = status, time.monotonic() - step.started
        if status == "failed" and not step.error:
            step.error = step.tail[-1] if step.tail else "the step printed nothing"
        self._log.close()
        self._log = None
        self.display.step_finished(step)


def _metric_text(logs: dict, names: tuple[str, ...]) -> str:
    return " ".join(f"{name} {logs[name]:.4f}" for name in names if name in logs)


def describe_step(step: StepRun) -> str:
    return step_figures(step.name, task_outputs_metadata(step.task_dir))


class PlainDisplay:
    """Plain lines, one per step start and end and per training epoch: for files and CI logs.

    With `verbose`, every line the steps print is streamed too. `describe` gives a finished
    step's figures.
    """

    def __init__(self, console: Console, verbose: bool = False, describe=describe_step):
        self.console, self.verbose, self._describe = console, verbose, describe

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def step_started(self, step: StepRun) -> None:
        self._print(f"{step.label}: started")

    def step_output(self, step: StepRun, line: str) -> None:
        if self.verbose:
            self._print(f"  {line}")

    def step_event(self, step: StepRun, event: dict) -> None:
        if event["event"] == progress.EPOCH_DONE:
            self._print(f"{step.label}: {epoch_text(event)}")

    def step_finished(self, step: StepRun) -> None:
        self._print(finished_text(step, self._describe(step)))


def epoch_text(event: dict) -> str:
    """`epoch 2/10: loss 0.41 accuracy 0.81, eval loss 0.44 accuracy 0.79 (9.8 s)`."""
    logs = event.get("logs", {})
    train_names = tuple(name for name in logs if not name.startswith("val_"))
    eval_logs = {name.removeprefix("val_"): value for name, value in logs.items()}
    eval_names = tuple(name.removeprefix("val_") for name in logs if name.startswith("val_"))
    text = f"epoch {event['epoch']}/{event['epochs']}: {_metric_text(logs, train_names)}"
    if eval_names:
        text += f", eval {_metric_text(eval_logs, eval_names)}"
    return text + f" ({event.get('seconds', 0):.1f} s)"


def finished_text(step: StepRun, figures: str) -> str:
    if step.status == "failed":  # Its error ends the command's output.
        return f"{step.label}: failed after {step.seconds:.1f} s"
    return f"{step.label}: {step.status} in {step.seconds:.1f} s" + (
        f": {figures}" if figures else ""
    )


class LiveDisplay(PlainDisplay):
    """On a terminal: a spinner for the running step, a bar for training's epochs and batches."""

    def __init__(self, console: Console, verbose: bool = False, describe=describe_step):
        super().__init__(console, verbose, describe)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
        )
        self._step_task = self._batch_task = None

    def _print(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()

    def step_started(self, step: StepRun) -> None:
        self._step_task = self._progress.add_task(step.label, total=None, metrics="")

    def step_event(self, step: StepRun, event: dict) -> None:
        kind = event["event"]
        if kind == progress.EPOCH_STARTED:
            self._progress.update(
                self._step_task, total=event["epochs"], completed=event["epoch"] - 1
            )
            if self._batch_task is not None:
                self._progress.remove_task(self._batch_task)
            self._batch_task = self._progress.add_task(
                f"  epoch {event['epoch']}", total=event.get("batches"), metrics=""
            )
        elif kind == progress.BATCH_DONE and self._batch_task is not None:
            metrics = _metric_text(event.get("logs", {}), tuple(event.get("logs", {})))
            self._progress.update(self._batch_task, completed=event["batch"], metrics=metrics)
        elif kind == progress.EPOCH_DONE:
            self._progress.update(self._step_task, completed=event["epoch"])
            super().step_event(step, event)

    def step_finished(self, step: StepRun) -> None:
        for task in (self._batch_task, self._step_task):
            if task is not None:
                self._progress.remove_task(task)
        self._step_task = self._batch_task = None
        super().step_finished(step)

    def step_output(self, step: StepRun, line: str) -> None:
        if self.verbose:
            self._print(f"  {line}")


def task_outputs_metadata(task_dir: str) -> dict[str, dict]:
    """Output artifact name -> its metadata, from the results kfp.local wrote for a task."""
    path = os.path.join(task_dir, EXECUTOR_OUTPUT_FILE)
    if not task_dir or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as results:
        artifacts = json.load(results).get("artifacts", {})
    return {name: found["artifacts"][0].get("metadata", {}) for name, found in artifacts.items()}


def _score_text(found: dict, names: tuple[str, ...], prefix: str) -> str:
    return ", ".join(f"{prefix}{name} {found[name]:.4f}" for name in names if name in found)


def step_figures(step: str, outputs: dict[str, dict]) -> str:
    """The one or two figures that matter for a finished step, from its outputs' metadata."""
    found = {name: value for metadata in outputs.values() for name, value in metadata.items()}
    if step == "ingest" and "counts" in found:
        counts = found["counts"]
        figures = f"read {counts['read']:,}, quarantined {counts['quarantined']:,}"
    elif step == "transform" and "vocabulary_size" in found:
        figures = f"vocabulary of {found['vocabulary_size']:,} words"
    elif step == "train" and "best_epoch" in found:
        scores = _score_text(found, ("eval_accuracy", "eval_rmse"), "")
        members = found.get("members", 1)
        if members > 1:  # Each member has its own best epoch.
            figures = f"{found['model_type']} ensemble of {members:g}: {scores}"
        else:
            figures = f"{found['model_type']}: best epoch {found['best_epoch']:g}, {scores}"
        figures = figures.replace("eval_", "eval ")
    elif step == "pretrain" and "tokens" in found:
        perplexity = found.get("held_out_perplexity")
        figures = f"held-out perplexity {perplexity}" if perplexity else "off"
    elif step == "compare" and "champion" in found:
        figures = f"champion {found['champion']}"
    elif step == "evaluate" and "blessed" in found:
        scores = _score_text(found, ("accuracy", "rmse"), "test ")
        figures = f"{scores}, {'blessed' if found['blessed'] else 'not blessed'}"
    elif step == "export" and "version_uri" in found:
        figures = f"serving model {found['version_uri']}"
        if found.get("pushed_to"):
            figures += f", pushed to {found['pushed_to']}"
    elif step == "baseline":
        figures = _score_text(found, ("accuracy",), "test ")
    else:
        figures = ""
    return ", ".join(part for part in (figures, "reused" if found.get("reused") else "") if part)


def _scores(metrics: dict) -> str:
    names = ("accuracy", "auc") if "accuracy" in metrics else ("rmse", "mae")
    return "  ".join(
        f"{name} {metrics[name]:.4f}" for name in names if metrics.get(name) is not None
    )


def result_rows(summary: dict, report_path: str, log_dir: str) -> list[tuple[str, str]]:
    """The run's outcome in a few rows: scores beside the baseline's, blessing, where things are.

    Plain rows rather than a table, so a path is never cut or wrapped where a person copies it.
    """
    rows = [("status", f"{summary['status']} in {summary['seconds']:.0f} s")]
    model = summary.get("model")
    test = summary.get("metrics", {}).get("test")
    if model and test:
        rows.append((f"test ({model['type']})", _scores(test)))
    baseline = (summary.get("baseline") or {}).get("metrics") or (test or {}).get("persistence")
    if baseline:
        rows.append(("baseline", _scores(baseline)))
    if "blessed" in summary:
        verdict = "blessed" if summary["blessed"] else "not blessed"
        rows.append(("blessing", f"{verdict}: {summary['blessing_reason']}"))
    if summary.get("serving_model"):
        rows.append(("serving model", summary["serving_model"]))
    if summary.get("report"):
        rows.append(("report", report_path))
    rows.append(("step logs", log_dir))
    return rows


def print_rows(console: Console, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        console.print(
            f"[bold]{escape(label)}[/]{' ' * (width - len(label))}{escape(value)}",
            highlight=False,
            soft_wrap=True,
        )


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last non-blank lines of a log before its traceback, if it ends in one: what the step
    did last. The error itself is in the failure line; the traceback stays in the log."""
    with open(path, encoding="utf-8", errors="replace") as log:
        kept = [line.rstrip("\n") for line in log if line.strip()]
    if EXECUTOR_INPUT_END in kept:  # The step's own lines follow kfp's executor-input dump.
        kept = kept[kept.index(EXECUTOR_INPUT_END) + 1 :]
    tracebacks = [at for at, line in enumerate(kept) if line.startswith(TRACEBACK_START)]
    if tracebacks:
        kept = kept[: tracebacks[-1]]
    return kept[-lines:]


def failure_line(failure: dict) -> str:
    """The command's last line when a step failed: the step, its own error, its log."""
    return f"{failure['step']} failed: {failure['error']} (log: {failure['log']})"
