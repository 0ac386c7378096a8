"""`lstm-pipeline submit` against a fake Kubeflow Pipelines API server on 127.0.0.1.

This is how the cluster path is tested: the real kfp client talks HTTP to a server that
implements the v2beta1 endpoints it calls, and the test checks what the server received.
"""

import datetime
import ipaddress
import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.cli import main
from pipeline.submit import MIN_BACKEND_VERSION
from tests.fake_kfp_server import API, FakeKfpServer

TOKEN = "s3cr3t-token-value"
COOKIE_VALUE = "c00kie-session-value"
COOKIES = f"oauth2_proxy_kubeflow={COOKIE_VALUE}"


@pytest.fixture
def server():
    with FakeKfpServer() as fake:
        yield fake


def submit(server, capsys, *args) -> tuple[int, dict, str]:
    status = main(["submit", "--host", server.url, "--poll-seconds", "0.01", *args])
    out, err = capsys.readouterr()
    # stdout carries the one JSON result and nothing else (the kfp client's links go to stderr).
    assert len(out.splitlines()) <= 1, out
    return status, json.loads(out) if out else {}, out + err


def one_line_error(output: str) -> str:
    """The error submit ended with; it is one line, and no traceback came before it."""
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("lstm-pipeline: error: "), output
    return last


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


def test_wait_follows_the_run_and_fails_when_it_fails(server, capsys, monkeypatch):
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    status, result, output = submit(server, capsys, "--wait")
    assert status == 0 and result["state"] == "SUCCEEDED"
    server.state.run_states = ["RUNNING", "RUNNING", "FAILED"]
    status, result, more_output = submit(server, capsys, "--wait")
    assert status == 1 and result["state"] == "FAILED"
    run_polls = [r for r in server.state.requests if r.method == "GET" and "/runs/" in r.path]
    assert len(run_polls) == 2 + 3
    assert TOKEN not in output + more_output


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
        (["--ui-host", "kubeflow.example.com"], "--ui-host='kubeflow.example.com' is not allowed"),
        (["--ssl-ca-cert", "no/such/ca.pem"], "--ssl-ca-cert='no/such/ca.pem' is not allowed"),
        (["--cookie-file", "no/such/cookie"], "--cookie-file='no/such/cookie' is not allowed"),
    ],
)
def test_bad_values_exit_2_before_contacting_the_cluster(server, capsys, args, message):
    status, _, output = submit(server, capsys, *args)
    assert status == 2
    assert message in output
    assert not server.state.requests


@pytest.mark.parametrize(
    "release, lacking",
    [
        ("2.4.0", "dsl.Collected over artifacts (the champion's input) and the steps' security"),
        ("2.15.0", "lacks the steps' security context:"),
        ("2.16.0rc1", "lacks the steps' security context:"),
    ],
)
def test_a_backend_too_old_for_the_dag_is_refused_before_anything_is_uploaded(
    server, capsys, release, lacking
):
    server.state.tag_name = release
    status, _, output = submit(server, capsys)
    assert status == 2
    error = one_line_error(output)
    assert f"runs Kubeflow Pipelines {release}, which lacks" in error and lacking in error
    assert f"needs {MIN_BACKEND_VERSION} or newer" in error
    assert [r.path for r in server.state.requests] == [f"{API}/healthz"]


@pytest.mark.parametrize("release", ["2.16.0", "2.17.0", "v2.18.1"])
def test_a_recent_enough_backend_is_accepted(server, capsys, release):
    server.state.tag_name = release
    assert submit(server, capsys)[0] == 0
    assert server.state.runs


def test_a_backend_without_a_release_needs_the_check_turned_off(server, capsys):
    server.state.tag_name = "unknown"  # What a self-built API server reports.
    status, _, output = submit(server, capsys)
    assert status == 2
    assert "reports Kubeflow Pipelines version 'unknown'" in one_line_error(output)
    assert "--no-check-backend-version" in output and not server.state.runs
    assert submit(server, capsys, "--no-check-backend-version")[0] == 0
    assert server.state.runs


