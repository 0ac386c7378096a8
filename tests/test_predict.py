"""`lstm-pipeline predict`: bad input lines are reported in place, a bad --model-dir is one line."""

import io
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from components.common import features as F
from components.common.tasks import SENTIMENT
from components.export.export import run_export
from pipeline.cli import argument_texts, main, predict, stdin_texts


@pytest.fixture(scope="module")
def serving_dir(tmp_path_factory, transformed, trained_model_dir) -> str:
    root = tmp_path_factory.mktemp("serving")
    return run_export(SENTIMENT, transformed["graph"], trained_model_dir, str(root))


def test_undecodable_stdin_lines_get_an_error_in_place_and_the_rest_stream_on(serving_dir):
    stdin = b"a wonderful film\ncaf\xe9 au lait\r\nboring and awful\r\n\xff\n"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", "--model-dir", serving_dir],
        input=stdin + "great\u2028fun\n".encode(),
        capture_output=True,
        env={name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 1
    # Split at line feeds only: the output keeps U+2028 as it is, and str.splitlines() splits there.
    lines = [json.loads(line) for line in result.stdout.decode().split("\n")[:-1]]
    assert lines[1] == {"line": 2, "error": "not UTF-8: byte 0xe9 at byte 4"}
    assert lines[3] == {"line": 4, "error": "not UTF-8: byte 0xff at byte 1"}
    assert [line.get("text") for line in lines] == [
        "a wonderful film",
        None,
        "boring and awful",
        None,
        "great\u2028fun",  # One line: only a line feed ends a text.
    ]
    # The readable lines get the serving signature's answers for their texts.
    texts = [line["text"] for line in lines if "text" in line]
    serve = tf.saved_model.load(serving_dir).signatures[F.SERVING_SIGNATURE]
    expected = serve(text=tf.constant(texts))[F.SERVING_PROBABILITY_KEY].numpy().tolist()
    probabilities = [line["probability"] for line in lines if "text" in line]
    assert probabilities == pytest.approx(expected, abs=1e-6)
    # And nothing else: none of TensorFlow's start-up lines.
    assert result.stderr.decode().splitlines() == ["lstm-pipeline: 2 input(s) could not be read"]


def test_a_text_argument_the_locale_could_not_decode_is_reported_in_place(serving_dir):
    out = io.StringIO()
    failed = predict(serving_dir, argument_texts(["fine", "bad \udcff byte"]), out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert failed == 1
    assert lines[0]["text"] == "fine"
    assert lines[1] == {"argument": 2, "error": "not UTF-8 at character 5"}


def test_stdin_lines_end_only_at_line_feeds():
    lines = io.BytesIO("one\rstill one\x85\x0c\r\ntwo".encode())
    assert [text for _, text in stdin_texts(lines)] == ["one\rstill one\x85\x0c", "two"]


def _model_dirs(root):
    (root / "a_file").write_text("not a folder")
    (root / "not_a_model").mkdir()
    (root / "not_a_model" / "notes.txt").write_text("hello")
    (root / "empty_newest" / "1").mkdir(parents=True)
    (root / "corrupt" / "3").mkdir(parents=True)
    (root / "corrupt" / "3" / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    return {
        "missing": (root / "missing", "no such folder"),
        "a file": (root / "a_file", "a file, not a folder"),
        "not a model": (root / "not_a_model", "no SavedModel or numbered version folder"),
        "empty newest version": (root / "empty_newest", "no loadable SavedModel"),
        "corrupt saved_model.pb": (root / "corrupt", "no loadable SavedModel"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "a file", "not a model", "empty newest version", "corrupt saved_model.pb"]
)
def test_a_bad_model_dir_exits_2_with_one_line(tmp_path, capsys, case):
    path, problem = _model_dirs(tmp_path)[case]
    assert main(["predict", "--model-dir", str(path), "a text"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"lstm-pipeline: error: --model-dir={str(path)!r} is not allowed: ")
    assert problem in line
