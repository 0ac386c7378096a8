"""Pretrain: a classifier's encoder (embedding + first recurrent layer) as a language model.

Reads the transformed train and unlabeled splits' token ids (never eval or test), joins the
reviews into one stream (padding stripped, PAD_ID between reviews as an end-of-review word),
and trains a next-word model and, for a bidirectional classifier, a previous-word model on the
reversed text, both over one shared embedding (Dai and Le, 2015). A sampled softmax
(tf.nn.sampled_softmax_loss) keeps each step affordable on a CPU: a full softmax over the
vocabulary would cost more than the recurrent layer. Held-out reviews (a hash-chosen share of
the unlabeled ones, or of train where there are none) give the perplexity with the full
softmax, before and after.

Outputs under output_dir (components/common/encoder.py): encoder.npz and pretrain.json. With
PretrainConfig.pretrain_tokens 0 only pretrain.json, `{"tokens": 0}`: train then starts as
--embedding-init says.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import zlib

import keras
import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common import logs
from components.common.artifacts import read_transform_config
from components.common.config import PretrainConfig
from components.common.encoder import (
    BACKWARD,
    PRETRAIN_FILE,
    Encoder,
    directions,
    read_pretrain_summary,
    recurrent_layer,
    write_encoder,
)
from components.common.io import atomic_directory, tfrecord_files, write_json
from components.common.step_cache import run_cached, step_key
from components.common.transformed import transformed_feature_spec

logger = logging.getLogger(__name__)

# Steps between the points of the recorded loss curve.
LOG_EVERY = 50
# Held-out windows scored per batch with the full softmax (its logits are this x window x
# vocabulary floats).
SCORE_BATCH = 16
# At most this many held-out tokens are scored: enough for a perplexity to three figures.
MAX_HELD_OUT_TOKENS = 200_000


def review_ids(transformed_dir: str, transform_graph_dir: str, split: str) -> np.ndarray:
    """The token ids of every review of a transformed split, one front-padded row each."""
    spec = {F.TOKEN_IDS_KEY: transformed_feature_spec(transform_graph_dir)[F.TOKEN_IDS_KEY]}
    files = tfrecord_files(transformed_dir, split)
    rows = [
        batch[F.TOKEN_IDS_KEY].numpy()
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(4096)
        .map(lambda records: tf.io.parse_example(records, spec))
    ]
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.int64)


def token_stream(ids: np.ndarray) -> np.ndarray:
    """Rows of front-padded ids as one stream: each row's real ids, then PAD_ID."""
    real = ids != F.PAD_ID
    ends = np.cumsum(real.sum(axis=1))
    return np.insert(ids[real], ends, F.PAD_ID).astype(np.int32)


def held_out_rows(ids: np.ndarray, fraction: float) -> np.ndarray:
    """Which rows are held out: a share `fraction` chosen by a hash of each row's ids, so the
    choice does not depend on the order the rows were read in."""
    hashes = np.array([zlib.crc32(row.tobytes()) for row in ids], dtype=np.float64)
    return hashes / 2**32 < fraction


