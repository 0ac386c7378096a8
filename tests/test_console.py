"""The run console: kfp.local's stream split into step logs, events read, failures named."""

import io
import json
import re

from rich.console import Console

from components.common import progress
from pipeline.console import LiveDisplay, PlainDisplay, StepLogRouter, step_figures

CYAN, GREEN, RED, RESET = "\033[96m", "\033[92m", "\033[91m", "\033[0m"


def kfp_task(name: str, lines: list[str], status: str = "SUCCESS", task_dir: str = "/r/t") -> str:
    """A task's output as kfp.local 2.17 prints it: coloured names, step lines indented."""
    colour = GREEN if status == "SUCCESS" else RED
    body = "".join(f"    {line}\n" for line in lines)
    return (
        f"12:00:00.000 - INFO - Executing task {CYAN}'{name}'{RESET}\n"
        "12:00:00.000 - INFO - Streamed logs:\n\n"
        f'    "outputFile": "{task_dir}/executor_output.json"\n'
        f"{body}\n\n"
        f"12:00:01.000 - INFO - Task {CYAN}'{name}'{RESET} finished with status "
        f"{colour}{status}{RESET}\n"
        f"12:00:01.000 - INFO - Task {CYAN}'{name}'{RESET} outputs:\n"
        "--------------------------------------------------------------------------------\n"
    )


def event_line(kind: str, **fields) -> str:
    return progress.EVENT_PREFIX + json.dumps({"event": kind, **fields})


class Recorder:
    def __init__(self):
        self.calls = []

    def step_started(self, step):
        self.calls.append(("started", step.label))

    def step_output(self, step, line):
        self.calls.append(("output", step.label, line))

    def step_event(self, step, event):
        self.calls.append(("event", step.label, event["event"]))

    def step_finished(self, step):
        self.calls.append(("finished", step.label, step.status, step.error))


def route(tmp_path, text: str, task_labels=None, chunk: int = 7):
    display = Recorder()
    router = StepLogRouter(str(tmp_path / "logs"), display, task_labels)
    for at in range(0, len(text), chunk):  # Lines arrive split across writes.
        router.write(text[at : at + chunk])
    router.close()
    return router, display


def test_each_task_writes_its_own_log_and_kfp_lines_go_to_the_run_log(tmp_path):
    text = "Running pipeline\n"
    text += kfp_task("ingest", ["reading csv:x", "read 3"], task_dir="/r/ingest")
    text += kfp_task("train", ["epoch 1"]) + kfp_task("train", ["epoch 1 again"])
    router, display = route(tmp_path, text, {"train": ["lstm", "gru"]})
    logs = tmp_path / "logs"
    ingest_log = (logs / "ingest.log").read_text()
    assert "reading csv:x\nread 3\n" in ingest_log and "    read 3" not in ingest_log
    assert "epoch 1\n" in (logs / "train-lstm.log").read_text()
    assert "epoch 1 again\n" in (logs / "train-gru.log").read_text()
    run_log = (logs / "run.log").read_text()
    assert "Running pipeline" in run_log and "finished with status SUCCESS" in run_log
    assert "reading csv" not in run_log and "\033[" not in run_log
    assert [step.label for step in router.steps] == ["ingest", "train-lstm", "train-gru"]
    assert router.steps[0].task_dir == "/r/ingest"
    assert all(step.status == "succeeded" for step in router.steps)
    assert ("finished", "ingest", "succeeded", "") in display.calls


def test_events_reach_the_display_and_stay_out_of_the_log(tmp_path):
    epoch = event_line(progress.EPOCH_DONE, epoch=1, epochs=2, logs={"loss": 0.5})
    router, display = route(tmp_path, kfp_task("train", ["before", epoch, "after"]))
    log = (tmp_path / "logs" / "train.log").read_text()
    assert "before\nafter\n" in log and progress.EVENT_PREFIX not in log
    assert ("event", "train", progress.EPOCH_DONE) in display.calls


def test_a_failed_step_carries_its_own_error_or_else_its_last_line(tmp_path):
    failed = event_line(progress.STEP_FAILED, error="line 12 of reviews.jsonl is not JSON")
    text = kfp_task("ingest", ["reading", failed, "Traceback ...", "ValueError: x"], "FAILURE")
    router, _ = route(tmp_path, text)
    assert router.steps[0].status == "failed"
    assert router.steps[0].error == "line 12 of reviews.jsonl is not JSON"
    assert "Traceback ...\nValueError: x\n" in (tmp_path / "logs" / "ingest.log").read_text()

    router, _ = route(tmp_path / "b", kfp_task("ingest", ["Killed"], "FAILURE"))
    assert router.steps[0].error == "Killed"


