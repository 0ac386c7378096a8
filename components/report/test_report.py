import re

import pytest

from components.baseline.baseline import run_baseline
from components.common.artifacts import COUNTS_FILE, DATA_STATS_FILE
from components.common.config import EvaluateConfig
from components.common.io import read_json
from components.common.tasks import SENTIMENT
from components.compare.compare import run_compare
from components.evaluate.evaluate import run_evaluate
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


def test_data_statistics_count_every_example(report_dir, ingested_dir):
    stats = read_json(f"{report_dir}/{DATA_STATS_FILE}")
    written = read_json(f"{ingested_dir}/{COUNTS_FILE}")["written"]
    for split, split_stats in stats["splits"].items():
        assert split_stats["examples"] == written[split]
        assert sum(split_stats["per_label"].values()) == written[split]
        assert sum(split_stats["length_histogram"]["counts"]) == written[split]
        assert 0 <= split_stats["oov_rate"] <= 1
        # Generated reviews run 8-37 tokens against sequences of 40: none is truncated.
        assert split_stats["truncated_share"] == 0.0
    assert stats["splits"]["test"]["per_label"] == {"negative": 60, "positive": 60}
