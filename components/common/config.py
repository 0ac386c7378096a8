"""Typed, frozen configuration of every stage: the one place that defines each default.

Each stage's core function takes its own config object. The CLI, the KFP pipeline parameters and
the components all take their defaults from the dataclass fields below.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from components.common import features as F
from components.common.tasks import FORECAST, SENTIMENT, TASKS

MODEL_TYPES = ("lstm", "bilstm", "stacked-bilstm", "gru", "stacked-lstm", "bigru")
POOLING_MODES = ("last", "max", "max-mean")
PUNCTUATION_MODES = ("drop", "keep")
EMBEDDING_INITS = ("random", "ppmi-svd")
# What text the vocabulary and the word vectors are learned from (splits joined by "+"): never
# eval or test.
TEXT_SOURCES = ("train", f"train+{F.UNLABELED_SPLIT}")
SOURCE_KINDS = ("tfds", "aclimdb", "csv", "jsonl", "sine")
DEFAULT_TFDS_DATASET = "imdb_reviews"
SCALINGS = ("zscore", "minmax")
PRESETS = ("default", "walkthrough", "best")
FORECAST_TARGETS = ("change", "level")


def text_splits(text_source: str) -> tuple[str, ...]:
    """The splits a TEXT_SOURCES value names: ("train",) or ("train", "unlabeled")."""
    return tuple(text_source.split("+"))


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the option, value and rule."""


def _require(condition: bool, option: str, value: object, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"--{option.replace('_', '-')}={value!r} is not allowed: {allowed}")


# Integer options become TensorFlow shapes, Keras layer sizes and vocabulary ranks, which take
# 32-bit integers; seeds go to numpy, which takes 0 .. 2**32 - 1.
INT_LIMIT = 2**31 - 1
SEED_LIMIT = 2**32 - 1
SEED_FIELDS = ("seed", "sine_seed")


def require_plain_numbers(options: object) -> None:
    """Raises ConfigError for a float field of the dataclass `options` that is NaN or infinite,
    or an integer field outside what its consumers take, before a later step fails on it."""
    for option in dataclasses.fields(options):
        value = getattr(options, option.name)
        if isinstance(value, float):
            _require(math.isfinite(value), option.name, value, "a finite number")
        elif isinstance(value, int) and not isinstance(value, bool):
            if option.name in SEED_FIELDS:
                _require(0 <= value <= SEED_LIMIT, option.name, value, "0 <= x <= 2**32 - 1")
            else:
                _require(abs(value) <= INT_LIMIT, option.name, value, "at most 2**31 - 1")


@dataclass(frozen=True)
class Source:
    """Where ingest reads a task's data from, parsed from `KIND[:LOCATION]`."""

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
        if kind == "sine":
            _require(
                not location, "source", spec, "sine: takes no location, --sine-* options shape it"
            )
            return cls(kind, location)
        _require(bool(location), "source", spec, f"{kind}:PATH needs a path")
        return cls(kind, location)


