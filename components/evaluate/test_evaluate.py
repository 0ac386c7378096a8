import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common.artifacts import EVALUATION_FILE, MODEL_FILE
from components.common.config import ConfigError, EvaluateConfig
from components.common.io import read_json
from components.common.tasks import SENTIMENT
from components.evaluate import sentiment
from components.evaluate.evaluate import run_evaluate
from components.evaluate.sentiment import (
    blessing,
    confident_mistakes,
    most_confident,
    sliced_metrics,
)
from components.export.export import run_export
from components.train.models import build_model


def test_blessing_is_accuracy_at_least_the_threshold():
    config = EvaluateConfig(accuracy_threshold=0.8)
    assert blessing({"accuracy": 0.8}, config) == (True, ["test accuracy 0.8000 >= threshold 0.8"])
    assert blessing({"accuracy": 0.7999}, config)[0] is False
    with pytest.raises(ConfigError, match="--accuracy-threshold=1.5"):
        EvaluateConfig(accuracy_threshold=1.5)


def test_blessing_refuses_a_regression_against_the_served_model():
    config = EvaluateConfig(accuracy_threshold=0.8, max_regression=0.01)
    assert blessing({"accuracy": 0.85}, config, served_accuracy=0.855) == (
        True,
        [
            "test accuracy 0.8500 >= threshold 0.8",
            "test accuracy 0.8500 is within 0.01 below the served model's 0.8550",
        ],
    )
    blessed, reasons = blessing({"accuracy": 0.85}, config, served_accuracy=0.87)
    assert not blessed
    assert reasons[1] == "test accuracy 0.8500 is more than 0.01 below the served model's 0.8700"
    assert blessing({"accuracy": 0.9}, config, served_accuracy=0.85)[0] is True


def test_a_worse_model_than_the_served_one_is_not_blessed_and_says_why(
    tmp_path, ingested_dir, transformed, trained_model_dir
):
    destination = str(tmp_path / "serving")
    run_export(
        SENTIMENT, transformed["graph"], trained_model_dir, str(tmp_path / "artifact"), destination
    )
    # An untrained model of the same shape: near chance on the generated reviews.
    untrained_dir = tmp_path / "untrained"
    untrained_dir.mkdir()
    build_model("lstm", 24, 40, 4, 4, 4).save(untrained_dir / MODEL_FILE)
    config = EvaluateConfig(accuracy_threshold=0.0, export_dir=destination)
    result = run_evaluate(
        SENTIMENT,
        config,
        ingested_dir,
        transformed["graph"],
        str(untrained_dir),
        str(tmp_path / "e"),
    )
    assert result["blessed"] is False
    served = result["served_model"]
    assert served["path"].startswith(destination) and served["accuracy"] > 0.8
    assert "more than 0.01 below the served model's" in result["blessing_reason"]


def test_run_evaluate_scores_every_raw_test_review(
    tmp_path, ingested_dir, transformed, trained_model_dir
):
    output = str(tmp_path / "evaluation")
    result = run_evaluate(
        SENTIMENT,
        EvaluateConfig(accuracy_threshold=0.9),
        ingested_dir,
        transformed["graph"],
        trained_model_dir,
        output,
    )
    metrics = result["metrics"]
    assert metrics["examples"] == 120  # 60 positive and 60 negative generated test reviews.
    assert sum(map(sum, metrics["confusion_matrix"])) == 120
    assert metrics["accuracy"] > 0.8 and metrics["auc"] > 0.85
    assert result["blessed"] == (metrics["accuracy"] >= 0.9)
    assert read_json(f"{output}/{EVALUATION_FILE}") == result
    # Generated reviews are short and carry aclImdb-style ratings (1-4 negative, 7-10 positive).
    # The length slices follow the transform's 40 ids: 40 fit, up to 133 is 10/3 of them.
    slices = result["slices"]
    assert slices["tokens <=40"]["examples"] == 120
    assert not {"tokens <=120", "tokens 41-133", "tokens >133"} & set(slices)
    rating_slices = {name: s for name, s in slices.items() if name.startswith("rating ")}
    assert sum(s["examples"] for s in rating_slices.values()) == 120
    assert all(s["auc"] is None for s in rating_slices.values())  # One class per rating.
    wrong = metrics["confusion_matrix"][0][1] + metrics["confusion_matrix"][1][0]
    assert len(result["confident_mistakes"]) == min(wrong, 10)