def test_a_stream_that_ends_inside_a_task_closes_it_as_failed(tmp_path):
    text = kfp_task("ingest", ["done"]) + "12:00 - INFO - Executing task 'transform'\n    half"
    router, display = route(tmp_path, text)
    assert [(s.label, s.status) for s in router.steps] == [
        ("ingest", "succeeded"),
        ("transform", "failed"),
    ]
    assert (tmp_path / "logs" / "transform.log").read_text() == "half\n"
    assert display.calls[-1] == ("finished", "transform", "failed", "half")


def training_events() -> list[str]:
    lines = []
    for epoch in (1, 2):
        lines.append(event_line(progress.EPOCH_STARTED, epoch=epoch, epochs=2, batches=3))
        for batch in (1, 2, 3):
            logs = {"loss": 0.7 - 0.1 * batch, "accuracy": 0.5 + 0.1 * batch}
            lines.append(event_line(progress.BATCH_DONE, epoch=epoch, batch=batch, logs=logs))
        logs = {"accuracy": 0.75, "loss": 0.41, "val_accuracy": 0.7, "val_loss": 0.5}
        lines.append(event_line(progress.EPOCH_DONE, epoch=epoch, epochs=2, seconds=9.8, logs=logs))
    return lines


def run_display(tmp_path, display_class, terminal: bool, verbose: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    display = display_class(console, verbose, describe=lambda step: f"figures of {step.label}")
    router = StepLogRouter(str(tmp_path / "logs"), display)
    display.start()
    router.write(kfp_task("ingest", ["reading"]))
    router.write(kfp_task("train", ["model summary", *training_events()]))
    router.write(kfp_task("evaluate", ["bad"], "FAILURE"))
    router.close()
    display.stop()
    # A step's time is the router's own clock: 0.1 s on a busy machine.
    return re.sub(r"(in|after) \d+\.\d s", r"\1 0.0 s", out.getvalue())


def test_plain_display_prints_a_line_per_step_start_end_and_epoch(tmp_path):
    lines = run_display(tmp_path, PlainDisplay, terminal=False).splitlines()
    assert lines == [
        "ingest: started",
        "ingest: succeeded in 0.0 s: figures of ingest",
        "train: started",
        "train: epoch 1/2: accuracy 0.7500 loss 0.4100, eval accuracy 0.7000 loss 0.5000 (9.8 s)",
        "train: epoch 2/2: accuracy 0.7500 loss 0.4100, eval accuracy 0.7000 loss 0.5000 (9.8 s)",
        "train: succeeded in 0.0 s: figures of train",
        "evaluate: started",
        "evaluate: failed after 0.0 s",
    ]


def test_verbose_display_streams_every_step_line_too(tmp_path):
    text = run_display(tmp_path, PlainDisplay, terminal=False, verbose=True)
    assert "  reading\n" in text and "  model summary\n" in text
    assert progress.EVENT_PREFIX not in text


def test_live_display_keeps_the_step_and_epoch_lines_and_clears_its_bars(tmp_path):
    text = run_display(tmp_path, LiveDisplay, terminal=True)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    for line in (
        "ingest: succeeded in 0.0 s: figures of ingest",
        "train: epoch 2/2: accuracy 0.7500 loss 0.4100, eval accuracy 0.7000 loss 0.5000 (9.8 s)",
        "evaluate: failed after 0.0 s",
    ):
        assert line in plain
    assert "reading" not in plain


def test_tasks_are_named_by_their_step(tmp_path):
    display = Recorder()
    router = StepLogRouter(str(tmp_path), display, step_names={"ingest-sentiment": "ingest"})
    router.write(kfp_task("ingest-sentiment", ["read"]))
    router.close()
    assert [step.name for step in router.steps] == ["ingest"]
    assert (tmp_path / "ingest.log").read_text().endswith("read\n\n\n")


def test_a_trained_models_line_gives_its_best_epoch_or_its_ensembles_size():
    single = {"model_type": "bigru", "best_epoch": 3, "eval_accuracy": 0.9, "members": 1}
    assert step_figures("train", {"model": single}) == "bigru: best epoch 3, eval accuracy 0.9000"
    ensemble = {**single, "members": 2}
    assert step_figures("train", {"model": ensemble}) == "bigru ensemble of 2: eval accuracy 0.9000"
