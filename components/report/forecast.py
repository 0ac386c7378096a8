"""The run report of a forecast: how the champion does against persistence, and where.

Sections: the blessing, the test errors of the model and of persistence (and, for a sine, the
noise level), evaluate's plot of actual against forecast values over the test period, the
leaderboard, training curves, the windows of each period with the range of their scaled
targets (a test period outside the train range is where a model has nothing to go on), and the
model summary.

Output under `output_dir`: report.html and data_stats.json.
"""

from __future__ import annotations

import base64
import html
import logging

import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.io import atomic_directory, read_json, tfrecord_files, write_json
from components.compare.compare import LEADERBOARD_FILE
from components.evaluate.forecast import EVALUATION_FILE, PLOT_FILE
from components.report.report import (
    _STYLE,
    DATA_STATS_FILE,
    REPORT_FILE,
    _table,
    training_curves_plot,
)
from components.train.train import HISTORY_FILE, MODEL_INFO_FILE, MODEL_SUMMARY_FILE

logger = logging.getLogger(__name__)


def window_statistics(transformed_dir: str) -> dict:
    """Per period: windows, and the mean, spread and range of their scaled targets."""
    feature_spec = {F.TARGET_KEY: tf.io.FixedLenFeature([], tf.float32)}
    stats = {"splits": {}}
    for split in F.SPLITS:
        records = tf.data.TFRecordDataset(tfrecord_files(transformed_dir, split), "GZIP")
        batches = records.batch(4096).map(lambda r: tf.io.parse_example(r, feature_spec))
        targets = np.concatenate(
            [np.zeros(0, np.float32)] + [b[F.TARGET_KEY] for b in batches.as_numpy_iterator()]
        )
        split_stats = {"windows": len(targets)}
        for name, reduce in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
            split_stats[name] = float(reduce(targets)) if len(targets) else None
        stats["splits"][split] = split_stats
    # Transform refuses a train period too short for one window, so train has a range.
    train = stats["splits"]["train"]
    for split in ("eval", "test"):
        split_stats = stats["splits"][split]
        split_stats["outside_train_range"] = bool(split_stats["windows"]) and (
            split_stats["min"] < train["min"] or split_stats["max"] > train["max"]
        )
    return stats


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def render_forecast_report(
    stats: dict,
    history: dict,
    model_info: dict,
    model_summary: str,
    evaluation: dict,
    leaderboard: dict,
    plot_png: bytes,
) -> str:
    """The report page of a forecast from the steps' results."""
    metrics, persistence = evaluation["metrics"], evaluation["metrics"]["persistence"]
    decision = "blessed" if evaluation["blessed"] else "not blessed"
    reasons = "".join(
        f"<li>{html.escape(reason)}</li>" for reason in evaluation["blessing_reason"].split("; ")
    )
    errors = _table(
        ["forecast", "RMSE", "MAE", "MAPE %"],
        [
            [label, *(_number(values[name]) for name in ("rmse", "mae", "mape"))]
            for label, values in (
                (f"{model_info['type']} (champion)", metrics),
                ("persistence (the last value)", persistence),
            )
        ],
    )
    skill = metrics["skill_vs_persistence"]
    verdict = (
        f"The model's test RMSE is {metrics['rmse_vs_persistence']:.3f} times persistence's: "
        + ("it beats persistence." if skill > 0 else "it does <b>not</b> beat persistence.")
    )
    if metrics["noise_std"]:
        verdict += (
            f" The series' noise has standard deviation {metrics['noise_std']:g}, the RMSE no "
            f"forecast can expect to beat; the model's is {metrics['rmse_vs_noise']:.2f} times it."
        )
    eval_metrics = [name for name in leaderboard["models"][0] if name.startswith("eval_")]
    board = _table(
        ["model", *(name.replace("_", " ") for name in eval_metrics), "parameters", "epochs"]
        + ["best epoch", "seconds"],
        [
            [row["model_type"], *(row[name] for name in eval_metrics), row["total_params"]]
            + [row["epochs_trained"], row["best_epoch"], f"{row['train_seconds']:.1f}"]
            for row in leaderboard["models"]
        ],
    )
    data = _table(
        ["period", "windows", "target mean", "target std", "target min", "target max"],
        [
            [split, s["windows"], *(_number(s[n], 3) for n in ("mean", "std", "min", "max"))]
            for split, s in stats["splits"].items()
        ],
    )
    outside = [s for s in ("eval", "test") if stats["splits"][s]["outside_train_range"]]
    shift = (
        f"<p>Scaled targets of the {' and '.join(outside)} period go outside the train "
        "period's range: there the model extrapolates.</p>"
        if outside
        else ""
    )
    window = model_info["window_config"]
    plot = base64.b64encode(plot_png).decode("ascii")
    name = html.escape(model_info["type"])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Forecast report: {name}</title>
<style>{_STYLE}</style></head><body>
<h1>Forecast report</h1>
<p>Champion <b>{name}</b> ({model_info["total_params"]:,} parameters), forecasting
{window["horizon"]} step(s) ahead from the last {window["lookback"]} values, {window["scaling"]}
scaling from the train period. Test RMSE <b>{metrics["rmse"]:.4g}</b> over {metrics["windows"]:,}
test windows, through the exported serving model, in the series' units.</p>
<h2>Blessing: <span class="{decision.replace(" ", "-")}">{decision}</span></h2><ul>{reasons}</ul>
<h2>Against persistence (test period)</h2>{errors}<p>{verdict}</p>
<h2>Actual and forecast values (test period)</h2>
<img alt="actual and forecast values over the test period" src="data:image/png;base64,{plot}">
<h2>Leaderboard (chosen by {html.escape(leaderboard["selected_by"].replace("_", " "))})</h2>
{board}
<h2>Training curves ({name})</h2>{training_curves_plot(history, ("loss", "rmse"))}
<h2>Data: windows per period, scaled targets</h2>{data}{shift}
<h2>Model</h2><pre>{html.escape(model_summary)}</pre>
</body></html>
"""


def run_forecast_report(
    transformed_dir: str,
    model_dir: str,
    evaluation_dir: str,
    leaderboard_dir: str,
    output_dir: str,
) -> str:
    """Writes report.html and data_stats.json under `output_dir`; returns the report's path."""
    stats = window_statistics(transformed_dir)
    with tf.io.gfile.GFile(f"{model_dir}/{MODEL_SUMMARY_FILE}") as summary_file:
        model_summary = summary_file.read()
    with tf.io.gfile.GFile(f"{evaluation_dir}/{PLOT_FILE}", "rb") as plot_file:
        plot_png = plot_file.read()
    page = render_forecast_report(
        stats,
        read_json(f"{model_dir}/{HISTORY_FILE}"),
        read_json(f"{model_dir}/{MODEL_INFO_FILE}"),
        model_summary,
        read_json(f"{evaluation_dir}/{EVALUATION_FILE}"),
        read_json(f"{leaderboard_dir}/{LEADERBOARD_FILE}"),
        plot_png,
    )
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{DATA_STATS_FILE}", stats)
        with tf.io.gfile.GFile(f"{staging}/{REPORT_FILE}", "w") as report_file:
            report_file.write(page)
    logger.info("report: %s/%s", output_dir, REPORT_FILE)
    return f"{output_dir}/{REPORT_FILE}"
