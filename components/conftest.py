"""Shared test data: small generated review sets and the outputs of running the stages on them.

The generated reviews carry their sentiment in a few telling words among neutral filler, so a
model learns them in a couple of epochs and tests can check real behaviour quickly.
"""

import json
import random
import tarfile
from pathlib import Path

import pytest

from components.common.config import (
    FORECAST,
    SENTIMENT,
    IngestConfig,
    SeriesConfig,
    TrainConfig,
    TransformConfig,
    WindowConfig,
)

POSITIVE_WORDS = ["wonderful", "great", "brilliant", "moving", "superb", "loved"]
NEGATIVE_WORDS = ["awful", "boring", "terrible", "dull", "waste", "hated"]
FILLER_WORDS = ["the", "film", "plot", "actor", "scene", "movie", "story", "was", "and", "a"]
SHARED_TFDS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "tfds"


def generated_review(rng: random.Random, label: int) -> str:
    telling = POSITIVE_WORDS if label else NEGATIVE_WORDS
    words = [rng.choice(FILLER_WORDS) for _ in range(rng.randint(5, 30))]
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(telling))
    return " ".join(words).capitalize() + ".<br /><br />" + rng.choice(["Really!", "Yes."])


def write_aclimdb(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """A Stanford-layout aclImdb directory with `per_class[split]` reviews per label."""
    rng = random.Random(seed)
    for split, count in per_class.items():
        for polarity, label in (("pos", 1), ("neg", 0)):
            folder = root / "aclImdb" / split / polarity
            folder.mkdir(parents=True, exist_ok=True)
            for review_id in range(count):
                rating = rng.randint(7, 10) if label else rng.randint(1, 4)
                text = generated_review(rng, label)
                (folder / f"{review_id}_{rating}.txt").write_text(text, encoding="utf-8")
    return root / "aclImdb"


def write_tfds_slice(root: Path, per_split: dict[str, int]) -> Path:
    """A tensorflow-datasets data_dir holding the first `per_split[split]` reviews of each split
    of ../shared/tfds's imdb_reviews, records copied byte for byte (only the dataset's info
    says how many there are)."""
    import tensorflow as tf

    source = SHARED_TFDS_DIR / "imdb_reviews" / "plain_text" / "1.0.0"
    target = root / source.relative_to(SHARED_TFDS_DIR)
    target.mkdir(parents=True)
    for name in ("features.json", "label.labels.txt"):
        (target / name).write_bytes((source / name).read_bytes())
    info = json.loads((source / "dataset_info.json").read_text())
    info["splits"] = [split for split in info["splits"] if split["name"] in per_split]
    for split in info["splits"]:
        shard = f"imdb_reviews-{split['name']}.tfrecord-00000-of-00001"
        records = tf.data.TFRecordDataset(str(source / shard)).take(per_split[split["name"]])
        with tf.io.TFRecordWriter(str(target / shard)) as writer:
            for record in records:
                writer.write(record.numpy())
        split["shardLengths"] = [str(per_split[split["name"]])]
        split["numBytes"] = str((target / shard).stat().st_size)
    (target / "dataset_info.json").write_text(json.dumps(info))
    return root


def tar_directory(directory: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return archive


@pytest.fixture(scope="session")
def aclimdb_dir(tmp_path_factory) -> Path:
    return write_aclimdb(tmp_path_factory.mktemp("aclimdb"), {"train": 150, "test": 60})


@pytest.fixture(scope="session")
def ingested_dir(tmp_path_factory, aclimdb_dir) -> str:
    from components.ingest.ingest import run_ingest

    output = tmp_path_factory.mktemp("ingested")
    config = IngestConfig(source=f"aclimdb:{aclimdb_dir}", eval_fraction=0.2)
    run_ingest(SENTIMENT, config, str(output))
    return str(output)


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, ingested_dir) -> dict[str, str]:
    from components.transform.transform import run_transform

    root = tmp_path_factory.mktemp("transformed")
    paths = {"graph": str(root / "transform_graph"), "data": str(root / "transformed_examples")}
    config = TransformConfig(vocab_size=24, max_seq_len=40)
    run_transform(SENTIMENT, config, ingested_dir, paths["graph"], paths["data"])
    return paths


TINY_TRAIN_CONFIG = TrainConfig(
    epochs=8,
    batch_size=16,
    embedding_dim=16,
    units=16,
    dense_units=16,
    learning_rate=0.01,
    patience=3,
)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, transformed) -> str:
    from components.train.train import run_train

    model_dir = str(tmp_path_factory.mktemp("model"))
    run_train(SENTIMENT, TINY_TRAIN_CONFIG, transformed["data"], transformed["graph"], model_dir)
    return model_dir


