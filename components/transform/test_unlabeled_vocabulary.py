"""--vocabulary-text: the vocabulary counts train (and, asked, unlabeled) reviews, never eval or
test; the unlabeled reviews are transformed into their own split."""

import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.config import IngestConfig, TransformConfig
from components.common.io import tfrecord_files
from components.common.tasks import SENTIMENT
from components.ingest.ingest import run_ingest
from components.transform.preprocessing import VOCABULARY_NAME
from components.transform.transform import run_transform


@pytest.fixture(scope="module")
def ingested_with_unlabeled(tmp_path_factory) -> str:
    source = tmp_path_factory.mktemp("reviews")
    # Each review has a word of its own, so a word in the vocabulary names the split it came from.
    (source / "train.csv").write_text(
        "id,text,label\n" + "".join(f"t{i},good movie train{i},{i % 2}\n" for i in range(40))
    )
    (source / "unlabeled.csv").write_text(
        "id,text,label\n" + "".join(f"u{i},zebra movie unlabeled{i},\n" for i in range(10))
    )
    (source / "test.csv").write_text(
        "id,text,label\n" + "".join(f"s{i},quokka movie test{i},1\n" for i in range(10))
    )
    output = tmp_path_factory.mktemp("ingested")
    config = IngestConfig(source=f"csv:{source}", unlabeled=True, eval_fraction=0.25)
    counts = run_ingest(SENTIMENT, config, str(output))
    assert counts["written"]["eval"] > 0 and counts["written"][F.UNLABELED_SPLIT] == 10
    return str(output)


def _words_of(examples_dir: str, split: str) -> set[str]:
    words = set()
    for record in tf.data.TFRecordDataset(tfrecord_files(examples_dir, split), "GZIP"):
        text = tf.train.Example.FromString(record.numpy()).features.feature[F.TEXT_KEY]
        words.update(text.bytes_list.value[0].decode().split())
    return words


@pytest.mark.parametrize("vocabulary_text", ["train", "train+unlabeled"])
def test_vocabulary_counts_only_the_text_asked_for(
    tmp_path, ingested_with_unlabeled, vocabulary_text
):
    graph, data = str(tmp_path / "graph"), str(tmp_path / "data")
    config = TransformConfig(vocab_size=1000, vocabulary_text=vocabulary_text)
    run_transform(SENTIMENT, config, ingested_with_unlabeled, graph, data)

    path = tft.TFTransformOutput(graph).vocabulary_file_by_name(VOCABULARY_NAME)
    vocabulary = set(tf.io.gfile.GFile(path).read().split())
    words = {split: _words_of(ingested_with_unlabeled, split) for split in F.REVIEW_SPLITS}
    expected = words["train"]
    if vocabulary_text == "train+unlabeled":
        expected = expected | words[F.UNLABELED_SPLIT]
    assert vocabulary == expected
    assert not vocabulary & ((words["eval"] | words["test"]) - words["train"])

    transformed_unlabeled = tf.data.TFRecordDataset(tfrecord_files(data, F.UNLABELED_SPLIT), "GZIP")
    assert sum(1 for _ in transformed_unlabeled) == 10