@dataclass(frozen=True)
class IngestConfig:
    """Ingest: read a source and write train/eval/test tf.Examples.

    `source` and `max_quarantine_fraction` serve every task; the other fields are how
    sentiment reads labeled text (a forecast's series is read as SeriesConfig says).

    Attributes:
        source: `tfds[:NAME]`, `aclimdb:PATH` (directory or .tar.gz), `csv:PATH` or `jsonl:PATH`.
            A csv/jsonl PATH is a directory with `train*` and `test*` files, or one file whose
            records name their split in `split_field`. With --task forecast: `sine:` (a
            generated series) or `csv:PATH` (a dated series, one file or a folder of them).
        data_dir: tensorflow-datasets data directory; empty means TFDS_DATA_DIR or tfds' default.
        text_field: field holding the text (csv/jsonl records, tfds features).
        label_field: field holding the label: 0/1, neg/pos, negative/positive or false/true.
        split_field: field of a single csv/jsonl file naming each record's split (train/test).
        eval_fraction: share of the source's train split carved out, deterministically, as eval.
        max_examples: read at most this many records of each source split (0: all).
        max_text_bytes: longer texts are quarantined as text_too_long.
        max_quarantine_fraction: ingest fails when more than this share of records is
            quarantined: past it, the source is more likely broken than a few records.
        unlabeled: also read the source's unlabeled reviews into the `unlabeled` output
            (sentiment only): tfds' `unsupervised` split, aclImdb's `train/unsup`, and csv/jsonl
            records of the train split (or split `unlabeled`, or `unlabeled*` files) whose label
            is empty. They are checked and quarantined like the rest, never reach train, eval
            or test, and feed only --vocabulary-text, --embedding-text and pretraining. On,
            ingest fails when the source has none. Off: such records are not read (csv/jsonl:
            quarantined as unknown_label).
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
    unlabeled: bool = False

    def __post_init__(self) -> None:
        require_plain_numbers(self)
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
            With the walkthrough's 120 ids, dropping measured higher test accuracy on IMDB
            (docs/results.md): marks crowd out words; the 400 ids of sentiment's default keep
            them.
        vocabulary_text: the reviews the vocabulary is counted on, one of TEXT_SOURCES:
            "train", or "train+unlabeled" adding ingest's unlabeled reviews (--unlabeled), so
            words the labeled reviews rarely use get ids too. Never eval or test.
    """

    vocab_size: int = 10_000
    max_seq_len: int = 120
    punctuation: str = "drop"
    vocabulary_text: str = "train"

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(self.vocab_size >= 3, "vocab_size", self.vocab_size, "3 or more")
        _require(self.max_seq_len >= 1, "max_seq_len", self.max_seq_len, "1 or more")
        _require(
            self.punctuation in PUNCTUATION_MODES,
            "punctuation",
            self.punctuation,
            f"one of {PUNCTUATION_MODES}",
        )
        _require(
            self.vocabulary_text in TEXT_SOURCES,
            "vocabulary_text",
            self.vocabulary_text,
            f"one of {TEXT_SOURCES}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Train: a Keras recurrent classifier over the transformed id sequences.

    Attributes:
        model_type: one of MODEL_TYPES (the walkthrough's models), several separated by commas,
            or "all": several are trained side by side and the one with the best eval-split
            accuracy (forecasting: the lowest eval loss), the champion, is evaluated and
            exported. For forecasting, the same recurrent layers read the window of values.
        epochs: most epochs to train; early stopping on the eval split may end sooner.
        batch_size: examples per gradient step.
        embedding_dim: width of the word embedding (sentiment only).
        embedding_init: how the embedding starts (sentiment only): "random" (the walkthrough) or
            "ppmi-svd": word vectors computed from how the train split's reviews use each word,
            before training reads a label (components/train/embeddings.py); they lift test
            accuracy by about 0.01 (docs/results.md, the best recurrent model's sweeps).
        embedding_text: the reviews "ppmi-svd" learns word vectors from, one of TEXT_SOURCES:
            "train", or "train+unlabeled" adding ingest's unlabeled reviews (--unlabeled).
            Never eval or test.
        units: units of each recurrent layer (per direction).
        dense_units: units of the ReLU layer before the output.
        pooling: "last": the classifier reads the recurrent layer's final state (the
            walkthrough); "max": the maximum of its outputs over every time step, so a telling
            phrase early in a long review counts as much as its ending; "max-mean": that
            maximum and the mean, side by side.
        dropout: share of embedding channels and of recurrent features dropped while training
            (0: none, the walkthrough); forecasting, of the recurrent features only.
        learning_rate: Adam's learning rate in the first epoch.
        learning_rate_decay: each later epoch's learning rate is the previous one's times this
            (1: constant, the walkthrough); below 1, late epochs fine-tune instead of overfit.
        patience: epochs without eval-accuracy improvement (forecasting: eval-loss) before
            stopping; the best weights are restored.
        seed: seed of weight initialization and shuffling.
        members: models trained one after another, with seeds seed, seed + 1, ..., each as a
            training with that seed alone would be; above 1, the model written is their
            ensemble, the mean of their outputs (for IMDB's best preset two members lift test
            accuracy by 0.005 on average, 0.009 on the weakest seed: README, The best preset).
        memory_budget_mb: most MB of a split's transformed examples training holds in memory
            (IMDB's train split takes about 21); a larger split is written once to a scratch file
            (in TMPDIR) and read from it a batch at a time: the same batches in the same
            order, so the same model, with memory that stays flat as the data grows. 0: always
            from files.
    """

    model_type: str = "lstm"
    epochs: int = 10
    batch_size: int = 32
    embedding_dim: int = 32
    embedding_init: str = "random"
    embedding_text: str = "train"
    units: int = 64
    dense_units: int = 64
    pooling: str = "last"
    dropout: float = 0.0
    learning_rate: float = 1e-3
    learning_rate_decay: float = 1.0
    patience: int = 2
    seed: int = 42
    members: int = 1
    memory_budget_mb: int = 256

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(
            bool(self.model_types) and set(self.model_types) <= set(MODEL_TYPES),
            "model",
            self.model_type,
            f"one or more of {MODEL_TYPES} separated by commas, or 'all'",
        )
        for name in (
            "epochs",
            "batch_size",
            "embedding_dim",
            "units",
            "dense_units",
            "patience",
            "members",
        ):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "1 or more")
        _require(
            self.seed + self.members - 1 <= SEED_LIMIT,
            "members",
            self.members,
            f"at most {SEED_LIMIT + 1 - self.seed} with --seed={self.seed}: the members' seeds "
            "run from --seed to --seed + members - 1, at most 2**32 - 1",
        )
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "more than 0")
        _require(
            0 < self.learning_rate_decay <= 1,
            "learning_rate_decay",
            self.learning_rate_decay,
            "0 < x <= 1",
        )
        _require(
            self.embedding_init in EMBEDDING_INITS,
            "embedding_init",
            self.embedding_init,
            f"one of {EMBEDDING_INITS}",
        )
        _require(
            self.embedding_text in TEXT_SOURCES,
            "embedding_text",
            self.embedding_text,
            f"one of {TEXT_SOURCES}",
        )
        _require(self.pooling in POOLING_MODES, "pooling", self.pooling, f"one of {POOLING_MODES}")
        _require(0 <= self.dropout < 1, "dropout", self.dropout, "0 <= x < 1")
        _require(self.memory_budget_mb >= 0, "memory_budget_mb", self.memory_budget_mb, "0 or more")

    @property
    def model_types(self) -> tuple[str, ...]:
        """The model types to train, in the order given, each once."""
        if self.model_type == "all":
            return MODEL_TYPES
        names = (name.strip() for name in self.model_type.split(","))
        return tuple(dict.fromkeys(name for name in names if name))

    def member_configs(self) -> tuple[TrainConfig, ...]:
        """Each member's configuration: this one for a single model with the member's seed."""
        return tuple(
            dataclasses.replace(self, seed=self.seed + k, members=1) for k in range(self.members)
        )


@dataclass(frozen=True)
class PretrainConfig:
    """Pretrain (sentiment only): each classifier's embedding and first recurrent layer trained
    as a language model on the train and unlabeled reviews before the classifier fine-tunes
    them (components/pretrain/). Its own --pretrain-seed, not --seed, so a seed sweep of the
    classifier reuses one pretraining.

    Attributes:
        pretrain_tokens: tokens per direction the language model trains on; 0 (the default)
            skips pretraining: both tries measured lowered the classifier's accuracy
            (docs/results.md, pretraining tried).
        pretrain_sampled_words: vocabulary words the sampled softmax scores per step.
        pretrain_window: tokens per training window (how far back gradients flow).
        pretrain_batch_size: windows per step.
        pretrain_learning_rate: Adam's learning rate (gradients clipped to norm 1).
        pretrain_held_out: share of the unlabeled reviews (of train where there are none) held
            out to measure the language model's perplexity.
        pretrain_seed: seed of the language model's weights, samples and windows.
    """

    pretrain_tokens: int = 0
    pretrain_sampled_words: int = 512
    pretrain_window: int = 64
    pretrain_batch_size: int = 128
    pretrain_learning_rate: float = 2e-3
    pretrain_held_out: float = 0.01
    pretrain_seed: int = 0

    def __post_init__(self) -> None:
        _require(self.pretrain_tokens >= 0, "pretrain_tokens", self.pretrain_tokens, "0 or more")
        for name in ("pretrain_sampled_words", "pretrain_window", "pretrain_batch_size"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "1 or more")
        _require(
            self.pretrain_learning_rate > 0,
            "pretrain_learning_rate",
            self.pretrain_learning_rate,
            "more than 0",
        )
        _require(
            0 < self.pretrain_held_out < 1,
            "pretrain_held_out",
            self.pretrain_held_out,
            "0 < x < 1",
        )


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluate: metrics of the serving model on the raw test split, and the blessing.

    Attributes:
        accuracy_threshold: the model is blessed (exported) when test accuracy is at least this.
        max_regression: when export_dir already serves a model, the new one is blessed only if
            its test accuracy is at most this much below the served model's on the same data.
        export_dir: serving destination in TF Serving's layout (`<dir>/<version>/`): the newest
            model there is the one to beat, and blessed models are pushed there. Empty: none.
            A forecast must then have a test RMSE at most max_regression (as a share) above
            the served model's.
        max_rmse_ratio: forecast: blessed (and exported) when test RMSE is at most this times
            the persistence forecast's (1.0: no worse than repeating the last value).
    """

    accuracy_threshold: float = 0.80
    max_regression: float = 0.01
    export_dir: str = ""
    max_rmse_ratio: float = 1.0

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(
            0 <= self.max_regression <= 1, "max_regression", self.max_regression, "0 <= x <= 1"
        )
        _require(
            0 <= self.accuracy_threshold <= 1,
            "accuracy_threshold",
            self.accuracy_threshold,
            "0 <= x <= 1",
        )
        _require(self.max_rmse_ratio > 0, "max_rmse_ratio", self.max_rmse_ratio, "more than 0")


@dataclass(frozen=True)
class TaskConfig:
    """What the pipeline learns; each task has its own pipeline (components/common/tasks.py).

    Attributes:
        task: "sentiment": classify review text as positive or negative; "forecast": predict a
            time series `--horizon` steps ahead from its last `--lookback` values.
        preset: the named settings a run starts from, one of PRESETS; options given explicitly
            override them. "default": the options' own defaults; "walkthrough": the
            walkthrough's model and data settings; "best": the best configuration measured,
            wider and slower than the default (README, Results).
    """

    task: str = SENTIMENT
    preset: str = "default"

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(self.task in TASKS, "task", self.task, f"one of {tuple(TASKS)}")
        _require(self.preset in PRESETS, "preset", self.preset, f"one of {PRESETS}")


def check_ingest_for_task(config: IngestConfig, task: str) -> None:
    """Raises ConfigError when `config.source` is not a kind of source that `task` can read, or
    asks a series for unlabeled reviews."""
    # csv means labeled text for sentiment and a dated series for forecast.
    kinds = TASKS[task].source_kinds
    _require(
        Source.parse(config.source).kind in kinds,
        "source",
        config.source,
        f"with --task {task}, KIND[:LOCATION] with KIND in {kinds}",
    )
    _require(
        task == SENTIMENT or not config.unlabeled,
        "unlabeled",
        config.unlabeled,
        f"with --task {task}: only reviews come unlabeled",
    )


@dataclass(frozen=True)
class SeriesConfig:
    """Ingest for --task forecast: the series and its chronological splits.

    Attributes:
        date_field: csv column with each row's date, ISO 8601 (2017-08-11) or day-month-year
            (11-Aug-17); rows are put in date order whatever their order in the file.
        target: csv column to forecast, or several separated by commas to forecast their
            average (e.g. High,Low). Other columns are not read.
        sine_length: points of the generated `sine:` series.
        sine_period: steps per cycle of the sine.
        sine_amplitude: amplitude of the sine.
        sine_noise: standard deviation of the Gaussian noise added to each sine point, the
            error floor no forecast can beat.
        sine_seed: seed of that noise.
        series_train_fraction: the first share of the series in time: training data and the
            only data the scaling statistics see.
        series_eval_fraction: the share right after it, for early stopping; the rest, the
            newest values, is the test period.
    """

    date_field: str = "Date"
    target: str = "Close"
    sine_length: int = 2000
    sine_period: float = 50.0
    sine_amplitude: float = 1.0
    sine_noise: float = 0.1
    sine_seed: int = 0
    series_train_fraction: float = 0.7
    series_eval_fraction: float = 0.15

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(bool(self.date_field.strip()), "date_field", self.date_field, "a column name")
        columns = self.target_columns
        _require(
            all(columns) and len(set(columns)) == len(columns),
            "target",
            self.target,
            "column names separated by commas, each once",
        )
        _require(self.sine_length >= 2, "sine_length", self.sine_length, "2 or more")
        _require(self.sine_period > 0, "sine_period", self.sine_period, "more than 0")
        _require(self.sine_noise >= 0, "sine_noise", self.sine_noise, "0 or more")
        for name in ("series_train_fraction", "series_eval_fraction"):
            _require(0 < getattr(self, name) < 1, name, getattr(self, name), "0 < x < 1")
        _require(
            self.series_train_fraction + self.series_eval_fraction < 1,
            "series_eval_fraction",
            self.series_eval_fraction,
            f"less than 1 - --series-train-fraction ({self.series_train_fraction}), "
            "so a test period remains",
        )

    @property
    def target_columns(self) -> tuple[str, ...]:
        return tuple(column.strip() for column in self.target.split(","))


@dataclass(frozen=True)
class WindowConfig:
    """Transform for --task forecast: scaling and the windows the model learns from.

    Attributes:
        lookback: past values each forecast reads.
        horizon: how many steps after the last value read the forecast is for (1: the next).
        scaling: "zscore" (mean 0, standard deviation 1) or "minmax" (0 to 1), with statistics
            of the train period only, applied to every period.
        forecast_target: what the model learns. "change": the change from the last value read,
            from the window's values relative to that last value, both in units of the train
            period's one-step changes (their standard deviation); the forecast is the last value
            plus the predicted change, so the model starts from persistence. "level": the scaled
            value itself (the walkthrough's labs). A daily price is close to a random walk:
            "change" measured 0.999 to 1.007 x persistence's test RMSE on AAPL over three seeds,
            "level" 2.29 x (docs/forecasting.md, results).
    """

    lookback: int = 30
    horizon: int = 1
    scaling: str = "zscore"
    forecast_target: str = "change"

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(self.lookback >= 1, "lookback", self.lookback, "1 or more")
        _require(self.horizon >= 1, "horizon", self.horizon, "1 or more")
        _require(self.scaling in SCALINGS, "scaling", self.scaling, f"one of {SCALINGS}")
        _require(
            self.forecast_target in FORECAST_TARGETS,
            "forecast_target",
            self.forecast_target,
            f"one of {FORECAST_TARGETS}",
        )


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one pipeline run needs; `beam_args` go unchanged to every Beam step."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    series: SeriesConfig = field(default_factory=SeriesConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    beam_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        check_ingest_for_task(self.ingest, self.task.task)
        if self.task.task == SENTIMENT and not self.ingest.unlabeled:
            for option, text in (
                ("vocabulary_text", self.transform.vocabulary_text),
                ("embedding_text", self.train.embedding_text),
            ):
                _require(
                    F.UNLABELED_SPLIT not in text_splits(text),
                    option,
                    text,
                    "the unlabeled reviews need --unlabeled",
                )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


STAGE_CONFIGS = {
    "task": TaskConfig,
    "ingest": IngestConfig,
    "series": SeriesConfig,
    "transform": TransformConfig,
    "window": WindowConfig,
    "pretrain": PretrainConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
}

# The defaults that differ by task; all others are shared. `sine:` works anywhere, offline.
# Sentiment's default classifier is the best measured to finish a full local run on 2 cores
# within 5 minutes: a bidirectional GRU over each review's last 400 tokens, word vectors from
# the train split, two epochs (README, Results: test accuracy per seed). The dataclasses' own
# values are the walkthrough's, which forecasting keeps.
TASK_DEFAULTS = {
    SENTIMENT: {
        "ingest": {"eval_fraction": 0.05},
        "transform": {"vocab_size": 20_000, "max_seq_len": 400, "punctuation": "keep"},
        "train": {
            "model_type": "bigru",
            "epochs": 2,
            "batch_size": 128,
            "learning_rate": 2e-3,
            "embedding_dim": 128,
            "embedding_init": "ppmi-svd",
            "pooling": "max-mean",
            "dropout": 0.4,
            "learning_rate_decay": 0.3,
        },
    },
    FORECAST: {"ingest": {"source": "sine:"}},
}

# The walkthrough's recurrent model and its data settings, spelled out in full so the preset
# stays the walkthrough's when the defaults change. The eval split and early stopping on it
# stay ours: the walkthrough validated on the test set.
_WALKTHROUGH_MODEL = {
    "model_type": "lstm",
    "epochs": 10,
    "batch_size": 32,
    "units": 64,
    "dense_units": 64,
    "pooling": "last",
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "learning_rate_decay": 1.0,
}
# Task -> preset -> stage -> fields that differ from the task's defaults. "default" is the
# task's defaults as they are.
PRESET_FIELDS = {
    SENTIMENT: {
        "default": {},
        "walkthrough": {
            "ingest": {"eval_fraction": 0.1},
            "transform": {"vocab_size": 10_000, "max_seq_len": 120, "punctuation": "drop"},
            "train": {**_WALKTHROUGH_MODEL, "embedding_dim": 32, "embedding_init": "random"},
        },
        # The best configuration measured on full IMDB: the default classifier widened
        # (512-wide word vectors, 192 units a direction), its vocabulary and word vectors from
        # the unlabeled reviews too, a third epoch, and an ensemble of two such models
        # (README, The best preset: its seeds).
        "best": {
            "ingest": {"unlabeled": True},
            "transform": {"vocabulary_text": "train+unlabeled"},
            "train": {
                "embedding_text": "train+unlabeled",
                "embedding_dim": 512,
                "units": 192,
                "epochs": 3,
                "patience": 3,
                "members": 2,
            },
        },
    },
    FORECAST: {
        "default": {},
        # The labs forecast the level itself.
        "walkthrough": {"window": {"forecast_target": "level"}, "train": _WALKTHROUGH_MODEL},
        # The default forecasts the change, the best measured (README, Forecasting results).
        "best": {},
    },
}


def task_defaults(task: str, preset: str = "default") -> PipelineConfig:
    """The configuration a run of `task` starts from with `preset`, before its options change
    it."""
    task_config = TaskConfig(task, preset)
    fields_by_stage = TASK_DEFAULTS[task_config.task]
    preset_fields = PRESET_FIELDS[task_config.task][task_config.preset]
    stages = {
        stage: STAGE_CONFIGS[stage](
            **{**fields_by_stage.get(stage, {}), **preset_fields.get(stage, {})}
        )
        for stage in set(fields_by_stage) | set(preset_fields)
    }
    return PipelineConfig(task=task_config, **stages)


@dataclass(frozen=True)
class ServeConfig:
    """Serve: an exported model behind KServe's model server (`lstm-pipeline serve`).

    Attributes:
        model_dir: an export destination in TF Serving's layout (`<dir>/<version>/`: the newest
            version is served, and a newer one written there later replaces it), or one
            version folder (served as it is).
        model_name: the name in the request paths, e.g. /v1/models/NAME:predict.
        host: address to listen on; 0.0.0.0 for every interface (as in a container).
        port: HTTP port.
        max_body_bytes: requests with a larger body are refused (413) before they are read.
        poll_seconds: how often the export destination is checked for a newer version
            (TF Serving checks every second); 0 never checks.
        grace_seconds: on SIGTERM, how long requests in flight may take to finish.
    """

    model_dir: str
    model_name: str = "lstm-sentiment"
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10_000_000
    poll_seconds: float = 1.0
    grace_seconds: int = 30

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        _require(bool(self.model_dir), "model_dir", self.model_dir, "a folder")
        _require(
            re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.model_name) is not None,
            "model_name",
            self.model_name,
            "letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
        _require(0 <= self.port <= 65535, "port", self.port, "0 to 65535 (0: any free port)")
        _require(self.max_body_bytes >= 1, "max_body_bytes", self.max_body_bytes, "1 or more")
        _require(self.poll_seconds >= 0, "poll_seconds", self.poll_seconds, "0 (never) or more")
        _require(self.grace_seconds >= 0, "grace_seconds", self.grace_seconds, "0 or more")
