"""Progress events: the line format both sides read, the failure hook and the throttle."""

import subprocess
import sys

from components.common import progress


def test_an_event_round_trips_through_its_line(capsys):
    progress.emit(progress.EPOCH_DONE, epoch=2, epochs=10, logs={"loss": 0.5})
    line = capsys.readouterr().out
    assert line.endswith("\n") and line.count("\n") == 1
    assert progress.parse(line.rstrip("\n")) == {
        "event": progress.EPOCH_DONE,
        "epoch": 2,
        "epochs": 10,
        "logs": {"loss": 0.5},
    }


def test_ordinary_and_malformed_lines_are_not_events():
    assert progress.parse("2026-01-01 train: epoch 1/2 loss=0.5") is None
    assert progress.parse(progress.EVENT_PREFIX + "{not json") is None
    assert progress.parse(progress.EVENT_PREFIX + "[1, 2]") is None
    assert progress.parse(progress.EVENT_PREFIX + '{"no_event": 1}') is None


def test_errors_read_as_one_line_with_the_type_only_where_the_message_needs_it():
    assert progress.describe_error(ValueError("line 12 of a.jsonl:\n  not JSON")) == (
        "line 12 of a.jsonl: not JSON"
    )
    assert progress.describe_error(KeyError("text")) == "KeyError: 'text'"
    assert progress.describe_error(MemoryError()) == "MemoryError"


def test_an_uncaught_exception_reports_its_message_before_the_traceback():
    code = (
        "from components.common import progress\n"
        "progress.report_failures()\n"
        "raise ValueError('line 12 of reviews.jsonl is not JSON')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    event = progress.parse(result.stdout.strip())
    assert event == {"event": progress.STEP_FAILED, "error": "line 12 of reviews.jsonl is not JSON"}
    assert "Traceback" in result.stderr  # The log keeps the whole story.


def test_the_throttle_lets_through_at_most_one_call_per_interval():
    now = [0.0]
    throttle = progress.Throttle(0.5, clock=lambda: now[0])
    passed = []
    for tick in range(20):
        now[0] = tick * 0.1
        passed.append(throttle())
    assert [i for i, ok in enumerate(passed) if ok] == [0, 5, 10, 15]
