import dataclasses
import logging
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.common import progress
from components.common.artifacts import (
    HISTORY_FILE,
    MODEL_FILE,
    MODEL_INFO_FILE,
    MODEL_SUMMARY_FILE,
)
from components.common.config import MODEL_TYPES, ConfigError, TrainConfig, task_defaults
from components.common.io import read_json
from components.common.tasks import SENTIMENT
from components.conftest import TINY_TRAIN_CONFIG
from components.train.models import build_model
from components.train.sentiment import transformed_dataset
from components.train.train import log_devices, run_train, write_tensorboard_logs


@pytest.mark.parametrize(
    "model_type, total_params",
    [
        ("lstm", 349_057),
        ("bilstm", 377_985),
        ("stacked-bilstm", 476_801),
        ("gru", 343_041),
        ("stacked-lstm", 382_081),
        ("bigru", 365_953),
    ],
)
def test_the_walkthrough_preset_builds_the_walkthroughs_models(model_type, total_params):
    walkthrough = task_defaults(SENTIMENT, "walkthrough")
    model = build_model(
        model_type,
        walkthrough.transform.vocab_size,
        walkthrough.transform.max_seq_len,
        walkthrough.train.embedding_dim,
        walkthrough.train.units,
        walkthrough.train.dense_units,
        walkthrough.train.pooling,
        walkthrough.train.dropout,
    )
    assert model.count_params() == total_params
    assert model.output_shape == (None, 1)


