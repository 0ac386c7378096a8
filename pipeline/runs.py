"""`lstm-pipeline runs`: the runs under an output folder side by side, newest first.

Each local run leaves its summary in its own run folder
(`artifacts/<run id>/<pipeline run>/run_summary.json`), so the runs of a few configurations
compare without opening JSON files by hand.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from typing import TextIO

RUN_SUMMARY_PATTERN = os.path.join("artifacts", "*", "*", "run_summary.json")
COLUMNS = ("started", "task", "model", "test", "baseline", "blessed", "seconds", "status", "report")


def _test_score(summary: dict) -> str:
    """The champion's headline test metric: accuracy for sentiment, RMSE for a forecast."""
    metrics = summary.get("metrics", {}).get("test", {})
    for name in ("accuracy", "rmse"):
        if name in metrics:
            return f"{name} {metrics[name]:.4f}"
    return "-"


def _baseline_score(summary: dict) -> str:
    metrics = (summary.get("baseline") or {}).get("metrics", {})
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.4f}"
    persistence = summary.get("metrics", {}).get("test", {}).get("persistence", {})
    if "rmse" in persistence:
        return f"persistence rmse {persistence['rmse']:.4f}"
    return "-"


def run_row(summary: dict) -> dict[str, str]:
    """One run as the table shows it."""
    config = summary.get("config", {})
    blessed = summary.get("blessed")
    return {
        "started": summary.get("started", "-"),
        "task": config.get("task", {}).get("task", "-"),
        "model": summary.get("model", {}).get("type")
        or config.get("train", {}).get("model_type", "-"),
        "test": _test_score(summary),
        "baseline": _baseline_score(summary),
        "blessed": "-" if blessed is None else ("yes" if blessed else "no"),
        "seconds": f"{summary.get('seconds', 0):.0f}",
        "status": summary.get("status", "-"),
        "report": summary.get("report") or "-",
    }


def find_runs(output_dir: str) -> list[dict]:
    """The summaries of the runs under `output_dir`, newest first."""
    summaries = []
    for path in glob.glob(os.path.join(glob.escape(output_dir), RUN_SUMMARY_PATTERN)):
        with open(path, encoding="utf-8") as summary_file:
            summaries.append(json.load(summary_file))
    return sorted(summaries, key=lambda s: s.get("started", ""), reverse=True)


def print_runs(output_dir: str, out: TextIO | None = None) -> int:
    """Prints the runs as aligned columns, the report path last and whole; returns how many.
    `out` is sys.stdout as it is at the call, not at import (tests and callers replace it)."""
    out = out or sys.stdout
    runs = find_runs(output_dir)
    if not runs:
        out.write(f"no runs under {output_dir}\n")
        return 0
    rows = [dict(zip(COLUMNS, COLUMNS, strict=True))] + [run_row(summary) for summary in runs]
    widths = {column: max(len(row[column]) for row in rows) for column in COLUMNS[:-1]}
    for row in rows:
        cells = [row[column].ljust(widths[column]) for column in COLUMNS[:-1]]
        out.write("  ".join([*cells, row[COLUMNS[-1]]]) + "\n")
    return len(runs)
