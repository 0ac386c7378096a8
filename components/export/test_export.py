import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.config import EvaluateConfig
from components.common.metrics import classification_metrics
from components.common.serving import load_trained_model, resolve_version_dir
from components.common.tasks import SENTIMENT
from components.evaluate.evaluate import run_evaluate
from components.evaluate.sentiment import predict_texts, read_test_split
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


def test_export_uses_tf_serving_layout(export_dir):
    version_dir = resolve_version_dir(export_dir)
    assert version_dir.rsplit("/", 1)[1].isdigit()
    assert tf.saved_model.contains_saved_model(version_dir)


def test_serving_model_equals_transform_plus_model_in_process(
    export_dir, transformed, trained_model_dir
):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    served = serve(text=tf.constant(REVIEWS))

    # The same reviews through the transform graph and the Keras model, step by step.
    transformed_features = tft.TFTransformOutput(transformed["graph"]).transform_raw_features(
        {F.TEXT_KEY: tf.constant(REVIEWS), F.LABEL_KEY: tf.zeros([len(REVIEWS)], tf.int64)}
    )
    model = load_trained_model(trained_model_dir)
    expected = model.predict(transformed_features[F.TOKEN_IDS_KEY], verbose=0).reshape(-1)

    np.testing.assert_allclose(served[F.SERVING_PROBABILITY_KEY].numpy(), expected, atol=1e-6)
    labels = [label.decode() for label in served[F.SERVING_LABEL_KEY].numpy()]
    assert labels == [F.LABEL_NAMES[int(p >= 0.5)] for p in expected]


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
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    test = read_test_split(ingested_dir)
    served = classification_metrics(test[F.LABEL_KEY], predict_texts(serve, test[F.TEXT_KEY]))
    assert served["accuracy"] == reported["accuracy"]
    assert served["auc"] == pytest.approx(reported["auc"], abs=1e-9)


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
    assert "Result for output key probability" in result.stdout
    assert "Result for output key label" in result.stdout


EDGE_CASES = {
    "empty": "",
    "whitespace": " \t\n  ",
    "one megabyte": "a truly great film " * (1_000_000 // 19),
    "non-latin scripts": "这部电影很好看 Этот фильм ужасен هذا الفيلم رائع",
    "emoji": "😍😍😍 🎬👍 💩",
    "html only": "<br /><br /><p><b></b></p>",
    "control characters": "\x00\x01\x7f",
}


def test_serving_edge_cases_get_valid_probabilities(export_dir):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    outputs = serve(text=tf.constant(list(EDGE_CASES.values())))
    probabilities = outputs[F.SERVING_PROBABILITY_KEY].numpy()
    assert probabilities.shape == (len(EDGE_CASES),)
    assert np.all(np.isfinite(probabilities)) and np.all(
        (0 <= probabilities) & (probabilities <= 1)
    )
    assert set(outputs[F.SERVING_LABEL_KEY].numpy()) <= {b"negative", b"positive"}


def test_serving_a_batch_of_ten_thousand_reviews(export_dir):
    serve = tf.saved_model.load(resolve_version_dir(export_dir)).signatures[F.SERVING_SIGNATURE]
    texts = [f"review {i}: {REVIEWS[i % len(REVIEWS)]}" for i in range(10_000)]
    probabilities = serve(text=tf.constant(texts))[F.SERVING_PROBABILITY_KEY].numpy()
    assert probabilities.shape == (10_000,) and np.all(np.isfinite(probabilities))


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
