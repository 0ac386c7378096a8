"""Two runs with the same configuration and seed on CPU give the same results."""

import tensorflow as tf

from components.common.config import EvaluateConfig, IngestConfig, TransformConfig
from components.common.io import tfrecord_files
from components.common.tasks import SENTIMENT
from components.conftest import TINY_TRAIN_CONFIG
from components.evaluate.evaluate import run_evaluate
from components.ingest.ingest import run_ingest
from components.train.train import run_train
from components.transform.transform import run_transform

VOCABULARY = "transform_fn/assets/vocabulary"


def parsed_records(directory: str, split: str) -> list[str]:
    """Each record parsed and printed with sorted keys: comparable whatever the field order."""
    records = tf.data.TFRecordDataset(tfrecord_files(directory, split), "GZIP")
    return sorted(str(tf.train.Example.FromString(r.numpy())) for r in records)


def test_same_configuration_and_seed_give_identical_outputs(
    tmp_path, aclimdb_dir, ingested_dir, transformed, trained_model_dir
):
    # The fixtures are the first run; this is the second, with the same configs.
    ingested = str(tmp_path / "ingested")
    run_ingest(
        SENTIMENT, IngestConfig(source=f"aclimdb:{aclimdb_dir}", eval_fraction=0.2), ingested
    )
    graph, data = str(tmp_path / "graph"), str(tmp_path / "data")
    run_transform(SENTIMENT, TransformConfig(vocab_size=24, max_seq_len=40), ingested, graph, data)
    model_dir = str(tmp_path / "model")
    run_train(SENTIMENT, TINY_TRAIN_CONFIG, data, graph, model_dir)

    first_vocabulary = tf.io.gfile.GFile(f"{transformed['graph']}/{VOCABULARY}", "rb").read()
    assert tf.io.gfile.GFile(f"{graph}/{VOCABULARY}", "rb").read() == first_vocabulary
    for split in ("train", "eval", "test"):
        assert parsed_records(data, split) == parsed_records(transformed["data"], split)

    config = EvaluateConfig()
    first = run_evaluate(
        SENTIMENT,
        config,
        ingested_dir,
        transformed["graph"],
        trained_model_dir,
        str(tmp_path / "e1"),
    )
    second = run_evaluate(SENTIMENT, config, ingested, graph, model_dir, str(tmp_path / "e2"))
    assert second["metrics"] == first["metrics"]
