import re

from components.common.artifacts import DATA_STATS_FILE
from components.common.config import FORECAST, EvaluateConfig
from components.common.io import read_json
from components.compare.compare import run_compare
from components.conftest import TINY_SERIES
from components.evaluate.evaluate import run_evaluate
from components.report.report import run_report


def test_forecast_report_shows_persistence_and_the_test_period_plot(
    tmp_path, sine_ingested_dir, sine_transformed, sine_model_dir
):
    champion, board = str(tmp_path / "champion"), str(tmp_path / "leaderboard")
    run_compare(FORECAST, [sine_model_dir], champion, board)
    evaluation = str(tmp_path / "evaluation")
    run_evaluate(
        FORECAST,
        EvaluateConfig(),
        sine_ingested_dir,
        sine_transformed["graph"],
        champion,
        evaluation,
    )
    output = str(tmp_path / "report")
    # A forecast has no n-gram baseline to read; persistence stands in for it.
    run_report(
        FORECAST,
        sine_transformed["data"],
        sine_transformed["graph"],
        champion,
        evaluation,
        board,
        output,
    )
    page = open(f"{output}/report.html", encoding="utf-8").read()
    for section in (
        "Blessing:",
        "Against persistence (test period)",
        "Actual and forecast values (test period)",
        "Leaderboard (chosen by eval loss)",
        "Training curves",
        "Data: windows per period",
        "Model",
    ):
        assert f"<h2>{section}" in page, section
    assert "persistence (the last value)" in page
    assert f"noise has standard deviation {TINY_SERIES.sine_noise:g}" in page
    # Evaluate's forecast plot and the training curves, as embedded PNG images.
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2 and all(len(image) > 1000 for image in images)
    stats = read_json(f"{output}/{DATA_STATS_FILE}")["splits"]
    assert {split: s["windows"] for split, s in stats.items()} == {
        "train": 270,
        "eval": 60,
        "test": 60,
    }
