import html
import re
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.baseline.baseline import run_baseline
from components.common.artifacts import (
    BASELINE_FILE,
    COUNTS_FILE,
    DATA_STATS_FILE,
    EVALUATION_FILE,
    LEADERBOARD_FILE,
    REPORT_FILE,
)
from components.common.config import EvaluateConfig
from components.common.io import read_json
from components.common.tasks import SENTIMENT, TASKS
from components.compare.compare import run_compare
from components.evaluate.evaluate import run_evaluate
from components.report import sentiment
from components.report.page import champion_description, training_curves
from components.report.report import run_report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, ingested_dir, transformed, trained_model_dir) -> str:
    work = tmp_path_factory.mktemp("report")
    champion, board = str(work / "champion"), str(work / "leaderboard")
    run_compare(SENTIMENT, [trained_model_dir], champion, board)
    evaluation, baseline = str(work / "evaluation"), str(work / "baseline")
    run_evaluate(
        SENTIMENT, EvaluateConfig(), ingested_dir, transformed["graph"], champion, evaluation
    )
    run_baseline(ingested_dir, baseline, seed=1)
    output = str(work / "report")
    run_report(
        SENTIMENT,
        transformed["data"],
        transformed["graph"],
        champion,
        evaluation,
        board,
        output,
        baseline_dir=baseline,
    )
    return output


def test_report_has_every_section_with_real_plots(report_dir):
    page = open(f"{report_dir}/report.html", encoding="utf-8").read()
    for section in (
        "Blessing:",
        "Against the baseline",
        "Leaderboard",
        "Training curves",
        "ROC curve and confusion matrix",
        "Slices",
        "Data",
        "Model",
    ):
        assert f"<h2>{section}" in page, section
    assert re.search(r"<h2>The \d+ most confident mistakes</h2>", page)
    # Training curves, ROC, confusion matrix and length histogram, as embedded PNG images.
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 and all(len(image) > 1000 for image in images)
    assert "Total params:" in page  # The model summary.
    # Review text is escaped, never markup: generated reviews contain "<br />".
    assert "&lt;br /&gt;" in page and "<br /><br />" not in page


def table_after(page: str, heading: str) -> list[list[str]]:
    """The cells, row by row, of the first table after the <h2> starting with `heading`."""
    section = page[page.index(f"<h2>{heading}") :]
    table = section[: section.index("</table>")]
    return [
        re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)
    ]


def test_every_number_on_the_page_is_the_one_its_step_wrote(report_dir):
    page = open(f"{report_dir}/{REPORT_FILE}", encoding="utf-8").read()
    steps = Path(report_dir).parent
    evaluation = read_json(f"{steps}/evaluation/{EVALUATION_FILE}")
    baseline = read_json(f"{steps}/baseline/{BASELINE_FILE}")
    board = read_json(f"{steps}/leaderboard/{LEADERBOARD_FILE}")
    metrics = evaluation["metrics"]
    names = TASKS[SENTIMENT].test_metrics

    assert (
        f"Test accuracy <b>{metrics['accuracy']:.4f}</b>, AUC <b>{metrics['auc']:.4f}</b>" in page
    )
    header, champion, base = table_after(page, "Against the baseline")
    assert header == ["model", *names]
    assert champion[1:] == [f"{metrics[name]:.4f}" for name in names]
    assert base[1:] == [f"{baseline['metrics'][name]:.4f}" for name in names]

    (row,) = table_after(page, "Leaderboard")[1:]
    (model,) = board["models"]
    assert row[:3] == [
        model["model_type"],
        f"{model['eval_accuracy']:.4f}",
        f"{model['eval_loss']:.4f}",
    ]
    assert row[4:6] == [str(model["epochs_trained"]), str(model["best_epoch"])]

    slices = table_after(page, "Slices")[1:]
    assert {row[0]: row[1:3] for row in slices} == {
        html.escape(name): [f"{s['examples']:,}", f"{s['accuracy']:.4f}"]
        for name, s in evaluation["slices"].items()
    }
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    assert (
        f"true negative predicted negative: {tn:,}, true negative predicted positive: {fp:,}, "
        f"true positive predicted negative: {fn:,}, true positive predicted positive: {tp:,}"
    ) in page
    for mistake in evaluation["confident_mistakes"]:
        assert f"P(positive) = {mistake['probability_positive']:.4f}</b>" in page