class SampledSoftmax(keras.layers.Layer):
    """Output weights over the vocabulary, scored on a sample of words while training."""

    def __init__(self, vocab_size: int, units: int, sampled_words: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.sampled_words, self.seed = vocab_size, sampled_words, seed
        self.kernel = self.add_weight(shape=(vocab_size, units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(vocab_size,), initializer="zeros")

    def sampled_loss(self, states: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(
            tf.nn.sampled_softmax_loss(
                tf.convert_to_tensor(self.kernel),
                tf.convert_to_tensor(self.bias),
                tf.reshape(tf.cast(targets, tf.int64), [-1, 1]),
                states,
                self.sampled_words,
                self.vocab_size,
                seed=self.seed,
            )
        )

    def full_loss(self, states: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        logits = tf.matmul(states, self.kernel, transpose_b=True) + self.bias
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(tf.reshape(targets, [-1]), logits)
        )


class LanguageModel:
    """The encoder's layers and an output layer per direction; forward reads the window as it
    is and predicts each next word, backward reads it reversed and predicts each previous word."""

    def __init__(self, model_type, vocab_size, embedding_dim, units, sampled_words, seed):
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.directions = directions(model_type)
        self.recurrent = {
            d: recurrent_layer(model_type, units, return_sequences=True) for d in self.directions
        }
        self.outputs = {
            d: SampledSoftmax(vocab_size, units, min(sampled_words, vocab_size - 1), seed)
            for d in self.directions
        }
        self.units = units

    def states_and_targets(self, direction, inputs, next_words, previous_words):
        if direction == BACKWARD:
            inputs, targets = tf.reverse(inputs, [1]), tf.reverse(previous_words, [1])
        else:
            targets = next_words
        states = self.recurrent[direction](self.embedding(inputs))
        return tf.reshape(states, [-1, self.units]), targets

    def loss(self, windows, sampled: bool) -> dict[str, tf.Tensor]:
        losses = {}
        for direction in self.directions:
            states, targets = self.states_and_targets(direction, *windows)
            output = self.outputs[direction]
            losses[direction] = (output.sampled_loss if sampled else output.full_loss)(
                states, targets
            )
        return losses

    @property
    def trainable_variables(self) -> list:
        layers = [self.embedding, *self.recurrent.values(), *self.outputs.values()]
        return [variable for layer in layers for variable in layer.trainable_variables]

    def encoder(self) -> Encoder:
        return Encoder(
            self.embedding.get_weights()[0],
            {d: self.recurrent[d].get_weights() for d in self.directions},
        )


def windows_at(stream: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, ...]:
    """Inputs stream[s : s+length] with the next and the previous word of each position."""
    positions = starts[:, None] + np.arange(length)[None, :]
    return stream[positions], stream[positions + 1], stream[positions - 1]


def perplexity(model: LanguageModel, stream: np.ndarray, window: int) -> dict[str, float]:
    """exp(mean cross-entropy) per direction over consecutive windows of `stream`."""
    starts = np.arange(1, len(stream) - window - 1, window)[: MAX_HELD_OUT_TOKENS // window]
    totals = dict.fromkeys(model.directions, 0.0)
    for first in range(0, len(starts), SCORE_BATCH):
        batch = starts[first : first + SCORE_BATCH]
        for direction, loss in model.loss(windows_at(stream, batch, window), False).items():
            totals[direction] += float(loss) * len(batch)
    return {d: round(math.exp(total / max(len(starts), 1)), 2) for d, total in totals.items()}


def run_pretrain(
    config: PretrainConfig,
    model_type: str,
    embedding_dim: int,
    units: int,
    transformed_dir: str,
    transform_graph_dir: str,
    output_dir: str,
) -> dict:
    """Trains `model_type`'s encoder as a language model; writes it and pretrain.json; returns
    the summary (tokens, steps, seconds, held-out perplexity per direction, loss curve)."""
    with atomic_directory(output_dir) as staging:
        if not config.pretrain_tokens:
            summary = {"tokens": 0}
        else:
            summary, encoder = _pretrain(
                config, model_type, embedding_dim, units, transformed_dir, transform_graph_dir
            )
            write_encoder(staging, encoder)
        write_json(f"{staging}/{PRETRAIN_FILE}", summary)
    return summary


def _pretrain(config, model_type, embedding_dim, units, transformed_dir, transform_graph_dir):
    start = time.monotonic()
    keras.utils.set_random_seed(config.pretrain_seed)
    train = review_ids(transformed_dir, transform_graph_dir, "train")
    unlabeled = review_ids(transformed_dir, transform_graph_dir, F.UNLABELED_SPLIT)
    # Perplexity is measured on unlabeled reviews where there are any, like those it learns from.
    scored = unlabeled if len(unlabeled) else train
    held_out = held_out_rows(scored, config.pretrain_held_out)
    learned = [train[~held_out] if scored is train else train]
    if len(unlabeled):
        learned.append(unlabeled[~held_out])
    stream = token_stream(np.concatenate(learned))
    held_out_stream = token_stream(scored[held_out])
    window = config.pretrain_window
    if len(stream) < window + 2 or len(held_out_stream) < window + 2:
        raise ValueError(
            f"pretrain: {len(stream)} tokens to learn from and {len(held_out_stream)} held out, "
            f"fewer than a --pretrain-window of {window} needs"
        )
    vocab_size = read_transform_config(transform_graph_dir).vocab_size
    model = LanguageModel(
        model_type,
        vocab_size,
        embedding_dim,
        units,
        config.pretrain_sampled_words,
        config.pretrain_seed,
    )
    optimizer = keras.optimizers.Adam(config.pretrain_learning_rate, global_clipnorm=1.0)
    before = perplexity(model, held_out_stream, window)
    variables = model.trainable_variables

    @tf.function
    def train_step(inputs, next_words, previous_words):
        with tf.GradientTape() as tape:
            losses = model.loss((inputs, next_words, previous_words), sampled=True)
            loss = tf.add_n(list(losses.values())) / len(losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    rng = np.random.default_rng(config.pretrain_seed)
    tokens_per_step = config.pretrain_batch_size * window
    steps = max(1, config.pretrain_tokens // tokens_per_step)
    curve, recent = [], []
    for step in range(steps):
        starts = rng.integers(1, len(stream) - window - 1, config.pretrain_batch_size)
        recent.append(float(train_step(*windows_at(stream, starts, window))))
        if len(recent) == LOG_EVERY or step == steps - 1:
            curve.append({"step": step + 1, "sampled_loss": round(float(np.mean(recent)), 4)})
            logger.info(
                "pretrain: step %d of %d, sampled loss %.4f",
                step + 1,
                steps,
                curve[-1]["sampled_loss"],
            )
            recent = []
    after = perplexity(model, held_out_stream, window)
    summary = {
        "tokens": steps * tokens_per_step,
        "steps": steps,
        "model_type": model_type,
        "directions": list(model.directions),
        "stream_tokens": int(len(stream)),
        "held_out_tokens": int(len(held_out_stream)),
        "held_out_perplexity": after,
        "held_out_perplexity_at_start": before,
        "loss_curve": curve,
        "seconds": round(time.monotonic() - start, 1),
    }
    logger.info(
        "pretrain: %d tokens per direction in %.0f s, held-out perplexity %s (at start %s)",
        summary["tokens"],
        summary["seconds"],
        after,
        before,
    )
    return summary, model.encoder()


def run_pretrain_step(
    config: PretrainConfig,
    model_type: str,
    embedding_dim: int,
    units: int,
    transformed_examples,
    transform_graph,
    encoder,
    cache_dir: str,
    start: float,
) -> None:
    """The pipeline step: pretrains into the `encoder` artifact, or reuses an earlier run of the
    same inputs from `cache_dir`. The key has only what shapes the encoder (not the
    classifier's seed or training options), so a sweep over those pays for it once."""
    logs.configure()
    inputs = [transformed_examples.path, transform_graph.path]
    params = {
        **dataclasses.asdict(config),
        "model_type": model_type,
        "embedding_dim": embedding_dim,
        "units": units,
    }
    reused = run_cached(
        "pretrain",
        step_key("pretrain", params, inputs),
        {"encoder": encoder.path},
        cache_dir,
        lambda: run_pretrain(config, model_type, embedding_dim, units, *inputs, encoder.path),
    )
    summary = read_pretrain_summary(encoder.path)
    figures = {k: summary[k] for k in ("tokens", "held_out_perplexity") if k in summary}
    encoder.metadata.update(**figures, reused=reused, **logs.step_stats(start))