def test_bad_hyperparameters_name_the_option():
    with pytest.raises(ConfigError, match="--model='transformer'"):
        TrainConfig(model_type="transformer")
    with pytest.raises(ConfigError, match="--batch-size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="--members=0"):
        TrainConfig(members=0)
    with pytest.raises(ConfigError, match="--members=3 is not allowed: at most 2 with --seed="):
        TrainConfig(seed=2**32 - 2, members=3)
    assert [member.seed for member in TrainConfig(seed=2**32 - 2, members=2).member_configs()] == [
        2**32 - 2,
        2**32 - 1,
    ]


def test_model_types_accepts_several_or_all_and_rejects_unknown_ones():
    assert TrainConfig().model_types == ("lstm",)
    assert TrainConfig(model_type="gru, lstm,gru").model_types == ("gru", "lstm")
    assert TrainConfig(model_type="all").model_types == MODEL_TYPES
    for bad in ("lstm,cnn", ",", ""):
        with pytest.raises(ConfigError, match=f"--model={bad!r} is not allowed: one or more"):
            TrainConfig(model_type=bad)


def test_training_learns_and_keeps_the_best_eval_epoch(trained_model_dir, transformed):
    history = read_json(f"{trained_model_dir}/{HISTORY_FILE}")
    info = read_json(f"{trained_model_dir}/{MODEL_INFO_FILE}")
    per_epoch = history["per_epoch"]
    assert set(per_epoch) == {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"}
    assert 1 <= len(per_epoch["val_accuracy"]) <= TINY_TRAIN_CONFIG.epochs
    assert info["type"] == "lstm" and info["transform_config"]["max_seq_len"] == 40
    assert info["eval_accuracy"] == max(per_epoch["val_accuracy"])
    summary = (Path(trained_model_dir) / MODEL_SUMMARY_FILE).read_text()
    assert f"Total params: {info['total_params']:,}" in summary
    assert max(per_epoch["val_accuracy"]) > 0.8  # The generated sentiment words are learnable.

    # Early stopping fired: the best epoch is the first to reach the highest eval accuracy, and
    # training went on for `patience` epochs without beating it.
    best = history["best_epoch"] - 1
    assert best == per_epoch["val_accuracy"].index(max(per_epoch["val_accuracy"]))
    assert len(per_epoch["val_accuracy"]) == best + 1 + TINY_TRAIN_CONFIG.patience
    # The saved model carries the weights of the best eval epoch, not the last one. Eval
    # accuracy saturates at 1.0 on this data, so it cannot tell the epochs apart; eval loss can.
    last_loss, best_loss = per_epoch["val_loss"][-1], per_epoch["val_loss"][best]
    assert abs(last_loss - best_loss) > 100 * 1e-5 * best_loss
    model = keras.saving.load_model(f"{trained_model_dir}/{MODEL_FILE}")
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    evaluation = transformed_dataset(transformed["data"], transformed["graph"], "eval").batch(64)
    loss, accuracy = model.evaluate(evaluation, verbose=0)
    assert loss == pytest.approx(best_loss, rel=1e-5)
    assert accuracy == pytest.approx(per_epoch["val_accuracy"][best], abs=1e-6)


def test_same_seed_gives_the_same_weights(tmp_path, transformed):
    config = TrainConfig(epochs=1, batch_size=16, embedding_dim=4, units=4, dense_units=4)
    weights = []
    for run in range(2):
        model_dir = str(tmp_path / str(run))
        run_train(SENTIMENT, config, transformed["data"], transformed["graph"], model_dir)
        weights.append(keras.saving.load_model(f"{model_dir}/{MODEL_FILE}").get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_an_ensemble_averages_members_each_trained_as_its_seed_alone_would(tmp_path, transformed):
    config = TrainConfig(epochs=2, batch_size=16, embedding_dim=4, units=4, dense_units=4, seed=5)
    alone = {}
    for seed in (5, 6):
        model_dir = str(tmp_path / f"seed-{seed}")
        single = dataclasses.replace(config, seed=seed)
        run_train(SENTIMENT, single, transformed["data"], transformed["graph"], model_dir)
        alone[seed] = keras.saving.load_model(f"{model_dir}/{MODEL_FILE}")
    ensemble_dir = str(tmp_path / "ensemble")
    ensemble = dataclasses.replace(config, members=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Keras warns of an optimizer left unbuilt.
        info = run_train(
            SENTIMENT, ensemble, transformed["data"], transformed["graph"], ensemble_dir
        )
        model = keras.saving.load_model(f"{ensemble_dir}/{MODEL_FILE}")
    assert model.count_params() == sum(member.count_params() for member in alone.values())
    evaluation = transformed_dataset(transformed["data"], transformed["graph"], "eval").batch(64)
    ids, labels = (np.concatenate(part) for part in zip(*evaluation, strict=True))
    mean = np.mean([member.predict(ids, verbose=0) for member in alone.values()], axis=0)
    probabilities = model.predict(ids, verbose=0)
    np.testing.assert_allclose(probabilities, mean, atol=1e-6)
    # The eval accuracy recorded, which compare ranks by, is the ensemble's own.
    accuracy = np.mean((probabilities[:, 0] >= 0.5) == labels)
    assert info["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert [member["seed"] for member in info["members"]] == [5, 6]
    history = read_json(f"{ensemble_dir}/{HISTORY_FILE}")
    assert [member["seed"] for member in history["members"]] == [5, 6]
    assert history["per_epoch"] == history["members"][0]["per_epoch"]


def test_tensorboard_logs_hold_every_epochs_train_and_eval_scalars(tmp_path, trained_model_dir):
    import tensorflow as tf

    log_dir = tmp_path / "logs"
    write_tensorboard_logs(trained_model_dir, str(log_dir))
    per_epoch = read_json(f"{trained_model_dir}/{HISTORY_FILE}")["per_epoch"]
    for run, prefix in (("train", ""), ("validation", "val_")):
        (event_file,) = (log_dir / run).iterdir()
        logged = {}
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                logged.setdefault(value.tag, []).append((event.step, number))
        for name in ("loss", "accuracy"):
            steps, values = zip(*logged[f"epoch_{name}"], strict=True)
            assert list(steps) == list(range(len(per_epoch[prefix + name])))
            assert list(values) == pytest.approx(per_epoch[prefix + name], abs=1e-6)


def test_max_pooling_and_dropout_keep_the_parameter_count_and_regularize_only_in_training():
    import numpy as np

    plain = build_model("bilstm", 100, 12, 8, 4, 4)
    pooled = build_model("bilstm", 100, 12, 8, 4, 4, pooling="max", dropout=0.5)
    assert pooled.count_params() == plain.count_params()
    assert any(isinstance(layer, keras.layers.GlobalMaxPooling1D) for layer in pooled.layers)
    ids = np.arange(24).reshape(2, 12) % 100
    np.testing.assert_array_equal(pooled(ids, training=False), pooled(ids, training=False))
    assert not np.array_equal(pooled(ids, training=True), pooled(ids, training=True))
    # Max and mean side by side: the ReLU layer reads twice the features (2 x 8 -> 4 more).
    both = build_model("bilstm", 100, 12, 8, 4, 4, pooling="max-mean")
    assert both.count_params() == plain.count_params() + 2 * 4 * 4
    with pytest.raises(ConfigError, match="--pooling='mean'"):
        TrainConfig(pooling="mean")
    with pytest.raises(ConfigError, match="--dropout=1.0"):
        TrainConfig(dropout=1.0)


def test_learning_rate_decays_by_the_factor_each_epoch(tmp_path, transformed):
    config = TrainConfig(
        epochs=3,
        patience=3,
        batch_size=16,
        embedding_dim=4,
        units=4,
        dense_units=4,
        learning_rate=0.01,
        learning_rate_decay=0.5,
    )
    run_train(SENTIMENT, config, transformed["data"], transformed["graph"], str(tmp_path / "m"))
    rates = read_json(str(tmp_path / "m" / HISTORY_FILE))["per_epoch"]["learning_rate"]
    assert rates == pytest.approx([0.01, 0.005, 0.0025])
    with pytest.raises(ConfigError, match="--learning-rate-decay=0.0"):
        TrainConfig(learning_rate_decay=0.0)


def test_training_logs_the_devices_tensorflow_sees(caplog):
    with caplog.at_level(logging.INFO, logger="components.train.train"):
        log_devices()
    (line,) = [r.getMessage() for r in caplog.records if "sees" in r.getMessage()]
    assert line == f"train: TensorFlow {tf.__version__} sees CPU:0"  # No GPU on these machines.


def test_training_gives_keras_no_cause_to_warn_and_reports_its_progress(
    tmp_path, transformed, capsys
):
    config = TrainConfig(epochs=2, patience=2, batch_size=16, embedding_dim=4, units=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_train(SENTIMENT, config, transformed["data"], transformed["graph"], str(tmp_path / "m"))
    assert not [w for w in caught if issubclass(w.category, UserWarning)]
    events = [progress.parse(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [event["event"] for event in events if event]
    assert kinds.count(progress.EPOCH_STARTED) == kinds.count(progress.EPOCH_DONE) == 2
    assert progress.BATCH_DONE in kinds  # At least the first batch of each epoch.
    last = [event for event in events if event and event["event"] == progress.EPOCH_DONE][-1]
    assert last["epoch"] == last["epochs"] == 2
    assert set(last["logs"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
