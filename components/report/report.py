"""Report: one self-contained HTML page that says how good the model is, and where it fails.

It gathers what the other steps wrote: data statistics of the transformed splits, the champion's
training curves and summary, the leaderboard, test metrics next to the n-gram baseline, the
slices, the ROC curve and confusion matrix, the most confident mistakes and the blessing
decision. Plots are matplotlib PNGs embedded in the page, so the one file is the whole report.

Output under `output_dir`: report.html and data_stats.json. A forecast's report is forecast.py's.
"""

from __future__ import annotations

import base64
import html
import io
import logging

import matplotlib

matplotlib.use("Agg")  # Steps run headless.
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend.
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.baseline.baseline import BASELINE_FILE  # noqa: E402
from components.common import features as F  # noqa: E402
from components.common.config import FORECAST, SENTIMENT  # noqa: E402
from components.common.io import (  # noqa: E402
    atomic_directory,
    read_json,
    tfrecord_files,
    write_json,
)
from components.compare.compare import LEADERBOARD_FILE  # noqa: E402
from components.evaluate.evaluate import EVALUATION_FILE  # noqa: E402
from components.train.train import HISTORY_FILE, MODEL_INFO_FILE, MODEL_SUMMARY_FILE  # noqa: E402

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
DATA_STATS_FILE = "data_stats.json"
HISTOGRAM_BINS = 50
HISTOGRAM_MAX_TOKENS = 1000  # Longer reviews land in the last bin; a few run to 2,500 tokens.