def test_multi_user_submits_into_the_profile_namespace_and_links_the_dashboard(server, capsys):
    server.state.multi_user = True
    args = ["--namespace", "team-a", "--ui-host", "https://kubeflow.example.com/_/pipeline/"]
    status, result, _ = submit(server, capsys, *args)
    assert status == 0
    (pipeline,) = server.state.pipelines.values()
    assert pipeline["namespace"] == "team-a"
    (experiment,) = server.state.experiments.values()
    assert experiment["namespace"] == "team-a"
    (run,) = server.state.runs.values()
    assert result["url"] == (
        f"https://kubeflow.example.com/_/pipeline/?ns=team-a#/runs/details/{run['run_id']}"
    )
    # Resubmitting finds the profile's own pipeline and experiment (both listed in team-a).
    assert submit(server, capsys, *args)[0] == 0
    assert len(server.state.pipelines) == 1 and len(server.state.experiments) == 1
    lists = [r for r in server.state.requests if r.path == f"{API}/pipelines"]
    assert lists and all(r.query["namespace"] == ["team-a"] for r in lists)


def test_the_link_uses_the_ui_host_and_no_namespace_in_single_user(server, capsys):
    status, result, _ = submit(server, capsys, "--ui-host", "http://localhost:8081")
    (run,) = server.state.runs.values()
    assert status == 0
    assert result["url"] == f"http://localhost:8081/#/runs/details/{run['run_id']}"


@pytest.mark.parametrize("source", ["environment", "file"])
def test_a_login_cookie_goes_with_every_request_and_is_never_printed(
    server, capsys, monkeypatch, tmp_path, source
):
    args = []
    if source == "environment":
        monkeypatch.setenv("KFP_COOKIES", COOKIES)
    else:
        (tmp_path / "cookies").write_text(COOKIES + "\n")
        args = ["--cookie-file", str(tmp_path / "cookies")]
    status, _, output = submit(server, capsys, "--wait", *args)
    assert status == 0
    assert len(server.state.requests) > 5
    assert all(r.headers.get("cookie") == COOKIES for r in server.state.requests)
    assert COOKIE_VALUE not in output


def write_certificates(directory) -> tuple[str, str, str]:
    """A CA, and a certificate it signed for 127.0.0.1 with its key: (ca, chain, key) files."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, public_key, signing_key, is_ca, extra=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = certificate("test CA", "test CA", ca_key.public_key(), ca_key, True)
    served = certificate(
        "127.0.0.1",
        "test CA",
        server_key.public_key(),
        ca_key,
        False,
        [x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])],
    )
    files = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(served.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tuple(str(f) for f in files)


def test_a_private_ca_certificate_verifies_an_https_api(capsys, tmp_path):
    ca, chain, key = write_certificates(tmp_path)
    with FakeKfpServer(chain, key) as https_server:
        status, _, output = submit(https_server, capsys)
        assert status == 1
        assert "CERTIFICATE_VERIFY_FAILED" in one_line_error(output)
        assert not https_server.state.runs
        status, result, _ = submit(https_server, capsys, "--ssl-ca-cert", ca, "--wait")
        assert status == 0 and result["state"] == "SUCCEEDED"
        assert result["url"].startswith(https_server.url)


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", f"{API}/healthz", 401),
        ("POST", f"{API}/pipelines/upload", 500),
        ("POST", f"{API}/experiments", 403),
        ("POST", f"{API}/runs", 403),
        ("GET", f"{API}/runs/[^/]+", 503),  # While following the run (--wait).
    ],
)
def test_an_http_error_ends_in_one_line_without_the_credentials(
    server, capsys, monkeypatch, method, path, status
):
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    monkeypatch.setenv("KFP_COOKIES", COOKIES)
    server.state.failures[(method, path)] = status
    exit_status, _, output = submit(server, capsys, "--wait")
    assert exit_status == 1
    error = one_line_error(output)
    assert f"--host={server.url} answered {status}" in error
    # The fake repeats the request's headers in its message, as a careless proxy would.
    assert "refused a request with headers" in error
    assert TOKEN not in output and COOKIE_VALUE not in output
    if status in (401, 403):
        assert "KFP_TOKEN or --token-file" in error
