import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.config import EvaluateConfig
from components.common.serving import load_trained_model, resolve_version_dir
from components.common.tasks import SENTIMENT
from components.conftest import FILLER_WORDS, NEGATIVE_WORDS, POSITIVE_WORDS
from components.evaluate.evaluate import run_evaluate
from components.export.export import run_export

REVIEWS = [
    "A wonderful, moving film. Loved it!",
    "Boring and awful; a waste of time.",
    "",
    "the plot",
    "superb " * 300,
]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, transformed, trained_model_dir):
    root = tmp_path_factory.mktemp("export")
    run_export(SENTIMENT, transformed["graph"], trained_model_dir, str(root))
    return str(root)


def test_export_uses_tf_serving_layout(tmp_path, transformed, trained_model_dir):
    started = int(time.time())
    path = run_export(SENTIMENT, transformed["graph"], trained_model_dir, str(tmp_path))
    # One numbered version folder, the export's time in seconds (TF Serving serves the highest).
    (version_dir,) = tmp_path.iterdir()
    assert str(version_dir) == path and started <= int(version_dir.name) <= time.time()
    assert tf.saved_model.contains_saved_model(path)
    # The signature TF Serving and KServe call: a batch of strings in, a batch per output out.
    signature = tf.saved_model.load(path).signatures[F.SERVING_SIGNATURE]
    (text_spec,) = signature.structured_input_signature[1].values()
    assert (text_spec.name, text_spec.dtype, text_spec.shape.as_list()) == (
        F.SERVING_INPUT_KEY,
        tf.string,
        [None],
    )
    outputs = {
        name: (spec.dtype, spec.shape.as_list())
        for name, spec in signature.structured_outputs.items()
    }
    assert outputs == {
        F.SERVING_PROBABILITY_KEY: (tf.float32, [None]),
        F.SERVING_LABEL_KEY: (tf.string, [None]),
    }


def in_process_probabilities(texts, transformed, trained_model_dir) -> np.ndarray:
    """The texts through the transform graph and the Keras model, step by step."""
    transformed_features = tft.TFTransformOutput(transformed["graph"]).transform_raw_features(
        {F.TEXT_KEY: tf.constant(texts), F.LABEL_KEY: tf.zeros([len(texts)], tf.int64)}
    )
    model = load_trained_model(trained_model_dir)
    return model.predict(transformed_features[F.TOKEN_IDS_KEY], verbose=0).reshape(-1)


def test_serving_model_equals_transform_plus_model_in_process(
    export_dir, transformed, trained_model_dir
):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    served = serve(text=tf.constant(REVIEWS))
    expected = in_process_probabilities(REVIEWS, transformed, trained_model_dir)

    np.testing.assert_allclose(served[F.SERVING_PROBABILITY_KEY].numpy(), expected, atol=1e-6)
    labels = [label.decode() for label in served[F.SERVING_LABEL_KEY].numpy()]
    assert labels == ["positive" if p >= 0.5 else "negative" for p in expected]
    # The model learned the telling words: the first review is positive, the second negative.
    assert labels[:2] == ["positive", "negative"]


