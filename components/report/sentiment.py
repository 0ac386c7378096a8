"""The run report of sentiment: how good the model is, and where it fails.

Sections: the blessing, test metrics next to the n-gram baseline, the leaderboard, training
curves, the ROC curve and confusion matrix, the slices, data statistics of the transformed
splits (read with the transform graph's own feature spec), the most confident mistakes and
the model summary. data_stats.json holds the data statistics.
"""

from __future__ import annotations

import html

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from components.common import features as F
from components.common.artifacts import BASELINE_FILE, read_transform_config
from components.common.config import TransformConfig
from components.common.io import read_json, tfrecord_files
from components.common.tasks import SENTIMENT, TASKS
from components.common.transformed import transformed_feature_spec
from components.report.page import (
    HEAD_META,
    STYLE,
    RunResults,
    blessing_section,
    champion_description,
    png,
    read_results,
    table,
    training_curves_plot,
)

HISTOGRAM_BINS = 50
HISTOGRAM_MAX_TOKENS = 1000  # Longer reviews land in the last bin; a few run to 2,500 tokens.
READ_BATCH = 1024


def pretraining_sentence(pretraining: dict) -> str:
    """What the champion's pretrained encoder learned (pretrain.json), or nothing when off."""
    if not pretraining.get("tokens"):
        return ""
    at_start = pretraining["held_out_perplexity_at_start"]
    perplexities = ", ".join(
        f"{direction} {value:,.1f} (at start {at_start[direction]:,.1f})"
        for direction, value in pretraining["held_out_perplexity"].items()
    )
    return (
        f"<p>Its embedding and first recurrent layer were pretrained as a language model on "
        f"{pretraining['tokens']:,} tokens per direction in {pretraining['seconds']:,.0f} s; "
        f"held-out perplexity {perplexities}.</p>"
    )


def _transformed_batches(transformed_dir: str, split: str, feature_spec: dict) -> tf.data.Dataset:
    keys = (F.TOKEN_IDS_KEY, F.NUM_TOKENS_KEY, F.LABEL_KEY)
    feature_spec = {key: feature_spec[key] for key in keys}
    return (
        tf.data.TFRecordDataset(tfrecord_files(transformed_dir, split), compression_type="GZIP")
        .batch(READ_BATCH)
        .map(lambda records: tf.io.parse_example(records, feature_spec))
    )


