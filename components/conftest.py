"""Shared test data: small generated review sets and the outputs of running the stages on them.

The generated reviews carry their sentiment in a few telling words among neutral filler, so a
model learns them in a couple of epochs and tests can check real behaviour quickly.
"""

import random
import tarfile
from pathlib import Path

import pytest

from components.common.config import IngestConfig, TrainConfig, TransformConfig

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
    run_ingest(IngestConfig(source=f"aclimdb:{aclimdb_dir}", eval_fraction=0.2), str(output))
    return str(output)


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, ingested_dir) -> dict[str, str]:
    from components.transform.transform import run_transform

    root = tmp_path_factory.mktemp("transformed")
    paths = {"graph": str(root / "transform_graph"), "data": str(root / "transformed_examples")}
    config = TransformConfig(vocab_size=24, max_seq_len=40)
    run_transform(config, ingested_dir, paths["graph"], paths["data"])
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
    run_train(TINY_TRAIN_CONFIG, transformed["data"], transformed["graph"], model_dir)
    return model_dir