def test_reported_accuracy_is_the_exported_models_accuracy(
    tmp_path, export_dir, ingested_dir, transformed, trained_model_dir
):
    reported = run_evaluate(
        SENTIMENT,
        EvaluateConfig(),
        ingested_dir,
        transformed["graph"],
        trained_model_dir,
        str(tmp_path),
    )["metrics"]
    # Computed here without evaluate's code: every raw test record parsed from the files ingest
    # wrote, scored by the exported SavedModel, accuracy and AUC by their definitions.
    files = sorted(str(path) for path in Path(ingested_dir, "test").glob("*.tfrecord.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    spec = {
        F.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    parsed = [tf.io.parse_single_example(record, spec) for record in records]
    texts = [example[F.TEXT_KEY].numpy() for example in parsed]
    labels = np.array([example[F.LABEL_KEY].numpy() for example in parsed])
    assert len(labels) == reported["examples"] == 120
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    probabilities = serve(text=tf.constant(texts))[F.SERVING_PROBABILITY_KEY].numpy()
    assert reported["accuracy"] == pytest.approx(np.mean((probabilities >= 0.5) == labels))
    # AUC: the chance that a positive review scores above a negative one (ties count half).
    positive, negative = probabilities[labels == 1], probabilities[labels == 0]
    above = positive[:, np.newaxis] - negative[np.newaxis, :]
    auc = np.mean(above > 0) + 0.5 * np.mean(above == 0)
    assert reported["auc"] == pytest.approx(auc, abs=1e-6)


def test_exported_model_stands_alone_and_runs_in_saved_model_cli(
    tmp_path, export_dir, transformed, trained_model_dir
):
    # Copy everything, then delete the pipeline outputs the model was built from.
    standalone = tmp_path / "standalone"
    shutil.copytree(export_dir, standalone)
    moved_graph = tmp_path / "graph-gone"
    shutil.move(transformed["graph"], moved_graph)
    try:
        version_dir = resolve_version_dir(str(standalone))
        result = subprocess.run(
            [
                # The console script TensorFlow installs beside this interpreter.
                str(Path(sys.executable).parent / "saved_model_cli"),
                "run",
                "--dir",
                version_dir,
                "--tag_set",
                "serve",
                "--signature_def",
                F.SERVING_SIGNATURE,
                "--input_exprs",
                # The input expression the README shows; saved_model_cli splits on ";".
                "text=" + json.dumps(["a wonderful film", "boring and awful"]),
            ],
            capture_output=True,
            text=True,
        )
    finally:
        shutil.move(moved_graph, transformed["graph"])
    assert result.returncode == 0, result.stderr[-2000:]
    # saved_model_cli prints each output as a numpy array after "Result for output key NAME:".
    printed = dict(re.findall(r"Result for output key (\w+):\n(\[[^\]]*\])", result.stdout))
    assert set(printed) == {F.SERVING_PROBABILITY_KEY, F.SERVING_LABEL_KEY}
    expected = in_process_probabilities(
        ["a wonderful film", "boring and awful"], transformed, trained_model_dir
    )
    probabilities = [float(value) for value in printed[F.SERVING_PROBABILITY_KEY][1:-1].split()]
    assert probabilities == pytest.approx(expected.tolist(), abs=1e-6)
    labels = re.findall(r"b'(\w+)'", printed[F.SERVING_LABEL_KEY])
    assert labels == [F.LABEL_NAMES[int(p >= 0.5)] for p in expected]


EDGE_CASES = {
    "empty": "",
    "whitespace": " \t\n  ",
    "one megabyte": "a truly great film " * (1_000_000 // 19),
    "non-latin scripts": "这部电影很好看 Этот фильм ужасен هذا الفيلم رائع",
    "emoji": "😍😍😍 🎬👍 💩",
    "html only": "<br /><br /><p><b></b></p>",
    "control characters": "\x00\x01\x7f",
}


def test_serving_edge_cases_get_the_models_answer(export_dir, transformed, trained_model_dir):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    texts = list(EDGE_CASES.values())
    outputs = serve(text=tf.constant(texts))
    probabilities = dict(zip(EDGE_CASES, outputs[F.SERVING_PROBABILITY_KEY].numpy(), strict=True))
    expected = in_process_probabilities(texts, transformed, trained_model_dir)
    np.testing.assert_allclose(list(probabilities.values()), expected, atol=1e-6)
    labels = [label.decode() for label in outputs[F.SERVING_LABEL_KEY].numpy()]
    assert labels == [F.LABEL_NAMES[int(p >= 0.5)] for p in expected]
    # Texts without a single word are the same input (padding only): the same answer.
    assert probabilities["empty"] == probabilities["whitespace"]
    # Only the last tokens count: a megabyte of one phrase answers as a short run of it does.
    short = serve(text=tf.constant(["a truly great film " * 20]))[F.SERVING_PROBABILITY_KEY]
    assert probabilities["one megabyte"] == pytest.approx(float(short.numpy()[0]), abs=1e-6)


def test_serving_a_batch_of_ten_thousand_reviews(export_dir):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    # Review i: the words of i's digits in base len(WORDS), so no two reviews are the same.
    words = POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS
    texts = [
        " ".join(words[i // len(words) ** place % len(words)] for place in range(3))
        for i in range(10_000)
    ]
    probabilities = serve(text=tf.constant(texts))[F.SERVING_PROBABILITY_KEY].numpy()
    # Each review gets the answer it gets in a batch of 500, in the order given.
    in_small_batches = [
        serve(text=tf.constant(texts[start : start + 500]))[F.SERVING_PROBABILITY_KEY].numpy()
        for start in range(0, len(texts), 500)
    ]
    np.testing.assert_allclose(probabilities, np.concatenate(in_small_batches), atol=1e-6)
    assert len(np.unique(probabilities)) > 1000  # Mostly distinct, so order matters.


def test_predict_streams_its_input(export_dir):
    from pipeline.cli import PREDICT_BATCH_SIZE, predict

    consumed = 0

    def lines():
        nonlocal consumed
        for i in range(20 * PREDICT_BATCH_SIZE):
            consumed += 1
            yield {"line": i + 1}, f"line {i}"

    class FirstWrite:
        consumed_at_first_write = None
        written = 0

        def write(self, text):
            if self.consumed_at_first_write is None:
                self.consumed_at_first_write = consumed
            self.written += 1

    out = FirstWrite()
    predict(export_dir, lines(), out)
    assert out.written == 20 * PREDICT_BATCH_SIZE
    # Results come out after one batch is read, not after the whole input.
    assert out.consumed_at_first_write == PREDICT_BATCH_SIZE


def test_export_pushes_the_version_to_the_serving_destination(
    tmp_path, transformed, trained_model_dir
):
    destination = tmp_path / "serving"
    path = run_export(
        SENTIMENT, transformed["graph"], trained_model_dir, str(tmp_path / "out"), str(destination)
    )
    version = path.rsplit("/", 1)[1]
    assert tf.saved_model.contains_saved_model(str(destination / version))
    assert resolve_version_dir(str(destination)) == f"{destination}/{version}"
