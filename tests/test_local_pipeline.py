"""The whole DAG run locally through the CLI, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.conftest import SHARED_TFDS_DIR
from pipeline.cli import main
from pipeline.dag import STEP_NAMES

pytestmark = pytest.mark.skipif(
    not SHARED_TFDS_DIR.exists(), reason="needs the prepared tfds data in ../shared/tfds"
)


@pytest.fixture(scope="module")
def blessed_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    argv = ["run", "--data-dir", str(SHARED_TFDS_DIR), "--max-examples", "500", "--epochs", "1"]
    # One epoch on 450 reviews is far from 0.80 accuracy; threshold 0 lets export run.
    argv += ["--accuracy-threshold", "0", "--output-dir", str(output_dir)]
    assert main(argv) == 0
    return json.loads((output_dir / "run_summary.json").read_text())


def test_summary_reports_every_step_count_metric_and_the_serving_model(blessed_run):
    summary = blessed_run
    assert summary["status"] == "succeeded"
    assert summary["config"]["ingest"]["max_examples"] == 500
    for step in STEP_NAMES:
        assert summary["steps"][step]["status"] == "succeeded"
        assert summary["steps"][step]["seconds"] > 0
    counts = summary["counts"]
    assert counts["test"] == 500 and counts["train"] + counts["eval"] == 500
    assert summary["model"]["type"] == "lstm" and summary["model"]["total_params"] == 349_057
    test_metrics = summary["metrics"]["test"]
    assert test_metrics["examples"] == 500
    for name in ("accuracy", "auc", "precision", "recall", "f1", "loss"):
        assert 0 <= test_metrics[name] <= 1 or name == "loss"
    assert summary["blessed"] is True
    assert 0 <= summary["baseline"]["metrics"]["accuracy"] <= 1
    serving_model = Path(summary["serving_model"])
    assert serving_model.is_absolute() and (serving_model / "saved_model.pb").exists()
    # Everything the run wrote is under its output directory, in its own run's folder.
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == run_dir.parents[2] / "artifacts" / summary["run_id"]
    assert serving_model.is_relative_to(run_dir.parents[2])
    assert serving_model.name.isdigit()
    assert summary["leaderboard"]["champion"] == "lstm"
    assert [row["model_type"] for row in summary["leaderboard"]["models"]] == ["lstm"]
    slices = summary["metrics"]["slices"]
    assert sum(s["examples"] for name, s in slices.items() if name.startswith("tokens")) == 500
    accuracy = test_metrics["accuracy"]
    assert summary["blessing_reason"] == f"test accuracy {accuracy:.4f} >= threshold 0.0"
    report = Path(summary["report"]).read_text()
    assert run_dir.parents[2].joinpath("report.html").read_text() == report
    for section in (
        "Blessing: <span",
        "Against the baseline",
        "Leaderboard",
        "ROC curve",
        "Slices",
    ):
        assert section in report


def test_several_models_train_side_by_side_and_the_best_on_eval_is_the_champion(
    tmp_path, aclimdb_dir
):
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--model", "lstm,gru", "--epochs", "2"]
    argv += ["--units", "8", "--accuracy-threshold", "0", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["steps"]["train"]["tasks"] == 2
    board = summary["leaderboard"]
    rows = board["models"]
    assert sorted(row["model_type"] for row in rows) == ["gru", "lstm"]
    assert rows[0]["eval_accuracy"] == max(row["eval_accuracy"] for row in rows)
    assert board["champion"] == rows[0]["model_type"] == summary["model"]["type"]
    assert board["selected_by"] == "eval_accuracy"
    report = Path(summary["report"]).read_text()
    assert all(f"<td>{row['model_type']}</td>" in report for row in rows)


def test_predict_command_prints_one_json_line_per_input(blessed_run):
    texts = ["a wonderful film", "boring and awful", ""]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "predict",
            "--model-dir",
            blessed_run["serving_model"],
        ],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == texts
    for line in lines:
        assert 0 <= line["probability"] <= 1
        assert line["label"] == ("positive" if line["probability"] >= 0.5 else "negative")


def test_a_model_below_the_threshold_is_not_exported(tmp_path, aclimdb_dir):
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--epochs", "1", "--units", "4"]
    argv += ["--accuracy-threshold", "1.0", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["blessed"] is False
    assert summary["blessing_reason"].endswith("< threshold 1.0")
    assert summary["steps"]["export"]["status"] == "not run"
    assert summary["serving_model"] is None
    assert not list(tmp_path.glob("artifacts/*/*/export"))


def test_bad_option_value_exits_2_with_one_line_naming_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--vocab-size", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "lstm-pipeline: error: --vocab-size=2 is not allowed: 3 or more"
    )
    assert not (tmp_path / "out").exists()  # Checked before any work.


def test_a_rerun_with_unchanged_inputs_reuses_every_step(tmp_path, aclimdb_dir):
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--epochs", "1", "--units", "4"]
    argv += ["--accuracy-threshold", "0", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    first = json.loads((tmp_path / "run_summary.json").read_text())
    assert {step["status"] for step in first["steps"].values()} == {"succeeded"}
    assert main(argv) == 0
    second = json.loads((tmp_path / "run_summary.json").read_text())
    assert {step["status"] for step in second["steps"].values()} == {"reused"}
    assert second["metrics"] == first["metrics"]
    assert Path(second["serving_model"]).name == Path(first["serving_model"]).name

    # A changed parameter recomputes its step and every step after it, and only those.
    assert main([*argv, "--dense-units", "8"]) == 0
    third = json.loads((tmp_path / "run_summary.json").read_text())
    statuses = {name: step["status"] for name, step in third["steps"].items()}
    assert statuses == {
        "ingest": "reused",
        "transform": "reused",
        "train": "succeeded",
        "compare": "succeeded",
        "evaluate": "succeeded",
        "export": "succeeded",
        "baseline": "reused",
        "report": "succeeded",
    }


def exit_status(argv: list[str]) -> int:
    """What the command would exit with: argparse exits itself on values of the wrong type."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "transformer"], "--model='transformer' is not allowed: one or more of"),
        (["--vocab-size", "2"], "--vocab-size=2 is not allowed: 3 or more"),
        (["--max-seq-len", "0"], "--max-seq-len=0 is not allowed: 1 or more"),
        (["--eval-fraction", "1"], "--eval-fraction=1.0 is not allowed: 0 < x < 1"),
        (["--epochs", "0"], "--epochs=0 is not allowed: 1 or more"),
        (["--batch-size", "0"], "--batch-size=0 is not allowed: 1 or more"),
        (["--accuracy-threshold", "-0.1"], "--accuracy-threshold=-0.1 is not allowed"),
        (["--source", "csv:/no/such/file.csv"], "/no/such/file.csv does not exist"),
        (["--source", "tfds:no_such_dataset"], "no tensorflow-datasets dataset named"),
        (["--output-dir", "/proc/forbidden"], "--output-dir='/proc/forbidden' is not allowed"),
        (["--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    ],
)
def test_each_bad_option_exits_2_naming_it(tmp_path, capsys, args, message):
    assert exit_status(["run", "--output-dir", str(tmp_path / "out"), *args]) == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0]
    if "--output-dir" not in args:
        assert not (tmp_path / "out" / "artifacts").exists()  # Nothing ran.


def test_a_second_run_worse_than_the_served_model_is_not_blessed(tmp_path, aclimdb_dir):
    serving = tmp_path / "serving"
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--export-dir", str(serving)]
    argv += ["--accuracy-threshold", "0", "--output-dir", str(tmp_path / "out")]
    learns = ["--epochs", "6", "--units", "16", "--learning-rate", "0.01", "--batch-size", "16"]
    assert main([*argv, *learns]) == 0
    first = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert first["blessed"] is True and first["served_model"] is None
    assert len(list(serving.iterdir())) == 1  # Pushed.

    # Almost no learning: far worse than the model now serving.
    assert main([*argv, "--epochs", "1", "--learning-rate", "0.00001"]) == 0
    second = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert second["blessed"] is False
    assert second["served_model"]["accuracy"] == first["metrics"]["test"]["accuracy"]
    assert "below the served model's" in second["blessing_reason"]
    assert second["steps"]["export"]["status"] == "not run"
    assert len(list(serving.iterdir())) == 1  # Nothing pushed.
