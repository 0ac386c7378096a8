"""What the report pages of every task share: the results they read, style, tables, plots.

Plots are matplotlib Figures rendered to PNG with the Agg canvas directly, so no backend is
chosen and pyplot's global state is never touched.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from components.common.artifacts import (
    DATA_STATS_FILE,
    EVALUATION_FILE,
    HISTORY_FILE,
    LEADERBOARD_FILE,
    MODEL_INFO_FILE,
    MODEL_SUMMARY_FILE,
    REPORT_FILE,
)
from components.common.io import atomic_directory, read_json, write_json

# Readable on a phone: the page scales to the screen, images shrink to it, tables scroll.
HEAD_META = (
    '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
)
STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; }
img { max-width: 100%; height: auto; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.mistake { border-left: 4px solid #c33; padding-left: 0.8em; margin-bottom: 1em; }
.blessed { color: #080; } .not-blessed { color: #b00; }
"""


@dataclass(frozen=True)
class RunResults:
    """What the champion's train, compare and evaluate steps wrote, as a report reads it."""

    history: dict
    model_info: dict
    model_summary: str
    evaluation: dict
    leaderboard: dict


def read_results(model_dir: str, evaluation_dir: str, leaderboard_dir: str) -> RunResults:
    with tf.io.gfile.GFile(f"{model_dir}/{MODEL_SUMMARY_FILE}") as summary_file:
        model_summary = summary_file.read()
    return RunResults(
        history=read_json(f"{model_dir}/{HISTORY_FILE}"),
        model_info=read_json(f"{model_dir}/{MODEL_INFO_FILE}"),
        model_summary=model_summary,
        evaluation=read_json(f"{evaluation_dir}/{EVALUATION_FILE}"),
        leaderboard=read_json(f"{leaderboard_dir}/{LEADERBOARD_FILE}"),
    )


def png(figure: Figure, alt: str) -> str:
    """The figure as an embedded image, `alt` saying what it shows."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return png_image(buffer.getvalue(), alt)


def png_image(content: bytes, alt: str) -> str:
    encoded = base64.b64encode(content).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int):
            return f"{value:,}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    # In a box of its own that scrolls sideways: a wide table never widens a phone's page.
    return f'<div class="wide"><table><tr>{head}</tr>{body}</table></div>'


def blessing_section(evaluation: dict) -> str:
    """The blessing decision and a line per reason."""
    decision = "blessed" if evaluation["blessed"] else "not blessed"
    reasons = "".join(
        f"<li>{html.escape(reason)}</li>" for reason in evaluation["blessing_reason"].split("; ")
    )
    return (
        f'<h2>Blessing: <span class="{decision.replace(" ", "-")}">{decision}</span></h2>'
        f"<ul>{reasons}</ul>"
    )


def champion_description(model_info: dict) -> str:
    """The champion's type and size, and its members' seeds where it is an ensemble (HTML)."""
    members = model_info.get("members", [])
    ensemble = (
        f", an ensemble of {len(members)} trained with seeds "
        + ", ".join(str(member["seed"]) for member in members)
        if members
        else ""
    )
    return (
        f"<b>{html.escape(model_info['type'])}</b> "
        f"({model_info['total_params']:,} parameters{ensemble})"
    )


def training_curves(history: dict, metric: str) -> list[tuple[str, list[float]]]:
    """(label, per-epoch values) of `metric` on train and eval; of an ensemble, each member's,
    its label naming the member's seed."""
    curves = []
    for training in history.get("members", [history]):
        seed = f", seed {training['seed']}" if "seed" in training else ""
        curves.append((f"train{seed}", training["per_epoch"][metric]))
        curves.append((f"eval{seed}", training["per_epoch"][f"val_{metric}"]))
    return curves


def training_curves_plot(history: dict, metrics: tuple[str, str]) -> str:
    figure = Figure(figsize=(10, 3.5))
    for axis, metric in zip(figure.subplots(1, 2), metrics, strict=True):
        for label, values in training_curves(history, metric):
            axis.plot(np.arange(1, len(values) + 1), values, "o-", label=label)
        best_epoch = history["best_epoch"]
        best = "best epoch" + (" (first member)" if "members" in history else "")
        axis.axvline(best_epoch, color="grey", linestyle=":", label=f"{best} ({best_epoch})")
        axis.set(xlabel="epoch", ylabel=metric, title=f"{metric} per epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # Whole epochs.
        axis.legend()
    return png(figure, f"{' and '.join(metrics)} per epoch on train and eval")


def write_report(output_dir: str, stats: dict, page: str) -> str:
    """Writes report.html and data_stats.json under `output_dir`; returns the report's path."""
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{DATA_STATS_FILE}", stats)
        with tf.io.gfile.GFile(f"{staging}/{REPORT_FILE}", "w") as report_file:
            report_file.write(page)
    return f"{output_dir}/{REPORT_FILE}"
