"""`--preset`: named starting points for a run's options, which explicit options override."""

import dataclasses

import yaml

from components.common.config import PipelineConfig, TaskConfig, task_defaults
from components.common.tasks import FORECAST, SENTIMENT
from pipeline.cli import build_parser, config_from_args, defaults_for, main


def run_config(*argv: str) -> PipelineConfig:
    argv = ["run", *argv]
    return config_from_args(build_parser(defaults_for(argv)).parse_args(argv), [])


def test_the_default_preset_is_the_tasks_defaults():
    config = run_config()
    assert config == task_defaults(SENTIMENT) and config.task.preset == "default"
    # Sentiment's default classifier, not the dataclasses' walkthrough values.
    train = config.train
    assert (train.model_type, train.epochs, train.embedding_init) == ("bigru", 2, "ppmi-svd")
    assert (config.transform.max_seq_len, config.ingest.eval_fraction) == (400, 0.05)
    forecast = run_config("--task", "forecast")
    assert forecast == task_defaults(FORECAST)
    assert forecast.window.forecast_target == "change" and forecast.ingest.source == "sine:"


def test_a_preset_sets_its_fields_and_explicit_options_override_them():
    config = run_config("--preset", "best", "--epochs", "1", "--model", "gru")
    best = task_defaults(SENTIMENT, "best")
    assert (config.train.epochs, config.train.model_type) == (1, "gru")
    assert dataclasses.replace(config.train, epochs=best.train.epochs, model_type="bigru") == (
        best.train
    )
    assert (config.transform.max_seq_len, config.transform.vocab_size) == (400, 20_000)
    assert config.train.embedding_init == "ppmi-svd" and config.ingest.eval_fraction == 0.05
    # The unlabeled reviews give the vocabulary and the word vectors more text.
    assert config.ingest.unlabeled and config.transform.vocabulary_text == "train+unlabeled"
    assert config.train.embedding_text == "train+unlabeled" and config.train.patience == 3
    assert config.train.members == 2  # An ensemble of two, seeds --seed and --seed + 1.
    # The run summary's config records the preset.
    assert config.to_dict()["task"] == {"task": SENTIMENT, "preset": "best"}


def test_the_walkthrough_preset_spells_out_the_walkthroughs_settings():
    walkthrough = task_defaults(SENTIMENT, "walkthrough")
    assert (walkthrough.transform.vocab_size, walkthrough.transform.max_seq_len) == (10_000, 120)
    train = walkthrough.train
    assert (train.model_type, train.embedding_dim, train.units, train.dense_units) == (
        "lstm",
        32,
        64,
        64,
    )
    assert (train.epochs, train.batch_size, train.pooling, train.dropout) == (10, 32, "last", 0)
    # Every sentiment default that differs from the walkthrough is set back: the preset is the
    # dataclasses' own values, which are the walkthrough's.
    assert walkthrough == dataclasses.replace(
        PipelineConfig(), task=TaskConfig(SENTIMENT, "walkthrough")
    )
    # The labs forecast the level; the forecast keeps its own source.
    forecast = run_config("--task", "forecast", "--preset", "walkthrough")
    assert forecast.window.forecast_target == "level" and forecast.ingest.source == "sine:"


def test_compile_takes_a_presets_values_as_the_pipelines_defaults(tmp_path):
    output = tmp_path / "best.yaml"
    assert main(["compile", "--output", str(output), "--preset", "best"]) == 0
    parameters = next(yaml.safe_load_all(output.read_text()))["root"]["inputDefinitions"]
    defaults = {name: p.get("defaultValue") for name, p in parameters["parameters"].items()}
    assert defaults["model_types"] == ["bigru"] and defaults["max_seq_len"] == 400


def test_an_unknown_preset_exits_2_naming_the_choices(tmp_path, capsys):
    commands = [
        ["run", "--preset", "fastest", "--output-dir", str(tmp_path / "out")],
        ["compile", "--output", str(tmp_path / "p.yaml"), "--preset", "fastest"],
    ]
    for command in commands:
        assert main(command) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error == (
            "lstm-pipeline: error: --preset='fastest' is not allowed: "
            "one of ('default', 'walkthrough', 'best')"
        )
    assert not (tmp_path / "out").exists() and not (tmp_path / "p.yaml").exists()