def test_sliced_metrics_by_length_and_rating():
    labels = np.array([1, 0, 1, 0, 1, 1])
    probabilities = np.array([0.9, 0.2, 0.4, 0.6, 0.8, 0.7])
    lengths = np.array([50, 120, 121, 400, 401, 5000])
    ratings = np.array([10, 1, 8, 3, 0, 0])
    slices = sliced_metrics(labels, probabilities, lengths, ratings, max_seq_len=120)
    assert slices["tokens <=120"] == {
        "examples": 2,
        "accuracy": 1.0,
        "auc": 1.0,
        "mean_probability": pytest.approx(0.55),
    }
    assert slices["tokens 121-400"]["examples"] == 2
    assert slices["tokens 121-400"]["accuracy"] == 0.0
    assert slices["tokens >400"]["accuracy"] == 1.0
    assert slices["tokens >400"]["auc"] is None
    assert set(slices) == {"tokens <=120", "tokens 121-400", "tokens >400"} | {
        f"rating {r}" for r in (1, 3, 8, 10)
    }
    # The slices follow the sequence length: with 200 ids, 121 to 200 tokens fit it.
    slices = sliced_metrics(labels, probabilities, lengths, ratings, max_seq_len=200)
    assert [name for name in slices if name.startswith("tokens")] == [
        "tokens <=200",
        "tokens 201-666",
        "tokens >666",
    ]
    assert [slices[f"tokens {n}"]["examples"] for n in ("<=200", "201-666", ">666")] == [3, 2, 1]


def test_confident_mistakes_are_the_wrong_predictions_most_sure_of_themselves():
    texts = np.array([b"great", b"awful", b"fine", b"dull", b"superb"])
    labels = np.array([1, 0, 1, 0, 1])
    probabilities = np.array([0.9, 0.97, 0.45, 0.6, 0.02])
    mistakes = confident_mistakes(texts, labels, probabilities, count=2)
    assert mistakes == [
        {"text": "superb", "label": "positive", "probability_positive": 0.02},
        {"text": "awful", "label": "negative", "probability_positive": 0.97},
    ]
    assert len(confident_mistakes(texts, labels, probabilities)) == 4  # Every mistake, at most 10.


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.51, 0.97, 1.0])),
        max_size=60,
    ),
    st.integers(1, 9),
    st.integers(0, 12),
)
def test_confident_mistakes_merged_batch_by_batch_are_those_of_the_whole_split(
    reviews, batch_size, count
):
    # Evaluate holds one batch of texts at a time and merges each batch's mistakes into the
    # shown ones; ties in confidence (few distinct probabilities here) keep file order.
    texts = np.array([f"review {i}".encode() for i in range(len(reviews))])
    labels = np.array([label for label, _ in reviews], dtype=np.int64)
    probabilities = np.array([p for _, p in reviews], dtype=np.float32)
    merged = []
    for start in range(0, len(reviews), batch_size):
        batch = slice(start, start + batch_size)
        merged = most_confident(
            merged + confident_mistakes(texts[batch], labels[batch], probabilities[batch], count),
            count,
        )
    assert merged == confident_mistakes(texts, labels, probabilities, count)


def test_evaluate_reads_the_test_split_in_batches_and_scores_it_whole(
    monkeypatch, tmp_path, ingested_dir, transformed, trained_model_dir
):
    def evaluated(name: str) -> dict:
        result = run_evaluate(
            SENTIMENT,
            EvaluateConfig(),
            ingested_dir,
            transformed["graph"],
            trained_model_dir,
            str(tmp_path / name),
        )
        return dict(leaves(result))

    def leaves(value, path=""):
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                yield from leaves(item, f"{path}/{key}")
        else:
            yield path, value

    whole = evaluated("one-batch")  # 120 test reviews, batches of 256.
    monkeypatch.setattr(sentiment, "BATCH_SIZE", 16)
    # The served model may round a review's probability differently in another batch shape.
    assert evaluated("eight-batches") == pytest.approx(whole, abs=1e-6)