def out_of_vocabulary_rates(ingested_dir: str, transform_graph_dir: str) -> dict[str, float]:
    """Per split, the share of words of the raw texts missing from the transform's vocabulary,
    by plain Python (the generated reviews are short lowercase-able words, "<br />" and marks)."""
    vocabulary_file = tft.TFTransformOutput(transform_graph_dir).vocabulary_file_by_name(
        "vocabulary"
    )
    vocabulary = set(Path(vocabulary_file).read_text().split())
    rates = {}
    for split in ("train", "eval", "test"):
        files = [str(path) for path in Path(ingested_dir, split).glob("*.tfrecord.gz")]
        words = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            text = tf.train.Example.FromString(record.numpy()).features.feature["text"]
            text = text.bytes_list.value[0].decode().lower().replace("<br />", " ")
            words += re.findall(r"[a-z]+", text)
        rates[split] = sum(word not in vocabulary for word in words) / len(words)
    return rates


def test_data_statistics_count_every_example(report_dir, ingested_dir, transformed):
    stats = read_json(f"{report_dir}/{DATA_STATS_FILE}")
    oov_rates = out_of_vocabulary_rates(ingested_dir, transformed["graph"])
    # 24 ids leave 22 words of the 24 the generator uses: some words are out of vocabulary.
    assert all(rate > 0 for rate in oov_rates.values())
    written = read_json(f"{ingested_dir}/{COUNTS_FILE}")["written"]
    for split, split_stats in stats["splits"].items():
        assert split_stats["examples"] == written[split]
        assert sum(split_stats["per_label"].values()) == written[split]
        assert sum(split_stats["length_histogram"]["counts"]) == written[split]
        assert split_stats["oov_rate"] == pytest.approx(oov_rates[split], abs=1e-12)
        # Generated reviews run 8-37 tokens against sequences of 40: none is truncated.
        assert split_stats["truncated_share"] == 0.0
    assert stats["splits"]["test"]["per_label"] == {"negative": 60, "positive": 60}


def test_data_statistics_read_in_batches_add_up_to_the_whole_splits(
    monkeypatch, report_dir, transformed
):
    # The report holds a batch at a time: 7 reviews a batch gives the statistics of the whole
    # splits (234 train reviews: 34 batches), as the step wrote them.
    monkeypatch.setattr(sentiment, "READ_BATCH", 7)
    stats = sentiment.data_statistics(transformed["data"], transformed["graph"])
    assert stats == read_json(f"{report_dir}/{DATA_STATS_FILE}")


def test_an_ensembles_champion_and_curves_show_every_member():
    info = {"type": "bigru", "total_params": 1234, "members": [{"seed": 42}, {"seed": 43}]}
    assert "1,234 parameters, an ensemble of 2 trained with seeds 42, 43" in (
        champion_description(info)
    )
    assert "ensemble" not in champion_description({"type": "bigru", "total_params": 1})

    def training(seed, val_accuracy):
        per_epoch = {"accuracy": [0.7, 0.8], "val_accuracy": val_accuracy}
        return {"seed": seed, "per_epoch": per_epoch, "best_epoch": 2}

    members = [training(42, [0.81, 0.82]), training(43, [0.83, 0.84])]
    history = {**members[0], "members": members}
    assert training_curves(history, "accuracy") == [
        ("train, seed 42", [0.7, 0.8]),
        ("eval, seed 42", [0.81, 0.82]),
        ("train, seed 43", [0.7, 0.8]),
        ("eval, seed 43", [0.83, 0.84]),
    ]
