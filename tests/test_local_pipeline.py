"""The whole DAG run locally through the CLI, as a user runs it."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.common.artifacts import BASELINE_FILE, EVALUATION_FILE
from components.common.tasks import SENTIMENT, TASKS
from components.conftest import SHARED_TFDS_DIR
from pipeline.cli import main


@pytest.fixture(scope="module")
def blessed_command(tmp_path_factory) -> dict:
    """A default run on 1,000 real reviews as a person runs it: its summary and what it printed
    to a terminal that is not interactive (a file, as in CI).

    Only the tests that use it need ../shared/tfds; the others run on generated data.
    """
    if not SHARED_TFDS_DIR.exists():
        pytest.skip("needs the prepared tfds data in ../shared/tfds")
    output_dir = tmp_path_factory.mktemp("run")
    argv = ["run", "--data-dir", str(SHARED_TFDS_DIR), "--max-examples", "500", "--epochs", "1"]
    # One epoch on 450 reviews is far from 0.80 accuracy; threshold 0 lets export run.
    argv += ["--accuracy-threshold", "0", "--output-dir", str(output_dir)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert main(argv) == 0
    summary = json.loads((output_dir / "run_summary.json").read_text())
    return {"summary": summary, "printed": printed.getvalue(), "output_dir": output_dir}


@pytest.fixture(scope="module")
def blessed_run(blessed_command) -> dict:
    return blessed_command["summary"]


def test_summary_reports_every_step_count_metric_and_the_serving_model(blessed_run):
    summary = blessed_run
    assert summary["status"] == "succeeded"
    assert summary["config"]["ingest"]["max_examples"] == 500
    for step in TASKS[SENTIMENT].steps:
        assert summary["steps"][step]["status"] == "succeeded"
        assert summary["steps"][step]["seconds"] > 0
    counts = summary["counts"]
    assert counts["test"] == 500 and counts["train"] + counts["eval"] == 500
    # The default classifier: a BiGRU(64) over 128-wide vectors of 20,000 words, max-mean pooling.
    assert summary["model"]["type"] == "bigru" and summary["model"]["total_params"] == 2_651_009
    test_metrics = summary["metrics"]["test"]
    assert test_metrics["examples"] == 500
    # The summary's numbers are the ones evaluate and baseline wrote, and hang together.
    run_dir = Path(summary["run_dir"])
    (evaluation,) = run_dir.glob(f"*/evaluation/{EVALUATION_FILE}")
    assert test_metrics == json.loads(evaluation.read_text())["metrics"]
    precision, recall = test_metrics["precision"], test_metrics["recall"]
    # One epoch on 450 reviews may predict a single class: then precision and recall are 0.
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert test_metrics["f1"] == pytest.approx(f1)
    assert test_metrics["accuracy"] * 500 == pytest.approx(round(test_metrics["accuracy"] * 500))
    assert summary["blessed"] is True
    (baseline,) = run_dir.glob(f"*/baseline_result/{BASELINE_FILE}")
    assert summary["baseline"] == json.loads(baseline.read_text())
    serving_model = Path(summary["serving_model"])
    assert serving_model.is_absolute() and (serving_model / "saved_model.pb").exists()
    # Everything the run wrote is under its output directory, in its own run's folder.
    assert run_dir.parent == run_dir.parents[2] / "artifacts" / summary["run_id"]
    assert serving_model.is_relative_to(run_dir.parents[2])
    assert serving_model.name.isdigit()
    assert summary["leaderboard"]["champion"] == "bigru"
    assert [row["model_type"] for row in summary["leaderboard"]["models"]] == ["bigru"]
    slices = summary["metrics"]["slices"]
    assert sum(s["examples"] for name, s in slices.items() if name.startswith("tokens")) == 500
    accuracy = test_metrics["accuracy"]
    assert summary["blessing_reason"] == f"test accuracy {accuracy:.4f} >= threshold 0.0"
    report = Path(summary["report"]).read_text()
    assert Path(summary["report"]) == run_dir / "report.html"
    newest_report = run_dir.parents[2].joinpath("report.html").read_text()
    assert newest_report.split("<h2>Step logs")[0] == report.split("<h2>Step logs")[0]
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


def test_predict_command_prints_the_serving_models_answer_per_input_line(blessed_run):
    import tensorflow as tf

    from components.common import features as F
    from components.common.serving import resolve_version_dir

    texts = ["a wonderful film", "boring and awful", "", "the worst film I have ever seen"]
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
    # Each line carries what the serving signature answers for that very text, in this process.
    version_dir = resolve_version_dir(blessed_run["serving_model"])
    serve = tf.saved_model.load(version_dir).signatures[F.SERVING_SIGNATURE]
    served = serve(text=tf.constant(texts))
    expected = served[F.SERVING_PROBABILITY_KEY].numpy()
    assert [line["probability"] for line in lines] == pytest.approx(expected.tolist(), abs=1e-6)
    assert len(set(expected.tolist())) == len(texts)  # Distinct texts, distinct answers.
    assert [line["label"] for line in lines] == [
        label.decode() for label in served[F.SERVING_LABEL_KEY].numpy()
    ]


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

    # A changed parameter recomputes its step and every step after it, and only those: pretrain
    # does not depend on the classifier's own options.
    assert main([*argv, "--dense-units", "8"]) == 0
    third = json.loads((tmp_path / "run_summary.json").read_text())
    statuses = {name: step["status"] for name, step in third["steps"].items()}
    assert statuses == {
        "ingest": "reused",
        "transform": "reused",
        "pretrain": "reused",
        "train": "succeeded",
        "compare": "succeeded",
        "evaluate": "succeeded",
        "export": "succeeded",
        "baseline": "reused",
        "report": "succeeded",
    }


def test_length_slices_and_data_statistics_follow_the_sequence_length(tmp_path, aclimdb_dir):
    argv = ["run", "--source", f"aclimdb:{aclimdb_dir}", "--epochs", "1", "--units", "4"]
    argv += ["--max-seq-len", "200", "--accuracy-threshold", "0", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    slices = summary["metrics"]["slices"]
    # 200 ids, and up to 10/3 of them: the generated reviews (under 40 tokens) all fit.
    token_slices = {name for name in slices if name.startswith("tokens ")}
    assert token_slices == {"tokens <=200"}
    assert slices["tokens <=200"]["examples"] == summary["counts"]["test"]
    run_dir = Path(summary["run_dir"])
    (stats_file,) = run_dir.glob("report-sentiment/report_files/data_stats.json")
    assert json.loads(stats_file.read_text())["max_seq_len"] == 200
    assert "<td>tokens &lt;=200</td>" in Path(summary["report"]).read_text()


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


STEPS = TASKS[SENTIMENT].steps
PROBING_LINES = ("Could not find cuda drivers", "failed call to cuInit", "absl::InitializeLog")


def test_the_terminal_shows_each_step_and_the_result_not_the_machinery(blessed_command):
    printed, output_dir = blessed_command["printed"], blessed_command["output_dir"]
    lines = printed.splitlines()
    assert len(lines) < 60, printed
    for step in STEPS:
        assert f"{step}: started" in lines
        assert any(line.startswith(f"{step}: succeeded in ") for line in lines), step
    assert "train: epoch 1/1: accuracy " in printed
    assert f"report         {output_dir / 'report.html'}" in lines
    assert lines[-1] == f"step logs      {blessed_command['summary']['logs']}"
    for machinery in ("executor_input", "Executing task", "UserWarning", *PROBING_LINES):
        assert machinery not in printed


def test_every_step_keeps_its_whole_output_in_its_own_log(blessed_run):
    logs = {step: entry["logs"] for step, entry in blessed_run["steps"].items()}
    assert all(len(paths) == 1 for paths in logs.values())
    text = {step: Path(paths[0]).read_text() for step, paths in logs.items()}
    assert "ingest: reading tfds:imdb_reviews" in text["ingest"]
    assert "train: epoch 1/1 accuracy=" in text["train"]
    assert "export: serving model written to" in text["export"]
    assert "Got executor_input" in text["evaluate"]  # Everything, kfp's lines too.
    for step, log in text.items():
        assert "UserWarning" not in log, step
        assert not any(probe in log for probe in PROBING_LINES), step


def test_locally_the_model_is_exported_before_the_baseline_and_the_report(blessed_command):
    started = [line.split(":")[0] for line in blessed_command["printed"].splitlines()]
    started = [step for step in started if step in STEPS]
    assert started.index("export") < started.index("baseline") < started.index("report")


def test_the_report_works_in_a_real_browser(blessed_command):
    from browser import PHONE_WIDTH, view_page

    report = blessed_command["output_dir"] / "report.html"
    page = view_page(report, screenshot=blessed_command["output_dir"] / "report.png")
    assert len(page.images) == 4 and all(image["loaded"] for image in page.images)
    assert all(image["alt"] for image in page.images)
    assert page.console_errors == []
    assert page.phone_scroll_width <= PHONE_WIDTH and page.wider_than_phone == []
    log_links = [link for link in page.links if link.endswith(".log")]
    assert len(log_links) == len(STEPS)
    assert all((report.parent / link).is_file() for link in log_links)


def test_runs_lists_the_run_with_its_report(blessed_command, capsys):
    assert main(["runs", "--output-dir", str(blessed_command["output_dir"])]) == 0
    header, row = capsys.readouterr().out.splitlines()
    summary = blessed_command["summary"]
    assert row.startswith(summary["started"]) and row.endswith(summary["report"])
    assert f"accuracy {summary['metrics']['test']['accuracy']:.4f}" in row


def test_a_failed_step_ends_the_command_with_one_line_naming_it(tmp_path, capsys):
    reviews = tmp_path / "reviews.jsonl"
    records = [{"text": "a fine film", "label": "pos", "split": "train"}] * 3
    records += [{"text": "", "label": "neg", "split": "train"}] * 3
    reviews.write_text("".join(json.dumps(record) + "\n" for record in records))
    argv = ["run", "--source", f"jsonl:{reviews}", "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 1
    printed = capsys.readouterr()
    last = printed.err.splitlines()[-1]
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    ingest = summary["steps"]["ingest"]
    assert ingest["status"] == "failed" and "above --max-quarantine-fraction" in ingest["error"]
    assert last == f"ingest failed: {ingest['error']} (log: {ingest['logs'][0]})"
    assert summary["status"] == "failed" and summary["error"] == f"ingest failed: {ingest['error']}"
    assert "\x1b" not in json.dumps(summary)
    assert "Traceback" not in printed.err + printed.out
    assert "Traceback" in Path(ingest["logs"][0]).read_text()
    assert summary["steps"]["transform"]["status"] == "not run"


def test_option_errors_come_before_tensorflow_is_imported():
    code = (
        "import sys\nfrom pipeline.cli import main\n"
        "status = main(['run', '--epochs', '0'])\n"
        "print(status, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False"]
    assert result.stderr.strip() == "lstm-pipeline: error: --epochs=0 is not allowed: 1 or more"
