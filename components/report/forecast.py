"""The run report of a forecast: how the champion does against persistence, and where.

Sections: the blessing, the test errors of the model and of persistence (and, for a sine, the
noise level), evaluate's plot of actual against forecast values over the test period, the
leaderboard, training curves, the windows of each period with the range of their scaled
targets (a test period outside the train range is where a model has nothing to go on), and the
model summary.

data_stats.json holds the window statistics.
"""

from __future__ import annotations

import html

import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import PLOT_FILE, read_window_config
from components.common.config import WindowConfig
from components.common.io import tfrecord_files
from components.common.transformed import window_feature_spec
from components.report.page import (
    HEAD_META,
    STYLE,
    RunResults,
    blessing_section,
    champion_description,
    png_image,
    read_results,
    table,
    training_curves_plot,
)


def window_statistics(transformed_dir: str, lookback: int) -> dict:
    """Per period: windows, and the mean, spread and range of their scaled targets."""
    feature_spec = {F.TARGET_KEY: window_feature_spec(lookback)[F.TARGET_KEY]}
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
    stats: dict, results: RunResults, window: WindowConfig, plot_png: bytes
) -> str:
    """The report page of a forecast from the steps' results."""
    model_info, evaluation = results.model_info, results.evaluation
    leaderboard = results.leaderboard
    metrics, persistence = evaluation["metrics"], evaluation["metrics"]["persistence"]
    errors = table(
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
    board = table(
        ["model", *(name.replace("_", " ") for name in eval_metrics), "parameters", "epochs"]
        + ["best epoch", "seconds"],
        [
            [row["model_type"], *(row[name] for name in eval_metrics), row["total_params"]]
            + [row["epochs_trained"], row["best_epoch"], f"{row['train_seconds']:.1f}"]
            for row in leaderboard["models"]
        ],
    )
    data = table(
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
    plot = png_image(plot_png, "actual and forecast values over the test period")
    name = html.escape(model_info["type"])
    curves = training_curves_plot(results.history, ("loss", "rmse"))
    return f"""<!DOCTYPE html>
<html><head>{HEAD_META}<title>Forecast report: {name}</title>
<style>{STYLE}</style></head><body>
<h1>Forecast report</h1>
<p>Champion {champion_description(model_info)}, forecasting
{window.horizon} step(s) ahead from the last {window.lookback} values, {window.scaling}
scaling from the train period. Test RMSE <b>{metrics["rmse"]:.4g}</b> over {metrics["windows"]:,}
test windows, through the exported serving model, in the series' units.</p>
{blessing_section(evaluation)}
<h2>Against persistence (test period)</h2>{errors}<p>{verdict}</p>
<h2>Actual and forecast values (test period)</h2>
{plot}
<h2>Leaderboard (chosen by {html.escape(leaderboard["selected_by"].replace("_", " "))})</h2>
{board}
<h2>Training curves ({name})</h2>{curves}
<h2>Data: windows per period, scaled targets</h2>{data}{shift}
<h2>Model</h2><pre>{html.escape(results.model_summary)}</pre>
</body></html>
"""


def forecast_report(
    transformed_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    evaluation_dir: str,
    leaderboard_dir: str,
) -> tuple[dict, str]:
    """The window statistics and the report page of a forecast run."""
    window = read_window_config(transform_graph_dir)
    stats = window_statistics(transformed_dir, window.lookback)
    with tf.io.gfile.GFile(f"{evaluation_dir}/{PLOT_FILE}", "rb") as plot_file:
        plot_png = plot_file.read()
    results = read_results(model_dir, evaluation_dir, leaderboard_dir)
    return stats, render_forecast_report(stats, results, window, plot_png)