def _transformed_columns(transformed_dir: str, split: str, max_seq_len: int) -> dict:
    feature_spec = {
        F.TOKEN_IDS_KEY: tf.io.FixedLenFeature([max_seq_len], tf.int64),
        F.NUM_TOKENS_KEY: tf.io.FixedLenFeature([], tf.int64),
        F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    dataset = (
        tf.data.TFRecordDataset(tfrecord_files(transformed_dir, split), compression_type="GZIP")
        .batch(1024)
        .map(lambda records: tf.io.parse_example(records, feature_spec))
    )
    batches = list(dataset.as_numpy_iterator())
    return {key: np.concatenate([batch[key] for batch in batches]) for key in feature_spec}


def data_statistics(transformed_dir: str, max_seq_len: int) -> dict:
    """Per split: examples per label, token counts, share truncated, out-of-vocabulary rate.

    The out-of-vocabulary rate is over the ids the model sees (after truncation, without
    padding): the share of words it cannot tell apart.
    """
    stats = {"max_seq_len": max_seq_len, "splits": {}}
    for split in F.SPLITS:
        columns = _transformed_columns(transformed_dir, split, max_seq_len)
        ids, lengths, labels = (
            columns[F.TOKEN_IDS_KEY],
            columns[F.NUM_TOKENS_KEY],
            columns[F.LABEL_KEY],
        )
        kept_ids = int((ids != F.PAD_ID).sum())
        counts, edges = np.histogram(
            np.minimum(lengths, HISTOGRAM_MAX_TOKENS), HISTOGRAM_BINS, (0, HISTOGRAM_MAX_TOKENS)
        )
        stats["splits"][split] = {
            "examples": len(labels),
            "per_label": {name: int((labels == i).sum()) for i, name in enumerate(F.LABEL_NAMES)},
            "median_tokens": float(np.median(lengths)) if len(lengths) else 0.0,
            "mean_tokens": float(np.mean(lengths)) if len(lengths) else 0.0,
            "truncated_share": float(np.mean(lengths > max_seq_len)) if len(lengths) else 0.0,
            "oov_rate": float((ids == F.OOV_ID).sum() / kept_ids) if kept_ids else 0.0,
            "length_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        }
    return stats


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{encoded}">'


def training_curves_plot(history: dict, metrics: tuple[str, str] = ("loss", "accuracy")) -> str:
    per_epoch, best_epoch = history["per_epoch"], history["best_epoch"]
    epochs = np.arange(1, len(per_epoch["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, metric in zip(axes, metrics, strict=True):
        axis.plot(epochs, per_epoch[metric], "o-", label="train")
        axis.plot(epochs, per_epoch[f"val_{metric}"], "o-", label="eval")
        axis.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        axis.set(xlabel="epoch", ylabel=metric, title=f"{metric} per epoch")
        axis.legend()
    return _png(figure)


def roc_plot(roc: dict, auc: float) -> str:
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot(roc["fpr"], roc["tpr"], label=f"model (AUC {auc:.4f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test split")
    axis.legend(loc="lower right")
    return _png(figure)


def confusion_plot(matrix: list[list[int]]) -> str:
    figure, axis = plt.subplots(figsize=(4, 3.5))
    axis.imshow(matrix, cmap="Blues")
    for row in range(2):
        for column in range(2):
            axis.text(column, row, f"{matrix[row][column]:,}", ha="center", va="center")
    axis.set_xticks([0, 1], [f"predicted {name}" for name in F.LABEL_NAMES])
    axis.set_yticks([0, 1], [f"true {name}" for name in F.LABEL_NAMES])
    axis.set_title("confusion matrix, test split")
    return _png(figure)


def length_histogram_plot(stats: dict) -> str:
    figure, axis = plt.subplots(figsize=(8, 3.5))
    for split, split_stats in stats["splits"].items():
        histogram = split_stats["length_histogram"]
        shares = np.asarray(histogram["counts"]) / max(split_stats["examples"], 1)
        axis.stairs(shares, histogram["edges"], label=split)
    axis.axvline(stats["max_seq_len"], color="black", linestyle=":", label="sequence length")
    axis.set(
        xlabel=f"tokens per review (last bin: {HISTOGRAM_MAX_TOKENS} or more)",
        ylabel="share of reviews",
        title="review length",
    )
    axis.legend()
    return _png(figure)


def _table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int):
            return f"{value:,}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.mistake { border-left: 4px solid #c33; padding-left: 0.8em; margin-bottom: 1em; }
.blessed { color: #080; } .not-blessed { color: #b00; }
"""


def render_report(
    stats: dict,
    history: dict,
    model_info: dict,
    model_summary: str,
    evaluation: dict,
    baseline: dict,
    leaderboard: dict,
) -> str:
    """The report page from the steps' results."""
    metrics, base = evaluation["metrics"], baseline["metrics"]
    decision = "blessed" if evaluation["blessed"] else "not blessed"
    reasons = "".join(
        f"<li>{html.escape(reason)}</li>" for reason in evaluation["blessing_reason"].split("; ")
    )
    metric_names = ("accuracy", "auc", "precision", "recall", "f1", "loss")
    comparison = _table(
        ["model", *metric_names],
        [
            [f"{model_info['type']} (champion)", *(metrics[n] for n in metric_names)],
            [f"baseline: {baseline['model']}", *(base[n] for n in metric_names)],
        ],
    )
    board = _table(
        ["model", "eval accuracy", "eval loss", "parameters", "epochs", "best epoch", "seconds"],
        [
            [
                row["model_type"],
                row["eval_accuracy"],
                row["eval_loss"],
                row["total_params"],
                row["epochs_trained"],
                row["best_epoch"],
                f"{row['train_seconds']:.1f}",
            ]
            for row in leaderboard["models"]
        ],
    )
    slices = _table(
        ["slice", "reviews", "accuracy", "AUC", "mean P(positive)"],
        [
            [name, s["examples"], s["accuracy"], "-" if s["auc"] is None else s["auc"],
             s["mean_probability"]]
            for name, s in evaluation["slices"].items()
        ],
    )  # fmt: skip
    data = _table(
        ["split", "reviews", *F.LABEL_NAMES, "median tokens", "truncated", "OOV rate"],
        [
            [
                split,
                s["examples"],
                *(s["per_label"][name] for name in F.LABEL_NAMES),
                f"{s['median_tokens']:.0f}",
                f"{s['truncated_share']:.1%}",
                f"{s['oov_rate']:.2%}",
            ]
            for split, s in stats["splits"].items()
        ],
    )
    mistakes = "".join(
        f'<div class="mistake"><b>true {html.escape(m["label"])}, '
        f"P(positive) = {m['probability_positive']:.4f}</b><br>{html.escape(m['text'])}</div>"
        for m in evaluation["confident_mistakes"]
    )
    transform = model_info["transform_config"]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Run report: {html.escape(model_info["type"])}</title>
<style>{_STYLE}</style></head><body>
<h1>Run report</h1>
<p>Champion <b>{html.escape(model_info["type"])}</b> ({model_info["total_params"]:,} parameters),
vocabulary {transform["vocab_size"]:,} ids, {transform["max_seq_len"]} ids a review.
Test accuracy <b>{metrics["accuracy"]:.4f}</b>, AUC <b>{metrics["auc"]:.4f}</b> on
{metrics["examples"]:,} raw test reviews, through the exported serving model.</p>
<h2>Blessing: <span class="{decision.replace(" ", "-")}">{decision}</span></h2><ul>{reasons}</ul>
<h2>Against the baseline (test split)</h2>{comparison}
<h2>Leaderboard (chosen by eval-split accuracy)</h2>{board}
<h2>Training curves ({html.escape(model_info["type"])})</h2>{training_curves_plot(history)}
<h2>ROC curve and confusion matrix</h2>
{roc_plot(evaluation["roc_curve"], metrics["auc"])} {confusion_plot(metrics["confusion_matrix"])}
<h2>Slices (test split)</h2>{slices}
<h2>Data</h2>{data}{length_histogram_plot(stats)}
<h2>The {len(evaluation["confident_mistakes"])} most confident mistakes</h2>
{mistakes or "<p>None: every test review is classified correctly.</p>"}
<h2>Model</h2><pre>{html.escape(model_summary)}</pre>
</body></html>
"""


def run_report(
    transformed_dir: str,
    model_dir: str,
    evaluation_dir: str,
    baseline_dir: str,
    leaderboard_dir: str,
    output_dir: str,
    task: str = SENTIMENT,
) -> str:
    """Writes report.html and data_stats.json under `output_dir`; returns the report's path."""
    if task == FORECAST:
        from components.report.forecast import run_forecast_report

        # Persistence, evaluate's yardstick, stands in for the n-gram baseline.
        return run_forecast_report(
            transformed_dir, model_dir, evaluation_dir, leaderboard_dir, output_dir
        )
    model_info = read_json(f"{model_dir}/{MODEL_INFO_FILE}")
    stats = data_statistics(transformed_dir, model_info["transform_config"]["max_seq_len"])
    with tf.io.gfile.GFile(f"{model_dir}/{MODEL_SUMMARY_FILE}") as summary_file:
        model_summary = summary_file.read()
    page = render_report(
        stats,
        read_json(f"{model_dir}/{HISTORY_FILE}"),
        model_info,
        model_summary,
        read_json(f"{evaluation_dir}/{EVALUATION_FILE}"),
        read_json(f"{baseline_dir}/{BASELINE_FILE}"),
        read_json(f"{leaderboard_dir}/{LEADERBOARD_FILE}"),
    )
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{DATA_STATS_FILE}", stats)
        with tf.io.gfile.GFile(f"{staging}/{REPORT_FILE}", "w") as report_file:
            report_file.write(page)
    logger.info("report: %s/%s", output_dir, REPORT_FILE)
    return f"{output_dir}/{REPORT_FILE}"
