"""Typed, frozen configuration of every stage: the one place that defines each default.

Each stage's core function takes its own config object. The CLI, the KFP pipeline parameters and
the components all take their defaults from the dataclass fields below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MODEL_TYPES = ("lstm", "bilstm", "stacked-bilstm", "gru")
POOLING_MODES = ("last", "max")
PUNCTUATION_MODES = ("drop", "keep")
SOURCE_KINDS = ("tfds", "aclimdb", "csv", "jsonl")
DEFAULT_TFDS_DATASET = "imdb_reviews"


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the option, value and rule."""


def _require(condition: bool, option: str, value: object, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"--{option.replace('_', '-')}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class Source:
    """Where ingest reads reviews from, parsed from `KIND[:LOCATION]`."""

    kind: str
    location: str

    @classmethod
    def parse(cls, spec: str) -> Source:
        kind, _, location = spec.partition(":")
        _require(
            kind in SOURCE_KINDS, "source", spec, f"KIND[:LOCATION] with KIND in {SOURCE_KINDS}"
        )
        if kind == "tfds":
            return cls(kind, location or DEFAULT_TFDS_DATASET)
        _require(bool(location), "source", spec, f"{kind}:PATH needs a path")
        return cls(kind, location)


@dataclass(frozen=True)
class IngestConfig:
    """Ingest: read a labeled text source and write train/eval/test tf.Examples.

    Attributes:
        source: `tfds[:NAME]`, `aclimdb:PATH` (directory or .tar.gz), `csv:PATH` or `jsonl:PATH`.
            A csv/jsonl PATH is a directory with `train*` and `test*` files, or one file whose
            records name their split in `split_field`.
        data_dir: tensorflow-datasets data directory; empty means TFDS_DATA_DIR or tfds' default.
        text_field: field holding the text (csv/jsonl records, tfds features).
        label_field: field holding the label: 0/1, neg/pos, negative/positive or false/true.
        split_field: field of a single csv/jsonl file naming each record's split (train/test).
        eval_fraction: share of the source's train split carved out, deterministically, as eval.
        max_examples: read at most this many records of each source split (0: all).
        max_text_bytes: longer texts are quarantined as text_too_long.
        max_quarantine_fraction: ingest fails when more than this share of records is
            quarantined: past it, the source is more likely broken than a few records.
    """

    source: str = "tfds:imdb_reviews"
    data_dir: str = ""
    text_field: str = "text"
    label_field: str = "label"
    split_field: str = "split"
    eval_fraction: float = 0.1
    max_examples: int = 0
    max_text_bytes: int = 1_000_000
    max_quarantine_fraction: float = 0.01

    def __post_init__(self) -> None:
        Source.parse(self.source)
        _require(self.max_text_bytes >= 1, "max_text_bytes", self.max_text_bytes, "1 or more")
        _require(
            0 <= self.max_quarantine_fraction <= 1,
            "max_quarantine_fraction",
            self.max_quarantine_fraction,
            "0 <= x <= 1",
        )
        _require(0 < self.eval_fraction < 1, "eval_fraction", self.eval_fraction, "0 < x < 1")
        _require(self.max_examples >= 0, "max_examples", self.max_examples, "0 (all) or more")
        for name in ("text_field", "label_field", "split_field"):
            _require(bool(getattr(self, name)), name, getattr(self, name), "a field name")

    @property
    def parsed_source(self) -> Source:
        return Source.parse(self.source)


@dataclass(frozen=True)
class TransformConfig:
    """Transform: tokenize, build the vocabulary on train, map to fixed-length id sequences.

    Attributes:
        vocab_size: ids in total, including 0 (padding) and 1 (out of vocabulary).
        max_seq_len: ids per review; longer reviews keep their last tokens, shorter are padded
            at the front so the recurrent layer's final state sits on real tokens.
        punctuation: "drop": punctuation only separates words; "keep": each mark is a token.
            Dropping measured higher test accuracy on IMDB (README, Results): with 120 ids,
            marks crowd out words.
    """

    vocab_size: int = 10_000
    max_seq_len: int = 120
    punctuation: str = "drop"

    def __post_init__(self) -> None:
        _require(self.vocab_size >= 3, "vocab_size", self.vocab_size, "3 or more")
        _require(self.max_seq_len >= 1, "max_seq_len", self.max_seq_len, "1 or more")
        _require(
            self.punctuation in PUNCTUATION_MODES,
            "punctuation",
            self.punctuation,
            f"one of {PUNCTUATION_MODES}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Train: a Keras recurrent classifier over the transformed id sequences.

    Attributes:
        model_type: one of MODEL_TYPES (the walkthrough's models), several separated by commas,
            or "all": several are trained side by side and the one with the best eval-split
            accuracy (the champion) is evaluated and exported.
        epochs: most epochs to train; early stopping on the eval split may end sooner.
        batch_size: examples per gradient step.
        embedding_dim: width of the word embedding.
        units: units of each recurrent layer (per direction).
        dense_units: units of the ReLU layer before the output.
        pooling: "last": the classifier reads the recurrent layer's final state (the
            walkthrough); "max": the maximum of its outputs over every time step, so a telling
            phrase early in a long review counts as much as its ending.
        dropout: share of embedding channels and of recurrent features dropped while training
            (0: none, the walkthrough).
        learning_rate: Adam's learning rate.
        patience: epochs without eval-accuracy improvement before stopping; the best weights
            are restored.
        seed: seed of weight initialization and shuffling.
    """

    model_type: str = "lstm"
    epochs: int = 10
    batch_size: int = 32
    embedding_dim: int = 32
    units: int = 64
    dense_units: int = 64
    pooling: str = "last"
    dropout: float = 0.0
    learning_rate: float = 1e-3
    patience: int = 2
    seed: int = 42

    def __post_init__(self) -> None:
        _require(
            bool(self.model_types) and set(self.model_types) <= set(MODEL_TYPES),
            "model",
            self.model_type,
            f"one or more of {MODEL_TYPES} separated by commas, or 'all'",
        )
        for name in ("epochs", "batch_size", "embedding_dim", "units", "dense_units", "patience"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "1 or more")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "more than 0")
        _require(self.pooling in POOLING_MODES, "pooling", self.pooling, f"one of {POOLING_MODES}")
        _require(0 <= self.dropout < 1, "dropout", self.dropout, "0 <= x < 1")

    @property
    def model_types(self) -> tuple[str, ...]:
        """The model types to train, in the order given, each once."""
        if self.model_type == "all":
            return MODEL_TYPES
        names = (name.strip() for name in self.model_type.split(","))
        return tuple(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluate: metrics of the serving model on the raw test split, and the blessing.

    Attributes:
        accuracy_threshold: the model is blessed (exported) when test accuracy is at least this.
        max_regression: when export_dir already serves a model, the new one is blessed only if
            its test accuracy is at most this much below the served model's on the same data.
        export_dir: serving destination in TF Serving's layout (`<dir>/<version>/`): the newest
            model there is the one to beat, and blessed models are pushed there. Empty: none.
    """

    accuracy_threshold: float = 0.80
    max_regression: float = 0.01
    export_dir: str = ""

    def __post_init__(self) -> None:
        _require(
            0 <= self.max_regression <= 1, "max_regression", self.max_regression, "0 <= x <= 1"
        )
        _require(
            0 <= self.accuracy_threshold <= 1,
            "accuracy_threshold",
            self.accuracy_threshold,
            "0 <= x <= 1",
        )


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one pipeline run needs; `beam_args` go unchanged to every Beam step."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    beam_args: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


STAGE_CONFIGS = {
    "ingest": IngestConfig,
    "transform": TransformConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
}
