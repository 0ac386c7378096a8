"""Training killed with SIGKILL mid-run resumes from its last finished epoch."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from components.common.artifacts import HISTORY_FILE
from components.common.io import read_json
from components.train.callbacks import PROGRESS_FILE

EPOCHS = 4
KILL_AFTER_EPOCH = 2

# Trains in a child process that SIGKILLs itself right after epoch KILL_AFTER_EPOCH is logged,
# which is after that epoch's checkpoint is written.
TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from components.common import logs
    from components.common.config import TrainConfig
    from components.train import train

    logs.configure()

    kill_after = int(sys.argv[5])  # Epochs ended in this process, of every member.
    if kill_after:
        logged = train.TrainingProgress.on_epoch_end
        ended = []

        def on_epoch_end(self, epoch, logs=None):
            logged(self, epoch, logs)
            ended.append(epoch)
            if len(ended) == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

        train.TrainingProgress.on_epoch_end = on_epoch_end
    config = TrainConfig(**json.loads(sys.argv[6]))
    train.run_train("sentiment", config, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
    """
)


def train_in_child(
    transformed, model_dir, checkpoint_dir, kill_after: int, dropout: float, members: int = 1
):
    config = {"epochs": EPOCHS, "patience": EPOCHS, "batch_size": 16, "embedding_dim": 4}
    config.update(units=4, dense_units=4, dropout=dropout, members=members)
    argv = [transformed["data"], transformed["graph"], str(model_dir), str(checkpoint_dir)]
    return subprocess.run(
        [sys.executable, "-c", TRAIN_SCRIPT, *argv, str(kill_after), json.dumps(config)],
        capture_output=True,
        text=True,
    )


# With dropout, each epoch's masks are random too: they must continue as if never interrupted.
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_sigkill_then_rerun_resumes_and_ends_as_an_uninterrupted_run_would(
    tmp_path, transformed, dropout
):
    model_dir, checkpoint_dir = tmp_path / "model", tmp_path / "checkpoint"
    killed = train_in_child(transformed, model_dir, checkpoint_dir, KILL_AFTER_EPOCH, dropout)
    assert killed.returncode == -signal.SIGKILL
    assert not model_dir.exists()  # Nothing half-written where the next step would look.
    progress = read_json(f"{checkpoint_dir}/{PROGRESS_FILE}")
    assert len(progress["history"]["val_accuracy"]) == KILL_AFTER_EPOCH

    resumed = train_in_child(transformed, model_dir, checkpoint_dir, 0, dropout)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming after epoch {KILL_AFTER_EPOCH}" in resumed.stderr
    logged_epochs = [line for line in resumed.stderr.splitlines() if "train: epoch " in line]
    assert [line.split("train: epoch ")[1].split()[0] for line in logged_epochs] == ["3/4", "4/4"]
    history = read_json(f"{model_dir}/{HISTORY_FILE}")
    assert len(history["per_epoch"]["val_accuracy"]) == EPOCHS
    # The first epochs' record survives the kill unchanged.
    for name, values in progress["history"].items():
        assert history["per_epoch"][name][:KILL_AFTER_EPOCH] == values
    assert not checkpoint_dir.exists()  # Cleared once the model is complete.

    uninterrupted_dir = tmp_path / "uninterrupted"
    whole = train_in_child(
        transformed, uninterrupted_dir, tmp_path / "whole-checkpoint", 0, dropout
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    # The same seed gives the same epochs: each epoch's batches depend on its number alone.
    uninterrupted = read_json(f"{uninterrupted_dir}/{HISTORY_FILE}")
    del uninterrupted["per_epoch"]["epoch_seconds"], history["per_epoch"]["epoch_seconds"]
    assert history == uninterrupted


def test_an_ensemble_killed_in_its_second_member_resumes_there_and_ends_as_uninterrupted(
    tmp_path, transformed
):
    model_dir, checkpoint_dir = tmp_path / "model", tmp_path / "checkpoint"
    # Killed after the first member's EPOCHS and the second's first epoch.
    killed = train_in_child(transformed, model_dir, checkpoint_dir, EPOCHS + 1, 0.4, members=2)
    assert killed.returncode == -signal.SIGKILL
    assert not model_dir.exists()

    resumed = train_in_child(transformed, model_dir, checkpoint_dir, 0, 0.4, members=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming after epoch {EPOCHS}" in resumed.stderr  # The first member, finished.
    assert "resuming after epoch 1" in resumed.stderr
    logged_epochs = [line for line in resumed.stderr.splitlines() if "train: epoch " in line]
    assert len(logged_epochs) == EPOCHS - 1  # Only the second member's remaining epochs.
    assert not checkpoint_dir.exists()

    uninterrupted_dir = tmp_path / "uninterrupted"
    whole = train_in_child(
        transformed, uninterrupted_dir, tmp_path / "whole-checkpoint", 0, 0.4, members=2
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    history, uninterrupted = (
        read_json(f"{folder}/{HISTORY_FILE}") for folder in (model_dir, uninterrupted_dir)
    )
    for record in (history, uninterrupted):
        for member in [record, *record["members"]]:
            del member["per_epoch"]["epoch_seconds"]
    assert history == uninterrupted
