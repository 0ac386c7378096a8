"""`lstm-pipeline submit` against a fake Kubeflow Pipelines API server on 127.0.0.1.

This is how the cluster path is tested: the real kfp client talks HTTP to a server that
implements the v2beta1 endpoints it calls, and the test checks what the server received.
"""

import json

import pytest
import yaml

from pipeline.cli import main
from tests.fake_kfp_server import API, FakeKfpServer

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def server():
    with FakeKfpServer() as fake:
        yield fake


def submit(server, capsys, *args) -> tuple[int, dict, str]:
    status = main(["submit", "--host", server.url, "--poll-seconds", "0.01", *args])
    out, err = capsys.readouterr()
    # The result is the one JSON object submit prints; anything else on stdout is not ours.
    results = [line for line in out.splitlines() if line.startswith("{")]
    assert len(results) <= 1, out
    return status, json.loads(results[0]) if results else {}, out + err


def test_submit_uploads_creates_a_run_and_prints_its_link(server, capsys, monkeypatch):
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    status, result, output = submit(
        server,
        capsys,
        "--experiment",
        "nightly",
        "--run-name",
        "try-1",
        "--param",
        "epochs=3",
        "--param",
        "model_type=gru",
        "--image",
        "registry.example/lstm:2",
    )
    assert status == 0
    (run,) = server.state.runs.values()
    assert result["run_id"] == run["run_id"]
    assert result["url"] == f"{server.url}/#/runs/details/{run['run_id']}"
    assert run["display_name"] == "try-1"
    assert run["runtime_config"]["parameters"] == {"epochs": 3, "model_types": ["gru"]}
    (experiment,) = server.state.experiments.values()
    assert experiment["display_name"] == "nightly"
    assert run["experiment_id"] == experiment["experiment_id"]
    assert run["pipeline_version_reference"]["pipeline_version_id"] == result["pipeline_version_id"]

    # The uploaded package is the compiled pipeline with the requested image.
    (upload,) = [r for r in server.state.requests if r.path == f"{API}/pipelines/upload"]
    package = upload.body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
    spec = next(yaml.safe_load_all(package))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/lstm:2"}

    # The token authenticates every request and is never printed.
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.state.requests)
    assert TOKEN not in output


def test_resubmitting_unchanged_code_reuses_the_pipeline_version(server, capsys):
    first = submit(server, capsys)[1]
    second = submit(server, capsys)[1]
    # The server's own first version plus ours, once.
    assert len(server.state.pipelines) == 1 and len(server.state.versions) == 2
    assert first["pipeline_version_id"] == second["pipeline_version_id"]
    assert len(server.state.runs) == 2
    changed = submit(server, capsys, "--image", "registry.example/lstm:3")[1]
    assert len(server.state.versions) == 3
    assert changed["pipeline_version_id"] != first["pipeline_version_id"]


def test_wait_follows_the_run_and_fails_when_it_fails(server, capsys):
    status, result, _ = submit(server, capsys, "--wait")
    assert status == 0 and result["state"] == "SUCCEEDED"
    server.state.run_states = ["RUNNING", "RUNNING", "FAILED"]
    status, result, _ = submit(server, capsys, "--wait")
    assert status == 1 and result["state"] == "FAILED"


def test_schedule_creates_a_recurring_run(server, capsys, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    status, result, output = submit(
        server, capsys, "--schedule", "0 0 3 * * *", "--token-file", str(token_file)
    )
    assert status == 0
    (recurring,) = server.state.recurring_runs.values()
    assert result["recurring_run_id"] == recurring["recurring_run_id"]
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert not server.state.runs
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.state.requests)
    assert TOKEN not in output


def test_forecast_submits_the_forecast_pipeline_under_its_name(server, capsys):
    status, _, _ = submit(server, capsys, "--task", "forecast", "--param", "lookback=60")
    assert status == 0
    (run,) = server.state.runs.values()
    assert run["runtime_config"]["parameters"] == {"lookback": 60}
    assert run["display_name"].startswith("lstm-forecast-")
    (pipeline,) = server.state.pipelines.values()
    assert pipeline["display_name"] == "lstm-forecast"
    (upload,) = [r for r in server.state.requests if r.path == f"{API}/pipelines/upload"]
    package = upload.body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
    spec = next(yaml.safe_load_all(package))
    assert spec["pipelineInfo"]["name"] == "lstm-forecast"
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["source"]["defaultValue"] == "sine:"
    assert "task" not in parameters and "vocab_size" not in parameters


@pytest.mark.parametrize(
    "args, message",
    [
        (["--param", "epochs=0"], "--epochs=0 is not allowed"),
        (["--task", "forecast", "--param", "lookback=0"], "--lookback=0 is not allowed"),
        (
            ["--task", "forecast", "--param", "source=tfds:imdb_reviews"],
            "with --task forecast, KIND[:LOCATION] with KIND in ('sine', 'csv')",
        ),
        (["--param", "colour=red"], "--param='colour=red' is not allowed"),
        # Each task's pipeline takes only its own parameters.
        (["--task", "forecast", "--param", "vocab_size=5000"], "--param='vocab_size=5000'"),
        (["--param", "lookback=10"], "--param='lookback=10' is not allowed"),
        (["--param", "epochs=many"], "epochs is a int"),
        (["--schedule", "0 0 3 * * *", "--wait"], "--wait is not allowed with --schedule"),
    ],
)
def test_bad_values_exit_2_before_contacting_the_cluster(server, capsys, args, message):
    status, _, output = submit(server, capsys, *args)
    assert status == 2
    assert message in output
    assert not server.state.requests
