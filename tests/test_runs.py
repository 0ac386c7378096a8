"""`lstm-pipeline runs`: every run folder's summary in one table, newest first."""

import io
import json

from pipeline.runs import COLUMNS, find_runs, print_runs, run_row


def write_summary(output_dir, run: str, **summary) -> None:
    folder = output_dir / "artifacts" / f"20260101-000000-{run}" / f"lstm-sentiment-{run}"
    folder.mkdir(parents=True)
    (folder / "run_summary.json").write_text(json.dumps(summary))


SENTIMENT = {
    "started": "2026-01-02T10:00:00",
    "status": "succeeded",
    "seconds": 125.3,
    "config": {"task": {"task": "sentiment"}, "train": {"model_type": "lstm"}},
    "model": {"type": "lstm"},
    "metrics": {"test": {"accuracy": 0.8531}},
    "baseline": {"metrics": {"accuracy": 0.8712}},
    "blessed": True,
    "report": "/o/artifacts/b/report/report.html",
}
FORECAST = {
    "started": "2026-01-03T09:00:00",
    "status": "succeeded",
    "seconds": 40,
    "config": {"task": {"task": "forecast"}, "train": {"model_type": "lstm"}},
    "model": {"type": "lstm"},
    "metrics": {"test": {"rmse": 0.1234, "persistence": {"rmse": 0.2}}},
    "blessed": False,
}
FAILED = {
    "started": "2026-01-01T08:00:00",
    "status": "failed",
    "seconds": 3,
    "config": {"task": {"task": "sentiment"}, "train": {"model_type": "gru,lstm"}},
}


def test_runs_are_listed_newest_first_with_their_figures(tmp_path):
    write_summary(tmp_path, "a", **FAILED)
    write_summary(tmp_path, "b", **SENTIMENT)
    write_summary(tmp_path, "c", **FORECAST)
    rows = [run_row(summary) for summary in find_runs(str(tmp_path))]
    assert [row["started"] for row in rows] == [
        "2026-01-03T09:00:00",
        "2026-01-02T10:00:00",
        "2026-01-01T08:00:00",
    ]
    assert rows[0]["test"] == "rmse 0.1234"
    assert rows[0]["baseline"] == "persistence rmse 0.2000" and rows[0]["blessed"] == "no"
    assert rows[1]["test"] == "accuracy 0.8531" and rows[1]["baseline"] == "accuracy 0.8712"
    assert rows[1]["blessed"] == "yes" and rows[1]["seconds"] == "125"
    assert rows[1]["report"] == "/o/artifacts/b/report/report.html"
    assert rows[2]["model"] == "gru,lstm" and rows[2]["test"] == "-"
    assert rows[2]["status"] == "failed" and rows[2]["blessed"] == "-"


def test_the_table_names_every_run_and_says_when_there_is_none(tmp_path):
    out = io.StringIO()
    assert print_runs(str(tmp_path), out) == 0
    assert f"no runs under {tmp_path}" in out.getvalue()
    write_summary(tmp_path, "b", **SENTIMENT)
    write_summary(tmp_path, "c", **FORECAST)
    out = io.StringIO()
    assert print_runs(str(tmp_path), out) == 2
    header, newest, older = out.getvalue().splitlines()
    assert header.split() == list(COLUMNS)
    assert "forecast" in newest and "sentiment" in older
    assert "accuracy 0.8531" in older and older.endswith("  /o/artifacts/b/report/report.html")
    # Aligned: every column starts where its header does.
    assert older.index("sentiment") == header.index("task") == newest.index("forecast")
