"""Runs cannot mix: one run at a time holds an output folder, and a run knows its own folder."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from components.common.config import ConfigError
from components.common.lifetime import RUN_PROCESS_ENV
from pipeline.cli import main
from pipeline.local import LOCK_FILE, output_dir_lock, remove_stale_incomplete


def test_a_second_run_in_a_held_output_dir_exits_2_naming_the_holder(tmp_path, capsys):
    source = tmp_path / "reviews.csv"
    source.write_text("text,label,split\na fine film,1,train\na dull film,0,test\n")
    output = tmp_path / "out"
    output.mkdir()
    with output_dir_lock(str(output), "20260101-000000-abcdef"):
        status = main(["run", "--output-dir", str(output), "--source", f"csv:{source}"])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"lstm-pipeline: error: --output-dir={str(output)!r} is not allowed: it is in use by "
        f"run 20260101-000000-abcdef (pid {os.getpid()} on "
    )
    assert line.endswith("wait for that run to end or choose another --output-dir")
    assert not (output / "artifacts").exists()  # Nothing ran.


def test_the_lock_ends_with_its_process_however_it_ends(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline.local import output_dir_lock\n"
            "with output_dir_lock(sys.argv[1], 'killed-run'):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(ConfigError, match="it is in use by run killed-run"):
        with output_dir_lock(str(tmp_path), "second"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with output_dir_lock(str(tmp_path), "after-the-kill"):
        assert "run after-the-kill" in (tmp_path / LOCK_FILE).read_text()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # Released: no holder to name.


def test_a_run_removes_the_incomplete_folders_killed_steps_left(tmp_path):
    stale = [
        tmp_path / "artifacts" / "run-a" / "lstm-sentiment-1" / "ingest" / "examples.incomplete",
        tmp_path / "cache" / "transform-abc" / "graph.incomplete",
    ]
    kept = tmp_path / "artifacts" / "run-a" / "lstm-sentiment-1" / "ingest" / "examples"
    for folder in [*stale, kept]:
        (folder / "part").mkdir(parents=True)
    remove_stale_incomplete(str(tmp_path))
    assert not any(folder.exists() for folder in stale)
    assert (kept / "part").exists()


STEP_SCRIPT = """
import sys, time
from components.common.lifetime import end_with_local_run
end_with_local_run()
print("watching", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_a_step_ends_when_the_run_that_started_it_is_killed(tmp_path):
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from components.common.lifetime import run_process_marker\n"
            "import time; print(run_process_marker(), flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    marker = run.stdout.readline().strip()
    env = {**os.environ, RUN_PROCESS_ENV: marker}
    step = subprocess.Popen(
        [sys.executable, "-c", STEP_SCRIPT, "600"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert step.stdout.readline() == "watching\n"
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert step.wait(timeout=60) == -signal.SIGKILL


def test_outside_a_local_run_a_step_does_not_watch():
    env = {key: value for key, value in os.environ.items() if key != RUN_PROCESS_ENV}
    finished = subprocess.run(
        [sys.executable, "-c", STEP_SCRIPT, "0"], env=env, capture_output=True, text=True
    )
    assert finished.returncode == 0 and finished.stdout == "watching\n"


def tiny_run_args(source: str, output_dir, *extra: str) -> list[str]:
    args = ["run", "--source", source, "--output-dir", str(output_dir), "--epochs", "1"]
    return [*args, "--units", "4", "--embedding-dim", "4", "--vocab-size", "50", *extra]


def test_an_identical_rerun_with_an_export_dir_reuses_every_step_and_pushes_nothing(
    tmp_path, aclimdb_dir
):
    serving = tmp_path / "serving"
    argv = tiny_run_args(f"aclimdb:{aclimdb_dir}", tmp_path / "out", "--export-dir", str(serving))
    argv += ["--accuracy-threshold", "0"]
    summaries = []
    for _ in range(2):
        assert main(argv) == 0
        summaries.append(json.loads((tmp_path / "out" / "run_summary.json").read_text()))
    first, second = summaries
    assert {step["status"] for step in first["steps"].values()} == {"succeeded"}
    assert {name: step["status"] for name, step in second["steps"].items()} == {
        name: "reused" for name in first["steps"]
    }
    assert [path.name for path in serving.iterdir()] == [Path(first["serving_model"]).name]
    # Each run reports its own folder, named by the id it chose.
    for summary in summaries:
        assert Path(summary["run_dir"]).parent.name == summary["run_id"]
    assert first["run_id"] != second["run_id"]


def test_killing_the_command_stops_its_step_processes(tmp_path, aclimdb_dir):
    command = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *tiny_run_args(f"aclimdb:{aclimdb_dir}", tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    steps = []
    deadline = time.monotonic() + 600
    while not steps and time.monotonic() < deadline and command.poll() is None:
        time.sleep(1)
        steps = [
            child
            for child in psutil.Process(command.pid).children(recursive=True)
            if "kfp.dsl.executor_main" in " ".join(child.cmdline())
        ]
    assert steps, "no step process started"
    command.send_signal(signal.SIGKILL)
    command.wait()
    _, alive = psutil.wait_procs(steps, timeout=60)
    assert not alive