# ---- Forecasting: a short noisy sine through every stage, and a hand-made dated csv. ----

TINY_SERIES = SeriesConfig(sine_length=400, sine_period=25.0, sine_noise=0.02)
TINY_WINDOW = WindowConfig(lookback=10)
# Epochs to spare: early stopping, not the limit, ends the training (test_forecast_train).
TINY_FORECAST_TRAIN_CONFIG = TrainConfig(
    epochs=30, batch_size=32, units=8, dense_units=8, learning_rate=0.01, patience=2
)


@pytest.fixture(scope="session")
def sine_ingested_dir(tmp_path_factory) -> str:
    from components.ingest.ingest import run_ingest

    output = str(tmp_path_factory.mktemp("sine_ingested"))
    run_ingest(FORECAST, IngestConfig(source="sine:"), output, series=TINY_SERIES)
    return output


@pytest.fixture(scope="session")
def sine_transformed(tmp_path_factory, sine_ingested_dir) -> dict[str, str]:
    from components.transform.transform import run_transform

    root = tmp_path_factory.mktemp("sine_transformed")
    paths = {"graph": str(root / "transform_graph"), "data": str(root / "transformed_examples")}
    run_transform(FORECAST, TINY_WINDOW, sine_ingested_dir, paths["graph"], paths["data"])
    return paths


@pytest.fixture(scope="session")
def sine_model_dir(tmp_path_factory, sine_transformed) -> str:
    from components.train.train import run_train

    model_dir = str(tmp_path_factory.mktemp("sine_model"))
    run_train(
        FORECAST,
        TINY_FORECAST_TRAIN_CONFIG,
        sine_transformed["data"],
        sine_transformed["graph"],
        model_dir,
    )
    return model_dir


DATED_SERIES = SeriesConfig(target="High,Low")
# The 20 good rows of write_dated_csv, oldest first: the mean of High and Low is 94 + day of month.
DATED_VALUES = [94.0 + day for day in range(1, 21)]


def write_dated_csv(path: Path) -> dict[str, int]:
    """A Yahoo-style price file: byte-order mark, newest first, two date formats, bad rows
    (one with a byte that is not UTF-8).

    Returns the quarantine reasons it should cause.
    """
    rows = []
    for day in range(20, 0, -1):
        date = f"{day}-Jan-17" if day % 2 else f"2017-01-{day:02d}"
        rows.append(f"{date},1,{99 + day},{89 + day},1,1000")
    bad = [
        ("not a date,1,2,3,4,5", "unparseable_date"),
        ("32-Jan-17,1,2,3,4,5", "unparseable_date"),
        ("21-Jan-17,1,,3,4,5", "missing_value"),
        ("22-Jan-17,1,2,n/a,4,5", "non_numeric_value"),
        ("23-Jan-17,1,nan,3,4,5", "non_numeric_value"),
        ("2017-01-05,1,999,999,4,5", "duplicate_date"),  # After the first 5-Jan: set aside.
    ]
    rows[10:10] = [row for row, _ in bad[:3]]
    rows += [row for row, _ in bad[3:]]
    path.write_text("\ufeffDate,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    with path.open("ab") as f:
        f.write(b"24-Jan-17,1,2\xff,3,4,5\n")  # Not UTF-8: set aside, not a crash.
    reasons: dict[str, int] = {}
    for reason in [reason for _, reason in bad] + ["not_utf8"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


@pytest.fixture(scope="session")
def dated_csv(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("dated") / "prices.csv"
    return path, write_dated_csv(path)


@pytest.fixture(scope="session")
def dated_ingested_dir(tmp_path_factory, dated_csv) -> str:
    from components.ingest.ingest import run_ingest

    output = str(tmp_path_factory.mktemp("dated_ingested"))
    config = IngestConfig(source=f"csv:{dated_csv[0]}", max_quarantine_fraction=0.5)
    run_ingest(FORECAST, config, output, series=DATED_SERIES)
    return output
