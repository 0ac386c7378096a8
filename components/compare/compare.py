"""Compare: rank models trained side by side on the same transform output; pick the champion.

The champion is the model with the best eval-split accuracy (for a forecast: the lowest eval
loss, the mean squared error). The test split is never looked at here: choosing on it would
make the test metrics reported afterwards optimistic.

Outputs: `champion_dir`, a copy of the champion's model folder, and
`leaderboard_dir/leaderboard.json`, one row per model, best first.
"""

from __future__ import annotations

import logging

from components.common.config import FORECAST, SENTIMENT
from components.common.io import atomic_directory, copy_tree, read_json, write_json
from components.train.train import MODEL_INFO_FILE

logger = logging.getLogger(__name__)

LEADERBOARD_FILE = "leaderboard.json"
# Per task, the eval metric that picks the champion and whether higher is better.
SELECTION = {SENTIMENT: ("eval_accuracy", True), FORECAST: ("eval_loss", False)}


def leaderboard(model_dirs: list[str], task: str = SENTIMENT) -> list[dict]:
    """One row per trained model, best first by the task's eval metric; ties go to the smaller
    model."""
    metric, higher_is_better = SELECTION[task]
    rows = []
    for model_dir in model_dirs:
        info = read_json(f"{model_dir}/{MODEL_INFO_FILE}")
        rows.append(
            {
                "model_type": info["type"],
                **{name: value for name, value in info.items() if name.startswith("eval_")},
                "total_params": info["total_params"],
                "epochs_trained": info["epochs_trained"],
                "best_epoch": info["best_epoch"],
                "train_seconds": round(info["train_seconds"], 1),
                "model_dir": model_dir,
            }
        )
    sign = -1 if higher_is_better else 1
    # sorted() is stable, so equal models keep the order they were given in.
    return sorted(rows, key=lambda row: (sign * row[metric], row["total_params"]))


def run_compare(
    model_dirs: list[str], champion_dir: str, leaderboard_dir: str, task: str = SENTIMENT
) -> dict:
    """Writes the leaderboard and a copy of the champion's model; returns the leaderboard."""
    if not model_dirs:
        raise ValueError("compare: no trained models to compare")
    metric = SELECTION[task][0]
    rows = leaderboard(model_dirs, task)
    champion = rows[0]
    with atomic_directory(champion_dir) as staging:
        copy_tree(champion["model_dir"], staging)
    # Folders of one run's training steps mean nothing to a later reader of the leaderboard.
    public_rows = [{k: v for k, v in row.items() if k != "model_dir"} for row in rows]
    result = {
        "champion": champion["model_type"],
        "selected_by": metric,
        "models": public_rows,
    }
    with atomic_directory(leaderboard_dir) as staging:
        write_json(f"{staging}/{LEADERBOARD_FILE}", result)
    logger.info(
        "compare: champion %s (%s %.4f) of %s",
        champion["model_type"],
        metric,
        champion[metric],
        ", ".join(f"{row['model_type']} {row[metric]:.4f}" for row in rows),
    )
    return result
