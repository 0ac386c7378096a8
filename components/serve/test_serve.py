"""`lstm-pipeline serve` as a client sees it: a real server process on 127.0.0.1 over models
trained and exported from the generated reviews."""

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf

from components.common import features as F
from components.common.serving import resolve_version_dir
from components.common.tasks import FORECAST, SENTIMENT
from components.conftest import TINY_TRAIN_CONFIG
from components.export.export import run_export
from components.train.train import run_train

MODEL_NAME = "lstm-sentiment"
REVIEWS = [
    "A wonderful, moving film. Loved it!",
    "Boring and awful; a waste of time.",
    "",
    "这部电影很好看 😍",
    "superb " * 300,
]
MAX_BODY_BYTES = 20_000
# Bounds, not timings: how long a server may take to start or to notice a new version here.
START_DEADLINE_S = 180
VERSION_DEADLINE_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`lstm-pipeline serve` in a subprocess, with an HTTP client for it."""

    def __init__(self, model_dir: str, log_path: Path, *options: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "pipeline.cli", "serve", "--model-dir", model_dir]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *options]
        self.log = log_path.open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.logs()
            try:
                if self.client.get("/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"the server did not become ready: {self.logs()}")

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-4000:]

    def v1(self, instances, name=MODEL_NAME) -> httpx.Response:
        return self.client.post(f"/v1/models/{name}:predict", json={"instances": instances})

    def v2(self, texts, path=f"/v2/models/{MODEL_NAME}/infer") -> httpx.Response:
        body = {
            "inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]
        }
        return self.client.post(path, json=body)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.log.close()


def in_process(version_dir: str, texts: list[str]) -> dict[str, np.ndarray]:
    serve = tf.saved_model.load(version_dir).signatures[F.SERVING_SIGNATURE]
    outputs = serve(text=tf.constant(texts))
    return {name: value.numpy() for name, value in outputs.items()}


def write_version(model_dir: str, transform_graph: str, export_dir: Path, version: int) -> str:
    """Exports `model_dir` as `export_dir/<version>`, renamed into place complete, as export's
    push does."""
    staged = run_export(SENTIMENT, transform_graph, model_dir, str(export_dir / "staging"))
    target = export_dir / str(version)
    shutil.move(staged, target)
    shutil.rmtree(export_dir / "staging")
    return str(target)


@pytest.fixture(scope="module")
def one_epoch_model_dir(tmp_path_factory, transformed) -> str:
    model_dir = str(tmp_path_factory.mktemp("one_epoch_model"))
    # Another seed than trained_model_dir's, whose early stopping may keep its first epoch: the
    # two models must answer differently for the version tests to tell them apart.
    config = dataclasses.replace(TINY_TRAIN_CONFIG, epochs=1, seed=TINY_TRAIN_CONFIG.seed + 1)
    run_train(SENTIMENT, config, transformed["data"], transformed["graph"], model_dir)
    return model_dir


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, transformed, one_epoch_model_dir) -> Path:
    root = tmp_path_factory.mktemp("serving")
    write_version(one_epoch_model_dir, transformed["graph"], root, 1)
    return root


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    running = Server(str(export_dir), log, "--max-body-bytes", str(MAX_BODY_BYTES))
    yield running
    running.stop()


def test_v1_and_v2_answer_exactly_what_the_saved_model_computes(server, export_dir):
    expected = in_process(resolve_version_dir(str(export_dir)), REVIEWS)

    v1 = server.v1(REVIEWS)
    assert v1.status_code == 200, v1.text
    predictions = v1.json()["predictions"]
    assert [set(p) for p in predictions] == [{"probability", "label"}] * len(REVIEWS)
    probabilities = np.array([p["probability"] for p in predictions], dtype=np.float32)
    np.testing.assert_array_equal(probabilities, expected[F.SERVING_PROBABILITY_KEY])
    assert [p["label"] for p in predictions] == [
        label.decode() for label in expected[F.SERVING_LABEL_KEY]
    ]

    v2 = server.v2(REVIEWS)
    assert v2.status_code == 200, v2.text
    body = v2.json()
    assert body["model_name"] == MODEL_NAME and body["model_version"] == "1"
    outputs = {output["name"]: output for output in body["outputs"]}
    assert outputs["probability"]["datatype"] == "FP32"
    assert outputs["probability"]["shape"] == [len(REVIEWS)]
    np.testing.assert_array_equal(
        np.array(outputs["probability"]["data"], dtype=np.float32),
        expected[F.SERVING_PROBABILITY_KEY],
    )
    assert outputs["label"]["datatype"] == "BYTES"
    assert outputs["label"]["data"] == [p["label"] for p in predictions]


def test_each_request_gets_its_own_answers(server):
    batch = server.v1(REVIEWS).json()["predictions"]
    singles = [server.v1([review]).json()["predictions"][0] for review in REVIEWS]
    assert [p["label"] for p in singles] == [p["label"] for p in batch]
    # CPU kernels round a batch of 5 and a batch of 1 differently in the last bits.
    np.testing.assert_allclose(
        [p["probability"] for p in singles], [p["probability"] for p in batch], atol=1e-6
    )


def test_health_readiness_metadata_and_metrics(server):
    assert server.client.get("/v2/health/live").json() == {"live": True}
    assert server.client.get("/v2/health/ready").json() == {"ready": True}
    assert server.client.get(f"/v2/models/{MODEL_NAME}/ready").json()["ready"] is True
    assert server.client.get(f"/v1/models/{MODEL_NAME}").json()["ready"] is True
    assert server.client.get("/v1/models").json() == {"models": [MODEL_NAME]}
    metadata = server.client.get(f"/v2/models/{MODEL_NAME}").json()
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert {(o["name"], o["datatype"]) for o in metadata["outputs"]} == {
        ("probability", "FP32"),
        ("label", "BYTES"),
    }
    server.v1(["a wonderful film"])
    metrics = server.client.get("/metrics").text
    match = re.search(rf'request_predict_seconds_count{{model_name="{MODEL_NAME}"}} (\S+)', metrics)
    assert match and float(match[1]) >= 1


def test_the_served_version_by_path(server):
    v2 = server.v2(REVIEWS[:1], f"/v2/models/{MODEL_NAME}/versions/1/infer")
    assert v2.status_code == 200 and v2.json()["model_version"] == "1"
    v1 = server.client.post(
        f"/v1/models/{MODEL_NAME}/versions/1:predict", json={"instances": REVIEWS[:1]}
    )
    assert v1.status_code == 200 and v1.json() == server.v1(REVIEWS[:1]).json()


V2_PATH = f"/v2/models/{MODEL_NAME}/infer"
V1_PATH = f"/v1/models/{MODEL_NAME}:predict"
TEXT_INPUT = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["fine"]}
BAD_REQUESTS = {
    "v1 malformed JSON": (V1_PATH, b'{"instances": ["unclosed', 400, "request format"),
    "v1 body is not an object": (V1_PATH, [1, 2], 400, "JSON object"),
    "v1 no instances": (V1_PATH, {"inputs": ["a"]}, 400, "instances"),
    "v1 empty instances": (V1_PATH, {"instances": []}, 400, "non-empty"),
    "v1 instances not a list": (V1_PATH, {"instances": "a film"}, 400, "list"),
    "v1 instance not a string": (V1_PATH, {"instances": ["fine", 3]}, 400, "instance 1 is int"),
    "v1 instance is an object": (V1_PATH, {"instances": [{"text": "a"}]}, 400, "not a string"),
    "v1 unknown signature": (
        V1_PATH,
        {"signature_name": "other", "instances": ["a"]},
        400,
        "signature_name",
    ),
    "v1 body over the limit": (V1_PATH, {"instances": ["a" * MAX_BODY_BYTES]}, 413, "limit"),
    "v1 unknown model": ("/v1/models/nope:predict", {"instances": ["a"]}, 404, "nope"),
    "v1 unknown version": (
        f"/v1/models/{MODEL_NAME}/versions/7:predict",
        {"instances": ["a"]},
        404,
        "no version '7'",
    ),
    "v2 malformed JSON": (V2_PATH, b'{"inputs": [', 400, "invalid request"),
    "v2 no inputs": (V2_PATH, {"instances": ["a"]}, 400, "inputs"),
    "v2 empty input": (
        V2_PATH,
        {"inputs": [{**TEXT_INPUT, "shape": [0], "data": []}]},
        400,
        "one row",
    ),
    "v2 wrong input name": (
        V2_PATH,
        {"inputs": [{**TEXT_INPUT, "name": "review"}]},
        400,
        "named 'text'",
    ),
    "v2 wrong datatype": (V2_PATH, {"inputs": [{**TEXT_INPUT, "datatype": "FP32"}]}, 400, "BYTES"),
    "v2 shape and data disagree": (
        V2_PATH,
        {"inputs": [{**TEXT_INPUT, "shape": [3]}]},
        400,
        "shape",
    ),
    "v2 element not a string": (
        V2_PATH,
        {"inputs": [{**TEXT_INPUT, "shape": [2], "data": ["a", 5]}]},
        400,
        "row 1 is int",
    ),
    "v2 body over the limit": (
        V2_PATH,
        {"inputs": [{**TEXT_INPUT, "data": ["a" * MAX_BODY_BYTES]}]},
        413,
        "limit",
    ),
    "v2 unknown model": ("/v2/models/nope/infer", {"inputs": [TEXT_INPUT]}, 404, "nope"),
    "v2 unknown model and version": (
        "/v2/models/nope/versions/1/infer",
        {"inputs": [TEXT_INPUT]},
        404,
        "model nope has no version '1'",
    ),
    "v2 unknown version": (
        f"/v2/models/{MODEL_NAME}/versions/7/infer",
        {"inputs": [TEXT_INPUT]},
        404,
        "no version '7'",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_a_one_line_reason_and_the_server_goes_on(server, case):
    path, body, status, reason = BAD_REQUESTS[case]
    if isinstance(body, bytes):
        response = server.client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
    else:
        response = server.client.post(path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error, error
    assert server.v1(["a wonderful film"]).status_code == 200
    assert server.process.poll() is None


def test_a_chunked_body_over_the_limit_is_refused(server):
    def chunks():
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    response = server.client.post(
        V1_PATH, content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert server.v1(["a wonderful film"]).status_code == 200


def test_a_body_that_is_not_declared_json_still_works(server):
    # curl -d sends application/x-www-form-urlencoded unless told otherwise.
    response = server.client.post(
        V1_PATH,
        content=json.dumps({"instances": ["a wonderful film"]}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_a_newer_version_is_served_without_a_restart(
    tmp_path, transformed, one_epoch_model_dir, trained_model_dir
):
    write_version(one_epoch_model_dir, transformed["graph"], tmp_path / "serving", 100)
    old = in_process(str(tmp_path / "serving" / "100"), REVIEWS)[F.SERVING_PROBABILITY_KEY]
    running = Server(str(tmp_path / "serving"), tmp_path / "server.log", "--poll-seconds", "0.2")
    try:
        assert running.v2(REVIEWS).json()["model_version"] == "100"
        new_dir = write_version(trained_model_dir, transformed["graph"], tmp_path / "serving", 200)
        new = in_process(new_dir, REVIEWS)[F.SERVING_PROBABILITY_KEY]
        assert not np.array_equal(new, old)  # Else the test could not tell them apart.

        deadline = time.monotonic() + VERSION_DEADLINE_S
        while running.v2(REVIEWS).json()["model_version"] != "200":
            assert time.monotonic() < deadline, running.logs()
            time.sleep(0.2)
        served = running.v1(REVIEWS).json()["predictions"]
        np.testing.assert_array_equal(np.float32([p["probability"] for p in served]), new)
        old_path = running.v2(REVIEWS, f"/v2/models/{MODEL_NAME}/versions/100/infer")
        assert old_path.status_code == 404
        assert running.process.poll() is None
    finally:
        running.stop()


def test_a_version_that_does_not_load_is_skipped(tmp_path, transformed, one_epoch_model_dir):
    write_version(one_epoch_model_dir, transformed["graph"], tmp_path / "serving", 100)
    running = Server(str(tmp_path / "serving"), tmp_path / "server.log", "--poll-seconds", "0.2")
    try:
        broken = tmp_path / "serving" / "200"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        deadline = time.monotonic() + VERSION_DEADLINE_S
        while "version " + str(broken) + " did not load" not in running.logs():
            assert time.monotonic() < deadline, running.logs()
            time.sleep(0.2)
        response = running.v2(REVIEWS)
        assert response.status_code == 200 and response.json()["model_version"] == "100"
    finally:
        running.stop()


def test_sigterm_lets_the_request_in_flight_finish(tmp_path, export_dir):
    running = Server(str(export_dir), tmp_path / "server.log")
    body = json.dumps({"instances": REVIEWS}).encode()
    try:
        with socket.create_connection(("127.0.0.1", running.port)) as sock:
            sock.sendall(
                f"POST {V1_PATH} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
            )
            # The server asks for the body only once the request is in its hands: in flight.
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
            running.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + START_DEADLINE_S
            while accepts_connections(running.port):  # Shutdown has begun when it stops.
                assert time.monotonic() < deadline, running.logs()
                time.sleep(0.05)
            sock.sendall(body)
            response = receive_all(sock)
        head, _, payload = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), response[:500]
        predictions = json.loads(payload)["predictions"]
        assert len(predictions) == len(REVIEWS)
        # uvicorn re-raises the signal once requests are done: the usual end of a server.
        assert running.process.wait(timeout=60) == -signal.SIGTERM
    finally:
        running.stop()


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def receive_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_forecaster_is_served_too(tmp_path, sine_transformed, sine_model_dir):
    version_dir = run_export(
        FORECAST, sine_transformed["graph"], sine_model_dir, str(tmp_path / "forecast")
    )
    lookback = (
        tf.saved_model.load(version_dir)
        .signatures[F.SERVING_SIGNATURE]
        .structured_input_signature[1][F.SERVING_VALUES_KEY]
        .shape[1]
    )
    windows = [[float(np.sin(i / 4 + start)) for i in range(lookback)] for start in range(3)]
    serve = tf.saved_model.load(version_dir).signatures[F.SERVING_SIGNATURE]
    expected = serve(values=tf.constant(windows, tf.float32))[F.SERVING_FORECAST_KEY].numpy()
    running = Server(version_dir, tmp_path / "server.log", "--model-name", "lstm-forecast")
    try:
        v1 = running.client.post("/v1/models/lstm-forecast:predict", json={"instances": windows})
        forecasts = [p[F.SERVING_FORECAST_KEY] for p in v1.json()["predictions"]]
        np.testing.assert_array_equal(np.float32(forecasts), expected)
        v2 = running.client.post(
            "/v2/models/lstm-forecast/infer",
            json={
                "inputs": [
                    {
                        "name": "values",
                        "shape": [3, lookback],
                        "datatype": "FP32",
                        "data": sum(windows, []),
                    }
                ]
            },
        )
        (output,) = v2.json()["outputs"]
        np.testing.assert_array_equal(np.float32(output["data"]), expected)
        short = running.client.post(
            "/v1/models/lstm-forecast:predict", json={"instances": [[1.0, 2.0]]}
        )
        assert short.status_code == 400
        assert f"not a list of {lookback} finite numbers" in short.json()["error"]
    finally:
        running.stop()


@pytest.mark.parametrize(
    "options, reason",
    [
        (["--model-dir", "{tmp}/none"], "no such folder"),
        (["--model-dir", "{tmp}"], "no SavedModel or numbered version folder"),
        (["--model-dir", "{tmp}", "--port", "70000"], "--port=70000 is not allowed"),
        (["--model-dir", "{tmp}", "--model-name", "a/b"], "--model-name='a/b' is not allowed"),
    ],
)
def test_a_bad_option_exits_2_with_one_line(tmp_path, options, reason):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "serve"]
        + [option.format(tmp=tmp_path) for option in options],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    (error,) = [line for line in errors if line.startswith("lstm-pipeline: error:")]
    assert reason in error, result.stderr


def test_the_readmes_curl_commands_get_predictions(server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed to run the README's commands")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    commands = [
        line for line in readme.splitlines() if line.startswith("curl ") and ":8080/" in line
    ]
    assert len(commands) == 2
    for command in commands:
        local = command.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
        result = subprocess.run(["bash", "-c", local], capture_output=True, text=True, check=True)
        answer = json.loads(result.stdout)
        if "predictions" in answer:
            labels = [prediction["label"] for prediction in answer["predictions"]]
        else:
            labels = next(o["data"] for o in answer["outputs"] if o["name"] == "label")
        assert len(labels) == 2 and set(labels) <= {"negative", "positive"}, answer
