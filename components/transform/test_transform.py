import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.beam import tft_unit

from components.common import features as F
from components.common.artifacts import TRANSFORM_CONFIG_FILE
from components.common.beam import LOCAL_RUNNER
from components.common.io import read_json, tfrecord_files
from components.transform.preprocessing import (
    VOCABULARY_NAME,
    make_preprocessing_fn,
    pad_front,
    tokenize,
)
from components.transform.sentiment import RAW_FEATURE_SPEC

REVIEWS = tf.constant(["Great film!<br /><br />Don't MISS it.", "Café,été...wow"])


def test_tokenize_keeps_punctuation_marks_as_tokens():
    assert tokenize(REVIEWS, "keep").to_list() == [
        [b"great", b"film", b"!", b"don't", b"miss", b"it", b"."],
        ["café".encode(), b",", "été".encode(), b".", b".", b".", b"wow"],
    ]


def test_tokenize_can_drop_punctuation_but_still_splits_words_at_it():
    assert tokenize(REVIEWS, "drop").to_list() == [
        [b"great", b"film", b"don't", b"miss", b"it"],
        ["café".encode(), "été".encode(), b"wow"],
    ]


def test_pad_front_keeps_the_last_ids_and_pads_at_the_front():
    ids = tf.ragged.constant([[5, 6], [1, 2, 3, 4, 5, 6], [], [7, 8, 9, 10]], dtype=tf.int64)
    assert pad_front(ids, 4).numpy().tolist() == [
        [0, 0, 5, 6],
        [3, 4, 5, 6],
        [0, 0, 0, 0],
        [7, 8, 9, 10],
    ]


class PreprocessingFnTest(tft_unit.TransformTestCase):
    def _makeTestPipeline(self):
        # tft_unit's default DirectRunner would first try to download the Prism runner.
        return self._TestPipeline(runner=LOCAL_RUNNER)

    def test_vocabulary_ids_padding_and_oov(self):
        reviews = [
            ("good good movie", 1),
            ("bad movie!", 0),
            ("Good<br />fun", 1),
        ]
        input_data = [{F.TEXT_KEY: text, F.LABEL_KEY: label} for text, label in reviews]
        # 5 ids: padding, OOV and the 3 most frequent tokens; ties of count 1 (bad, !, fun)
        # break by token, descending.
        expected_vocabulary = [b"good", b"movie", b"fun"]  # Counts 3, 2 and 1.

        ids = {b"good": 2, b"movie": 3, b"fun": 4}
        oov = F.OOV_ID
        expected = [
            {F.TOKEN_IDS_KEY: [0, ids[b"good"], ids[b"good"], ids[b"movie"]], F.NUM_TOKENS_KEY: 3},
            {F.TOKEN_IDS_KEY: [0, oov, ids[b"movie"], oov], F.NUM_TOKENS_KEY: 3},
            {F.TOKEN_IDS_KEY: [0, 0, ids[b"good"], ids[b"fun"]], F.NUM_TOKENS_KEY: 2},
        ]
        for row, (_, label) in zip(expected, reviews, strict=True):
            row[F.LABEL_KEY] = label
        self.assertAnalyzeAndTransformResults(
            input_data,
            tft.DatasetMetadata.from_feature_spec(RAW_FEATURE_SPEC),
            make_preprocessing_fn(vocab_size=5, max_seq_len=4, punctuation="keep"),
            expected,
            expected_vocab_file_contents={VOCABULARY_NAME: expected_vocabulary},
        )


def test_run_transform_writes_graph_config_and_every_split(transformed, ingested_dir):
    config = read_json(f"{transformed['graph']}/{TRANSFORM_CONFIG_FILE}")
    assert config == {
        "vocab_size": 24,
        "max_seq_len": 40,
        "punctuation": "drop",
        "vocabulary_text": "train",
    }
    output = tft.TFTransformOutput(transformed["graph"])
    # The generated reviews have 24 distinct words; 24 ids leave room for 22 of them.
    assert output.vocabulary_size_by_name(VOCABULARY_NAME) == 22
    for split in F.SPLITS:
        raw_count = sum(
            1 for _ in tf.data.TFRecordDataset(tfrecord_files(ingested_dir, split), "GZIP")
        )
        records = list(tf.data.TFRecordDataset(tfrecord_files(transformed["data"], split), "GZIP"))
        assert len(records) == raw_count
        parsed = tf.io.parse_example(
            tf.stack(records),
            {
                F.TOKEN_IDS_KEY: tf.io.FixedLenFeature([40], tf.int64),
                F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
                F.NUM_TOKENS_KEY: tf.io.FixedLenFeature([], tf.int64),
            },
        )
        token_ids = parsed[F.TOKEN_IDS_KEY].numpy()
        assert token_ids.min() >= 0 and token_ids.max() < 24
        # Reviews shorter than 40 tokens are padded at the front only.
        short = parsed[F.NUM_TOKENS_KEY].numpy() < 40
        padding = np.count_nonzero(token_ids[short] == F.PAD_ID, axis=1)
        assert np.array_equal(padding, 40 - parsed[F.NUM_TOKENS_KEY].numpy()[short])
        assert not np.any(token_ids[short][:, -1] == F.PAD_ID)
        assert np.any(token_ids == F.OOV_ID)  # 2 generated words are out of vocabulary.
