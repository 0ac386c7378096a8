import pytest

from components.common.artifacts import LEADERBOARD_FILE, MODEL_INFO_FILE
from components.common.io import read_json, write_json
from components.common.tasks import FORECAST, SENTIMENT
from components.compare.compare import run_compare


def fake_model(tmp_path, model_type: str, eval_accuracy: float, total_params: int) -> str:
    """A model folder as train leaves it, as far as compare reads it."""
    model_dir = tmp_path / model_type
    model_dir.mkdir()
    write_json(
        str(model_dir / MODEL_INFO_FILE),
        {
            "type": model_type,
            "eval_accuracy": eval_accuracy,
            "eval_loss": 1 - eval_accuracy,
            "total_params": total_params,
            "epochs_trained": 3,
            "best_epoch": 2,
            "train_seconds": 12.34,
        },
    )
    (model_dir / "weights").write_text(model_type)
    return str(model_dir)


def test_the_champion_has_the_best_eval_accuracy_and_ties_go_to_the_smaller_model(tmp_path):
    models = [
        fake_model(tmp_path, "lstm", 0.85, 349_057),
        fake_model(tmp_path, "stacked-bilstm", 0.87, 476_801),
        fake_model(tmp_path, "bilstm", 0.87, 377_985),
        fake_model(tmp_path, "gru", 0.80, 343_041),
    ]
    champion, board = tmp_path / "champion", tmp_path / "board"
    result = run_compare(SENTIMENT, models, str(champion), str(board))
    assert result["champion"] == "bilstm"
    assert [row["model_type"] for row in result["models"]] == [
        "bilstm",
        "stacked-bilstm",
        "lstm",
        "gru",
    ]
    assert (champion / "weights").read_text() == "bilstm"
    assert read_json(str(board / LEADERBOARD_FILE)) == result
    assert all("model_dir" not in row for row in result["models"])


def test_no_models_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no trained models"):
        run_compare(SENTIMENT, [], str(tmp_path / "c"), str(tmp_path / "b"))


def test_a_forecast_champion_has_the_lowest_eval_loss(tmp_path):
    models = [
        fake_model(tmp_path, "lstm", 0.0, 21_121),
        fake_model(tmp_path, "stacked-lstm", 0.0, 54_145),
    ]
    # Forecasters have no accuracy: their eval loss (MSE) and RMSE decide.
    for model_dir, loss in zip(models, (0.02, 0.01), strict=True):
        info = read_json(f"{model_dir}/{MODEL_INFO_FILE}")
        del info["eval_accuracy"]
        write_json(
            f"{model_dir}/{MODEL_INFO_FILE}", dict(info, eval_loss=loss, eval_rmse=loss**0.5)
        )
    result = run_compare(FORECAST, models, str(tmp_path / "c"), str(tmp_path / "b"))
    assert result["champion"] == "stacked-lstm" and result["selected_by"] == "eval_loss"
    assert result["models"][0]["eval_rmse"] == 0.01**0.5
