import numpy as np
import pytest

from components.common.config import ConfigError, PretrainConfig, TrainConfig
from components.common.encoder import (
    BACKWARD,
    FORWARD,
    read_encoder,
    read_pretrain_summary,
)
from components.common.tasks import SENTIMENT
from components.pretrain.pretrain import held_out_rows, run_pretrain, token_stream
from components.train import train as train_module
from components.train.learning import FileSplit, InMemorySplit
from components.train.models import EMBEDDING_LAYER

# The transformed fixture has a vocabulary of 24 ids; a tiny encoder learns it in seconds.
TINY = {"embedding_dim": 8, "units": 8}


def _pretrain(config, model_type, transformed, output) -> dict:
    return run_pretrain(config, model_type, 8, 8, transformed["data"], transformed["graph"], output)


def _train(config, transformed, model_dir, pretrain_dir) -> dict:
    return train_module.run_train(
        SENTIMENT,
        config,
        transformed["data"],
        transformed["graph"],
        model_dir,
        pretrain_dir=pretrain_dir,
    )


QUICK = PretrainConfig(
    pretrain_tokens=30_000,
    pretrain_sampled_words=8,
    pretrain_window=16,
    pretrain_batch_size=16,
    pretrain_learning_rate=0.01,
    pretrain_held_out=0.2,
)


def test_token_stream_strips_padding_and_ends_each_review():
    ids = np.array([[0, 0, 5, 6], [7, 8, 9, 3]])
    assert token_stream(ids).tolist() == [5, 6, 0, 7, 8, 9, 3, 0]


def test_held_out_rows_do_not_depend_on_order():
    ids = np.random.default_rng(0).integers(2, 50, (400, 10))
    held_out = held_out_rows(ids, 0.25)
    assert 60 < held_out.sum() < 140
    assert np.array_equal(held_out_rows(ids[::-1], 0.25), held_out[::-1])


def test_pretraining_loss_falls_in_both_directions(tmp_path, transformed):
    output = str(tmp_path / "encoder")
    summary = _pretrain(QUICK, "bigru", transformed, output)
    curve = [point["sampled_loss"] for point in summary["loss_curve"]]
    assert curve[-1] < 0.9 * curve[0]
    for direction in (FORWARD, BACKWARD):
        after = summary["held_out_perplexity"][direction]
        assert after < 0.7 * summary["held_out_perplexity_at_start"][direction]
    encoder = read_encoder(output)
    assert encoder.embedding.shape == (24, 8)
    assert set(encoder.recurrent) == {FORWARD, BACKWARD}
    assert read_pretrain_summary(output) == summary


def _first_fit_weights(monkeypatch) -> dict:
    """Patches train's fit to record the model's weights as the first fit step sees them."""
    seen = {}
    original = train_module.fit

    def recording_fit(model, *args):
        seen["embedding"] = model.get_layer(EMBEDDING_LAYER).get_weights()[0]
        recurrent = next(layer for layer in model.layers if "bidirectional" in layer.name)
        seen[FORWARD] = recurrent.forward_layer.get_weights()
        seen[BACKWARD] = recurrent.backward_layer.get_weights()
        seen["train"] = args[2]  # fit(model, config, stopping, train, evaluation)
        return original(model, *args)

    monkeypatch.setattr(train_module, "fit", recording_fit)
    return seen


# A budget of 0 MB trains from files (FileSplit), the default from memory (InMemorySplit).
@pytest.mark.parametrize("memory_budget_mb", [TrainConfig().memory_budget_mb, 0])
def test_the_classifier_starts_from_the_pretrained_encoder(
    tmp_path, transformed, monkeypatch, memory_budget_mb
):
    pretrain_dir = str(tmp_path / "encoder")
    _pretrain(QUICK, "bigru", transformed, pretrain_dir)
    encoder = read_encoder(pretrain_dir)
    seen = _first_fit_weights(monkeypatch)
    config = TrainConfig(
        model_type="bigru",
        epochs=1,
        batch_size=32,
        dense_units=4,
        memory_budget_mb=memory_budget_mb,
        **TINY,
    )

    info = _train(config, transformed, str(tmp_path / "model"), pretrain_dir)
    assert isinstance(seen["train"], FileSplit if memory_budget_mb == 0 else InMemorySplit)
    np.testing.assert_array_equal(seen["embedding"], encoder.embedding)
    for direction in (FORWARD, BACKWARD):
        for found, pretrained in zip(seen[direction], encoder.recurrent[direction], strict=True):
            np.testing.assert_array_equal(found, pretrained)
    assert info["pretraining"]["tokens"] == read_pretrain_summary(pretrain_dir)["tokens"] > 0


def test_an_encoder_of_another_model_type_is_a_clear_error(tmp_path, transformed):
    pretrain_dir = str(tmp_path / "encoder")
    config = PretrainConfig(**{**vars(QUICK), "pretrain_tokens": 512})
    _pretrain(config, "gru", transformed, pretrain_dir)
    train = TrainConfig(model_type="bigru", epochs=1, **TINY)
    with pytest.raises(ValueError, match="pretrained for another model type"):
        _train(train, transformed, str(tmp_path / "m"), pretrain_dir)


def test_off_by_default_writes_no_encoder(tmp_path, transformed):
    output = str(tmp_path / "encoder")
    assert PretrainConfig().pretrain_tokens == 0
    assert _pretrain(PretrainConfig(), "lstm", transformed, output) == {"tokens": 0}
    assert read_encoder(output) is None
    with pytest.raises(ConfigError, match="--pretrain-held-out=1.0"):
        PretrainConfig(pretrain_held_out=1.0)
