"""The tf.Transform preprocessing: one graph for training and, inside the exported model, serving.

Because the same graph pads and truncates in both places, the walkthrough's train/serve skew
(training truncated at the end, testing at the front) cannot happen.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F

VOCABULARY_NAME = "vocabulary"
# Punctuation is every character that is not a letter, a digit, whitespace or an apostrophe;
# apostrophes stay inside words ("don't").
_PUNCTUATION = r"([^\pL\pN\s'])"
_HTML_BREAK = r"<br\s*/?>"


def tokenize(text: tf.Tensor, punctuation: str) -> tf.RaggedTensor:
    """Lowercases, strips HTML line breaks and splits words from punctuation.

    With punctuation "keep" each mark becomes a token of its own ("great!" is "great", "!");
    with "drop" marks only separate words ("great!" is "great").
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _HTML_BREAK, " ")
    text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 " if punctuation == "keep" else " ")
    return tf.strings.split(text)


def pad_front(ids: tf.RaggedTensor, length: int) -> tf.Tensor:
    """Keeps each row's last `length` ids and pads shorter rows with PAD_ID at the front."""
    ids = ids[:, -length:]
    row_lengths = ids.row_lengths()
    padded_at_end = ids.to_tensor(default_value=F.PAD_ID, shape=[None, length])
    # Shift every row right by its amount of padding.
    positions = (
        tf.range(length, dtype=tf.int64)[tf.newaxis, :] - (length - row_lengths)[:, tf.newaxis]
    )
    shifted = tf.gather(padded_at_end, tf.maximum(positions, 0), batch_dims=1)
    return tf.where(positions >= 0, shifted, tf.constant(F.PAD_ID, tf.int64))


def make_preprocessing_fn(vocab_size: int, max_seq_len: int, punctuation: str):
    """The preprocessing_fn for a vocabulary of `vocab_size` ids and sequences of `max_seq_len`."""

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        tokens = tokenize(inputs[F.TEXT_KEY], punctuation)
        # tft's plain frequency vocabulary hands Beam one Python element per token (5 million
        # on IMDB's train split). Counting each batch's tokens in TensorFlow first and passing
        # the counts as weights yields the same vocabulary from one element per distinct token
        # per batch, several times fewer.
        distinct_tokens, _, counts = tf.unique_with_counts(tokens.flat_values)
        vocabulary = tft.vocabulary(
            distinct_tokens,
            weights=tf.cast(counts, tf.float32),
            top_k=vocab_size - F.RESERVED_IDS,
            vocab_filename=VOCABULARY_NAME,
        )
        word_index = tft.apply_vocabulary(tokens, vocabulary, default_value=-1)
        ids = tf.ragged.map_flat_values(
            lambda index: tf.where(index >= 0, index + F.RESERVED_IDS, F.OOV_ID), word_index
        )
        return {
            F.TOKEN_IDS_KEY: pad_front(ids, max_seq_len),
            F.NUM_TOKENS_KEY: tokens.row_lengths(),
            F.LABEL_KEY: inputs[F.LABEL_KEY],
        }

    return preprocessing_fn
