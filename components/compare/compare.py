"""Compare: rank models trained side by side on the same transform output; pick the champion.

The champion is the model with the best eval-split accuracy. The test split is never looked at
here: choosing on it would make the test accuracy reported afterwards optimistic.

Outputs: `champion_dir`, a copy of the champion's model folder, and
`leaderboard_dir/leaderboard.json`, one row per model, best first.
"""

from __future__ import annotations

import logging

from components.common.io import atomic_directory, copy_tree, read_json, write_json
from components.train.train import MODEL_INFO_FILE

logger = logging.getLogger(__name__)

LEADERBOARD_FILE = "leaderboard.json"


def leaderboard(model_dirs: list[str]) -> list[dict]:
    """One row per trained model, best eval accuracy first; ties go to the smaller model."""
    rows = []
    for model_dir in model_dirs:
        info = read_json(f"{model_dir}/{MODEL_INFO_FILE}")
        rows.append(
            {
                "model_type": info["type"],
                "eval_accuracy": info["eval_accuracy"],
                "eval_loss": info["eval_loss"],
                "total_params": info["total_params"],
                "epochs_trained": info["epochs_trained"],
                "best_epoch": info["best_epoch"],
                "train_seconds": round(info["train_seconds"], 1),
                "model_dir": model_dir,
            }
        )
    # sorted() is stable, so equal models keep the order they were given in.
    return sorted(rows, key=lambda row: (-row["eval_accuracy"], row["total_params"]))


def run_compare(model_dirs: list[str], champion_dir: str, leaderboard_dir: str) -> dict:
    """Writes the leaderboard and a copy of the champion's model; returns the leaderboard."""
    if not model_dirs:
        raise ValueError("compare: no trained models to compare")
    rows = leaderboard(model_dirs)
    champion = rows[0]
    with atomic_directory(champion_dir) as staging:
        copy_tree(champion["model_dir"], staging)
    # Folders of one run's training steps mean nothing to a later reader of the leaderboard.
    public_rows = [{k: v for k, v in row.items() if k != "model_dir"} for row in rows]
    result = {
        "champion": champion["model_type"],
        "selected_by": "eval_accuracy",
        "models": public_rows,
    }
    with atomic_directory(leaderboard_dir) as staging:
        write_json(f"{staging}/{LEADERBOARD_FILE}", result)
    logger.info(
        "compare: champion %s (eval accuracy %.4f) of %s",
        champion["model_type"],
        champion["eval_accuracy"],
        ", ".join(f"{row['model_type']} {row['eval_accuracy']:.4f}" for row in rows),
    )
    return result