def data_statistics(transformed_dir: str, transform_graph_dir: str) -> dict:
    """Per split: examples per label, token counts, share truncated, out-of-vocabulary rate.

    The out-of-vocabulary rate is over the ids the model sees (after truncation, without
    padding): the share of words it cannot tell apart. Read a batch at a time; of each review
    only its token count is kept (8 bytes, for the median).
    """
    feature_spec = transformed_feature_spec(transform_graph_dir)
    max_seq_len = int(feature_spec[F.TOKEN_IDS_KEY].shape[0])
    stats = {"max_seq_len": max_seq_len, "splits": {}}
    for split in F.SPLITS:
        lengths, per_label = [np.zeros(0, np.int64)], np.zeros(len(F.LABEL_NAMES), np.int64)
        kept_ids = oov_ids = 0
        for batch in _transformed_batches(transformed_dir, split, feature_spec):
            ids = batch[F.TOKEN_IDS_KEY].numpy()
            kept_ids += int((ids != F.PAD_ID).sum())
            oov_ids += int((ids == F.OOV_ID).sum())
            per_label += np.bincount(batch[F.LABEL_KEY].numpy(), minlength=len(F.LABEL_NAMES))
            lengths.append(batch[F.NUM_TOKENS_KEY].numpy())
        lengths = np.concatenate(lengths)
        counts, edges = np.histogram(
            np.minimum(lengths, HISTOGRAM_MAX_TOKENS), HISTOGRAM_BINS, (0, HISTOGRAM_MAX_TOKENS)
        )
        stats["splits"][split] = {
            "examples": len(lengths),
            "per_label": {name: int(per_label[i]) for i, name in enumerate(F.LABEL_NAMES)},
            "median_tokens": float(np.median(lengths)) if len(lengths) else 0.0,
            "mean_tokens": float(np.mean(lengths)) if len(lengths) else 0.0,
            "truncated_share": float(np.mean(lengths > max_seq_len)) if len(lengths) else 0.0,
            "oov_rate": oov_ids / kept_ids if kept_ids else 0.0,
            "length_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        }
    return stats


def roc_plot(roc: dict, auc: float) -> str:
    figure = Figure(figsize=(4.5, 4.5))
    axis = figure.subplots()
    axis.plot(roc["fpr"], roc["tpr"], label=f"model (AUC {auc:.4f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test split")
    axis.legend(loc="lower right")
    return png(figure, f"ROC curve of the test split, AUC {auc:.4f}")


def confusion_plot(matrix: list[list[int]]) -> str:
    figure = Figure(figsize=(4, 3.5))
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    for row in range(2):
        for column in range(2):
            count = matrix[row][column]
            # White on the dark half of the colour scale, black on the light half.
            colour = "white" if image.norm(count) > 0.5 else "black"
            axis.text(column, row, f"{count:,}", ha="center", va="center", color=colour)
    axis.set_xticks([0, 1], [f"predicted {name}" for name in F.LABEL_NAMES])
    axis.set_yticks([0, 1], [f"true {name}" for name in F.LABEL_NAMES])
    axis.set_title("confusion matrix, test split")
    cells = ", ".join(
        f"true {truth} predicted {predicted}: {matrix[row][column]:,}"
        for row, truth in enumerate(F.LABEL_NAMES)
        for column, predicted in enumerate(F.LABEL_NAMES)
    )
    return png(figure, f"confusion matrix of the test split ({cells})")


def length_histogram_plot(stats: dict) -> str:
    figure = Figure(figsize=(8, 3.5))
    axis = figure.subplots()
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
    return png(figure, "share of reviews per length in tokens, per split")


def render_report(
    stats: dict, results: RunResults, baseline: dict, transform_config: TransformConfig
) -> str:
    """The report page from the steps' results."""
    model_info, evaluation = results.model_info, results.evaluation
    metrics, base = evaluation["metrics"], baseline["metrics"]
    metric_names = TASKS[SENTIMENT].test_metrics
    comparison = table(
        ["model", *metric_names],
        [
            [f"{model_info['type']} (champion)", *(metrics[n] for n in metric_names)],
            [f"baseline: {baseline['model']}", *(base[n] for n in metric_names)],
        ],
    )
    board = table(
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
            for row in results.leaderboard["models"]
        ],
    )
    slices = table(
        ["slice", "reviews", "accuracy", "AUC", "mean P(positive)"],
        [
            [name, s["examples"], s["accuracy"], "-" if s["auc"] is None else s["auc"],
             s["mean_probability"]]
            for name, s in evaluation["slices"].items()
        ],
    )  # fmt: skip
    data = table(
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
    curves = training_curves_plot(results.history, ("loss", "accuracy"))
    return f"""<!DOCTYPE html>
<html><head>{HEAD_META}<title>Run report: {html.escape(model_info["type"])}</title>
<style>{STYLE}</style></head><body>
<h1>Run report</h1>
<p>Champion {champion_description(model_info)},
vocabulary {transform_config.vocab_size:,} ids, {stats["max_seq_len"]} ids a review.
Test accuracy <b>{metrics["accuracy"]:.4f}</b>, AUC <b>{metrics["auc"]:.4f}</b> on
{metrics["examples"]:,} raw test reviews, through the exported serving model.</p>
{pretraining_sentence(model_info.get("pretraining", {}))}
{blessing_section(evaluation)}
<h2>Against the baseline (test split)</h2>{comparison}
<h2>Leaderboard (chosen by eval-split accuracy)</h2>{board}
<h2>Training curves ({html.escape(model_info["type"])})</h2>{curves}
<h2>ROC curve and confusion matrix</h2>
{roc_plot(evaluation["roc_curve"], metrics["auc"])} {confusion_plot(metrics["confusion_matrix"])}
<h2>Slices (test split)</h2>{slices}
<h2>Data</h2>{data}{length_histogram_plot(stats)}
<h2>The {len(evaluation["confident_mistakes"])} most confident mistakes</h2>
{mistakes or "<p>None: every test review is classified correctly.</p>"}
<h2>Model</h2><pre>{html.escape(results.model_summary)}</pre>
</body></html>
"""


def sentiment_report(
    transformed_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    evaluation_dir: str,
    leaderboard_dir: str,
    baseline_dir: str,
) -> tuple[dict, str]:
    """The data statistics and the report page of a sentiment run."""
    stats = data_statistics(transformed_dir, transform_graph_dir)
    page = render_report(
        stats,
        read_results(model_dir, evaluation_dir, leaderboard_dir),
        read_json(f"{baseline_dir}/{BASELINE_FILE}"),
        read_transform_config(transform_graph_dir),
    )
    return stats, page
