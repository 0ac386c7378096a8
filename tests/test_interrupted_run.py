"""`lstm-pipeline run` killed during training and run again ends as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.cli import main

EPOCHS, PATIENCE = 12, 2
KILL_AFTER_EPOCHS = 2


def run_argv(aclimdb_dir: Path, output_dir: Path) -> list[str]:
    """A tiny model that learns the generated reviews within a few epochs, so early stopping
    (on eval accuracy, which reaches its best and stays there) ends training well before
    EPOCHS."""
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--epochs", str(EPOCHS)]
    argv += ["--patience", str(PATIENCE), "--learning-rate", "0.01", "--batch-size", "16"]
    argv += ["--embedding-dim", "8", "--units", "8", "--dense-units", "8"]
    return [*argv, "--accuracy-threshold", "0", "--output-dir", str(output_dir)]


def kill_during_training(argv: list[str], output_dir: Path) -> dict:
    """Starts the command and SIGKILLs it and every process it started once training has
    checkpointed KILL_AFTER_EPOCHS epochs; returns the checkpoint's progress at the kill."""
    command = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Its own process group: the steps die with it.
    )
    try:
        while command.poll() is None:
            for progress_file in output_dir.glob("cache/train-*.checkpoint/progress.json"):
                progress = json.loads(progress_file.read_text())
                if len(progress["history"]["val_accuracy"]) >= KILL_AFTER_EPOCHS:
                    os.killpg(command.pid, signal.SIGKILL)
                    command.wait()
                    return json.loads(progress_file.read_text())
            time.sleep(0.05)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
    raise AssertionError(f"the run ended ({command.returncode}) before it could be killed")


def summary_of(output_dir: Path) -> dict:
    return json.loads((output_dir / "run_summary.json").read_text())


def trained_history(summary: dict) -> dict:
    (history_file,) = Path(summary["run_dir"]).glob("**/train-sentiment/**/history.json")
    history = json.loads(history_file.read_text())
    del history["per_epoch"]["epoch_seconds"]  # Wall-clock time, different in every run.
    return history


def test_a_run_killed_in_training_resumes_and_ends_as_an_uninterrupted_run(tmp_path, aclimdb_dir):
    interrupted_dir, whole_dir = tmp_path / "interrupted", tmp_path / "whole"
    argv = run_argv(aclimdb_dir, interrupted_dir)
    at_kill = kill_during_training(argv, interrupted_dir)
    epochs_at_kill = len(at_kill["history"]["val_accuracy"])
    assert not (interrupted_dir / "run_summary.json").exists() or (
        summary_of(interrupted_dir)["status"] != "succeeded"
    )

    assert main(argv) == 0  # The same command again.
    resumed = summary_of(interrupted_dir)
    assert resumed["status"] == "succeeded"
    assert resumed["steps"]["train"]["status"] == "succeeded"
    train_log = Path(resumed["steps"]["train"]["logs"][0]).read_text()
    assert f"train: resuming after epoch {epochs_at_kill} " in train_log
    history = trained_history(resumed)
    trained = len(history["per_epoch"]["val_accuracy"])
    # Early stopping fired after the resume, counting patience across the kill where the best
    # epoch came before it.
    assert epochs_at_kill < trained < EPOCHS
    assert trained == history["best_epoch"] + PATIENCE
    assert {name: values[:epochs_at_kill] for name, values in history["per_epoch"].items()} == {
        name: values for name, values in at_kill["history"].items() if name != "epoch_seconds"
    }

    assert main(run_argv(aclimdb_dir, whole_dir)) == 0
    whole = summary_of(whole_dir)
    assert trained_history(whole) == history
    assert whole["model"]["best_epoch"] == resumed["model"]["best_epoch"]
    assert whole["metrics"]["test"] == resumed["metrics"]["test"]
