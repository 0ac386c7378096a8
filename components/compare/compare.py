"""Compare: rank models trained side by side on the same transform output; pick the champion.

The champion is the model with the best value of the task's selection metric on the eval split
(components/common/tasks.py: sentiment, the highest eval accuracy; forecast, the lowest eval
loss, the mean squared error). The test split is never looked at here: choosing on it would
make the test metrics reported afterwards optimistic.

Outputs: `champion_dir`, a copy of the champion's model folder, and
`leaderboard_dir/leaderboard.json`, one row per model, best first.
"""

from __future__ import annotations

import logging

from components.common.artifacts import LEADERBOARD_FILE, MODEL_INFO_FILE
from components.common.io import atomic_directory, copy_tree, read_json, write_json
from components.common.tasks import TASKS

logger = logging.getLogger(__name__)


def leaderboard(task: str, model_dirs: list[str]) -> list[dict]:
    """One row per trained model, best first by the task's selection metric; ties go to the
    smaller model."""
    spec = TASKS[task]
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
    sign = -1 if spec.higher_is_better else 1
    metric = spec.selection_metric
    # sorted() is stable, so equal models keep the order they were given in.
    return sorted(rows, key=lambda row: (sign * row[metric], row["total_params"]))


def run_compare(task: str, model_dirs: list[str], champion_dir: str, leaderboard_dir: str) -> dict:
    """Writes the leaderboard and a copy of the champion's model; returns the leaderboard."""
    if not model_dirs:
        raise ValueError("compare: no trained models to compare")
    metric = TASKS[task].selection_metric
    rows = leaderboard(task, model_dirs)
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
