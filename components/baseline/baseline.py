"""Baseline: a bag-of-words-and-bigrams linear classifier on the same splits as the LSTM.

TF-IDF features over the most frequent unigrams and bigrams of the train split feed a logistic
regression, early-stopped on eval and scored on test. Linear n-gram models are strong on IMDB
(NBSVM with bigrams reaches about 0.91 in the literature), so the LSTM has to earn its keep
against this yardstick. Its settings are fixed: it is a reference point, not a tuned model.

Output under `output_dir`: baseline.json with the test metrics and the epochs trained. Only
the sentiment pipeline has this step: a forecast's yardstick, persistence, is part of
evaluate's metrics.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import BASELINE_FILE, read_counts
from components.common.examples import REVIEW_FEATURES, raw_example_batches
from components.common.io import atomic_directory, write_json
from components.common.metrics import classification_metrics

logger = logging.getLogger(__name__)

MAX_TOKENS = 50_000
NGRAMS = 2
EPOCHS = 10
PATIENCE = 2
BATCH_SIZE = 256
LEARNING_RATE = 0.01


def raw_split(examples_dir: str, split: str) -> tf.data.Dataset:
    """(text, label) batches of one raw split written by ingest."""
    batches = raw_example_batches(examples_dir, split, BATCH_SIZE, REVIEW_FEATURES)
    # Keras takes an epoch's length from the dataset; records read from files do not know
    # theirs, so without it Keras finds out by running out of data, and warns that it did.
    examples = read_counts(examples_dir)["written"][split]
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-examples // BATCH_SIZE)))
    return batches.map(lambda batch: (batch[F.TEXT_KEY], batch[F.LABEL_KEY]))


def run_baseline(examples_dir: str, output_dir: str, seed: int) -> dict:
    """Trains and scores the baseline on the reviews ingest wrote; returns its result."""
    keras.utils.set_random_seed(seed)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=MAX_TOKENS, ngrams=NGRAMS, output_mode="tf_idf"
    )
    vectorizer.adapt(raw_split(examples_dir, "train").map(lambda text, _: text))

    def featurize(split: str, shuffle: bool = False) -> tf.data.Dataset:
        # Texts are cached and shuffled, not their TF-IDF vectors: those are dense, 50,000
        # floats a review, so a buffer of them would take gigabytes.
        raw = raw_split(examples_dir, split).cache()
        if shuffle:
            raw = raw.shuffle(64, seed=seed)
        return raw.map(lambda text, label: (vectorizer(text), label))

    model = keras.Sequential(
        [keras.Input(shape=(vectorizer.vocabulary_size(),)), keras.layers.Dense(1, "sigmoid")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        featurize("train", shuffle=True),
        validation_data=featurize("eval"),
        epochs=EPOCHS,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=PATIENCE, restore_best_weights=True
            )
        ],
        verbose=0,
        shuffle=False,  # The train split shuffles itself: Keras shuffles only arrays.
    )
    labels, probabilities = [], []
    for features, label in featurize("test"):
        probabilities.append(model(features, training=False).numpy().reshape(-1))
        labels.append(label.numpy())
    metrics = classification_metrics(np.concatenate(labels), np.concatenate(probabilities))
    result = {
        "model": f"TF-IDF of the {MAX_TOKENS} most frequent 1-{NGRAMS}-grams + logistic regression",
        "epochs_trained": len(history.history["val_accuracy"]),
        "metrics": metrics,
    }
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{BASELINE_FILE}", result)
    logger.info(
        "baseline: test accuracy %.4f, AUC %.4f (%s)",
        metrics["accuracy"],
        metrics["auc"],
        result["model"],
    )
    return result
