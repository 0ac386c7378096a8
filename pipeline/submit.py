"""Submits the pipeline to a Kubeflow Pipelines cluster through its v2beta1 REST API.

Resubmitting is idempotent: the pipeline is found by name, and its version is named after the
compiled YAML's content hash, so unchanged code reuses the version already uploaded and changed
code adds a new one. Before anything is uploaded, the backend's release (its healthz endpoint) is
checked against what the compiled DAG needs. Credentials (an API token, or the session cookie of
a Kubeflow behind Dex / oauth2-proxy) come from the environment or a file, never from the
command line, and no output, error included, ever shows them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import kfp
import kfp_server_api
import urllib3
from packaging.version import InvalidVersion, Version

from components.common.config import (
    STAGE_CONFIGS,
    ConfigError,
    PipelineConfig,
    TrainConfig,
    require_plain_numbers,
)
from components.common.tasks import TASKS
from pipeline.compile import compile_pipeline
from pipeline.dag import pipeline_parameters
from pipeline.deployment import DeploymentOptions

logger = logging.getLogger(__name__)

TOKEN_ENV = "KFP_TOKEN"
COOKIES_ENV = "KFP_COOKIES"
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}
HEALTHZ_PATH = "/apis/v2beta1/healthz"
# What the compiled DAG needs of the KFP backend, with the first release that has it (read in
# kubeflow/pipelines): the driver resolves dsl.Collected over artifacts from 2.14.0 (#11725);
# the driver applies the kubernetes security context from 2.16.0 (#12832, #12859), and older
# ones discard it without a word, so the steps would run without it.
BACKEND_FEATURES = (
    ("2.14.0", "dsl.Collected over artifacts (the champion's input)"),
    ("2.16.0", "the steps' security context"),
)
MIN_BACKEND_VERSION = max((needed for needed, _ in BACKEND_FEATURES), key=Version)
HTTP_TIMEOUT_SECONDS = 60
ERROR_MESSAGE_CHARS = 300


class SubmitError(Exception):
    """The cluster could not be reached or refused a request (one line, no credentials)."""


@dataclass(frozen=True)
class SubmitOptions:
    """Where and how `submit` creates the run.

    Attributes:
        host: Kubeflow Pipelines API endpoint, e.g. http://localhost:8080 (a port-forward of
            ml-pipeline-ui) or https://kubeflow.example.com/pipeline (behind the central
            dashboard).
        ui_host: base URL of the Kubeflow Pipelines UI for the printed run link, e.g.
            https://kubeflow.example.com/_/pipeline behind the central dashboard; empty: --host.
        experiment: experiment the run belongs to (created if missing).
        run_name: display name of the run; empty means the pipeline name and a timestamp.
        pipeline_name: name the pipeline is uploaded under; empty means the task's pipeline
            name (lstm-sentiment or lstm-forecast).
        namespace: Kubeflow profile namespace for multi-user clusters (the pipeline, experiment
            and run are created there); empty for single-user.
        service_account: Kubernetes service account the steps run as; empty for KFP's default
            (the manifests make lstm-pipeline-runner).
        token_file: file holding an API token; KFP_TOKEN in the environment works too.
        cookie_file: file holding the session cookie(s) of a Kubeflow login, as a Cookie header
            value (name=value; ...); KFP_COOKIES in the environment works too.
        ssl_ca_cert: CA certificate file (PEM) that --host's TLS certificate is checked against;
            empty: the system's.
        check_backend_version: refuse a backend older than the DAG needs, read from its healthz
            endpoint; turn off only for a backend that reports no release.
        schedule: cron expression (6 fields, seconds first) for a recurring run instead of one.
        wait: follow the run to its end and fail if it did not succeed.
        timeout_seconds: with wait, give up after this long.
        poll_seconds: with wait, seconds between status checks.
    """

    host: str
    ui_host: str = ""
    experiment: str = "lstm-sentiment"
    run_name: str = ""
    pipeline_name: str = ""
    namespace: str = ""
    service_account: str = ""
    token_file: str = ""
    cookie_file: str = ""
    ssl_ca_cert: str = ""
    check_backend_version: bool = True
    schedule: str = ""
    wait: bool = False
    timeout_seconds: int = 24 * 3600
    poll_seconds: float = 15.0
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        for option, url in (("--host", self.host), ("--ui-host", self.ui_host or "http://")):
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"{option}={url!r} is not allowed: an http(s):// URL")
        if self.schedule and self.wait:
            raise ConfigError("--wait is not allowed with --schedule: a schedule has no end")
        for option, path in (
            ("--token-file", self.token_file),
            ("--cookie-file", self.cookie_file),
            ("--ssl-ca-cert", self.ssl_ca_cert),
        ):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{option}={path!r} is not allowed: no such file")


@dataclass(frozen=True, repr=False)
class Credentials:
    """What authenticates the requests; kept out of every message (`redact`)."""

    token: str | None = None
    cookies: str | None = None

    @classmethod
    def from_options(cls, options: SubmitOptions) -> Credentials:
        return cls(
            token=_read_secret(options.token_file, TOKEN_ENV),
            cookies=_read_secret(options.cookie_file, COOKIES_ENV),
        )

    def headers(self) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return headers | ({"Cookie": self.cookies} if self.cookies else {})

    def redact(self, text: str) -> str:
        """`text` with the token, the cookie header and each cookie's value replaced."""
        secrets = [self.token, self.cookies]
        for cookie in (self.cookies or "").split(";"):
            secrets.append(cookie.partition("=")[2].strip())
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _read_secret(path: str, env: str) -> str | None:
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    return os.environ.get(env) or None


def parse_params(pairs: list[str], defaults: PipelineConfig) -> dict:
    """`key=value` pairs to pipeline arguments, typed and checked like the run's options, on top
    of the compiled pipeline's `defaults`; only parameters of that task's pipeline are taken
    (`model_type` for its `model_types`)."""
    parameters = {*pipeline_parameters(defaults.task.task), "model_type"}
    fields = {
        f.name: (stage, f)
        for stage, cls in STAGE_CONFIGS.items()
        for f in dataclasses.fields(cls)
        if f.name in parameters
    }
    params: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--param={pair!r} is not allowed: KEY=VALUE")
        if key == "beam_args":
            params[key] = json.loads(value) if value.startswith("[") else value.split()
            continue
        if key not in fields:
            raise ConfigError(f"--param={pair!r} is not allowed: KEY one of {sorted(fields)}")
        kind = type(fields[key][1].default)
        try:
            params[key] = kind(value)
        except ValueError as error:
            raise ConfigError(
                f"--param={pair!r} is not allowed: {key} is a {kind.__name__}"
            ) from error
    # Build the configs so the same checks as `run` reject bad values before submitting.
    stages = {
        stage: dataclasses.replace(
            getattr(defaults, stage),
            **{k: v for k, v in params.items() if k in fields and fields[k][0] == stage},
        )
        for stage in STAGE_CONFIGS
    }
    dataclasses.replace(defaults, **stages)
    if "model_type" in params:
        params["model_types"] = list(TrainConfig(model_type=params.pop("model_type")).model_types)
    return params


def _version_name(package_path: str, pipeline_name: str) -> str:
    with open(package_path, "rb") as f:
        return f"{pipeline_name}-{hashlib.sha256(f.read()).hexdigest()[:12]}"


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def _find_pipeline(client, pipeline_name: str, namespace: str) -> str | None:
    pipelines = client.list_pipelines(
        filter=_name_filter(pipeline_name), namespace=namespace or None, page_size=1
    ).pipelines
    return pipelines[0].pipeline_id if pipelines else None


def _find_version(client, pipeline_id: str, version_name: str) -> str | None:
    versions = client.list_pipeline_versions(
        pipeline_id=pipeline_id, page_size=1, filter=_name_filter(version_name)
    ).pipeline_versions
    return versions[0].pipeline_version_id if versions else None


def upload(client, package_path: str, pipeline_name: str, namespace: str = "") -> tuple[str, str]:
    """Pipeline and version ids for the package, uploading only what the cluster lacks; with a
    namespace, the pipeline is that profile's own."""
    version_name = _version_name(package_path, pipeline_name)
    pipeline_id = _find_pipeline(client, pipeline_name, namespace)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            package_path, pipeline_name=pipeline_name, namespace=namespace or None
        )
        pipeline_id = pipeline.pipeline_id
        logger.info("uploaded pipeline %s (%s)", pipeline_name, pipeline_id)
    version_id = _find_version(client, pipeline_id, version_name)
    if version_id is None:
        version = client.upload_pipeline_version(
            package_path, pipeline_version_name=version_name, pipeline_id=pipeline_id
        )
        version_id = version.pipeline_version_id
        logger.info("uploaded version %s (%s)", version_name, version_id)
    else:
        logger.info("version %s is already uploaded (%s)", version_name, version_id)
    return pipeline_id, version_id


def _server_message(body: bytes | str | None) -> str:
    """The error text of a KFP API error body ({"error", "message", ...}), on one line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
    with contextlib.suppress(ValueError):
        payload = json.loads(text)
        if isinstance(payload, dict):
            text = str(payload.get("message") or payload.get("error") or "")
    return " ".join(text.split())[:ERROR_MESSAGE_CHARS]


def _refusal(options: SubmitOptions, status, reason, body, credentials: Credentials) -> str:
    message = f"--host={options.host} answered {status} {reason}"
    if status in (401, 403):
        message += f" (credentials: {TOKEN_ENV} or --token-file, {COOKIES_ENV} or --cookie-file)"
    detail = _server_message(body)
    return credentials.redact(f"{message}: {detail}" if detail else message)


@contextlib.contextmanager
def _cluster_errors(options: SubmitOptions, credentials: Credentials) -> Iterator[None]:
    """Turns the client's HTTP and connection errors into a one-line SubmitError."""
    try:
        yield
    except kfp_server_api.ApiException as error:
        raise SubmitError(
            _refusal(options, error.status, error.reason, error.body, credentials)
        ) from None
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        raise SubmitError(
            credentials.redact(f"cannot reach --host={options.host}: {reason}")
        ) from None


def backend_version(options: SubmitOptions, credentials: Credentials) -> str:
    """The release the KFP API server reports (healthz's tag_name; "unknown" on own builds)."""
    request = urllib.request.Request(
        options.host.rstrip("/") + HEALTHZ_PATH, headers=credentials.headers()
    )
    context = ssl.create_default_context(cafile=options.ssl_ca_cert or None)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS, context=context) as r:
            body = r.read()
    except urllib.error.HTTPError as error:
        raise SubmitError(
            _refusal(options, error.code, error.reason, error.read(), credentials)
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise SubmitError(
            credentials.redact(f"cannot reach --host={options.host}: {reason}")
        ) from None
    try:
        return str(json.loads(body)["tag_name"])
    except (ValueError, KeyError, TypeError):
        # Behind Dex or oauth2-proxy, an unauthenticated request ends on the login page.
        raise SubmitError(
            f"--host={options.host} did not answer {HEALTHZ_PATH} as a Kubeflow Pipelines API "
            f"(a login page? give the session cookie in {COOKIES_ENV} or --cookie-file)"
        ) from None


def require_backend(tag: str, host: str) -> None:
    """Refuses a backend release that cannot run the compiled DAG as written."""
    try:
        version = Version(tag.removeprefix("v"))
    except InvalidVersion:
        raise ConfigError(
            f"--host={host} reports Kubeflow Pipelines version {tag!r}, not a release: this "
            f"pipeline needs {MIN_BACKEND_VERSION} or newer; if it is, pass "
            "--no-check-backend-version"
        ) from None
    missing = [feature for needed, feature in BACKEND_FEATURES if version < Version(needed)]
    if missing:
        raise ConfigError(
            f"--host={host} runs Kubeflow Pipelines {tag}, which lacks {' and '.join(missing)}: "
            f"this pipeline needs {MIN_BACKEND_VERSION} or newer"
        )


def make_client(options: SubmitOptions, credentials: Credentials):
    return kfp.Client(
        host=options.host,
        existing_token=credentials.token,
        cookies=credentials.cookies,
        ssl_ca_cert=options.ssl_ca_cert or None,
        namespace=options.namespace or "kubeflow",
        ui_host=options.ui_host or None,
    )


def run_url(options: SubmitOptions, run_id: str) -> str:
    """The run's page in the Kubeflow Pipelines UI (behind the central dashboard, `?ns=` picks
    the profile the run is in)."""
    base = (options.ui_host or options.host).rstrip("/")
    query = f"?ns={urllib.parse.quote(options.namespace)}" if options.namespace else ""
    return f"{base}/{query}#/runs/details/{run_id}"


def wait_for_run(client, run_id: str, timeout_seconds: float, poll_seconds: float) -> str:
    """Polls the run until it ends; returns its final state."""
    deadline = time.monotonic() + timeout_seconds
    state = None
    while time.monotonic() < deadline:
        state = str(client.get_run(run_id).state)
        logger.info("run %s: %s", run_id, state)
        if state in TERMINAL_STATES:
            return state
        time.sleep(poll_seconds)
    raise SubmitError(f"run {run_id} still {state} after {timeout_seconds} s")


def submit(
    options: SubmitOptions,
    deployment: DeploymentOptions,
    defaults: PipelineConfig,
) -> dict:
    """Checks the backend, uploads the pipeline of the task `defaults` names, its parameters
    defaulting to `defaults`, and starts a run (or a schedule); returns what was created."""
    credentials = Credentials.from_options(options)
    pipeline_name = options.pipeline_name or TASKS[defaults.task.task].pipeline_name
    run_name = options.run_name or f"{pipeline_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tempfile.TemporaryDirectory() as scratch:
        # Compiling first checks every deployment option before the cluster is contacted.
        package = compile_pipeline(f"{scratch}/pipeline.yaml", defaults, deployment)
        tag = backend_version(options, credentials)
        logger.info("Kubeflow Pipelines %s at %s", tag, options.host)
        if options.check_backend_version:
            require_backend(tag, options.host)
        # The kfp client prints links of its own; stdout carries only our result.
        with _cluster_errors(options, credentials), contextlib.redirect_stdout(sys.stderr):
            client = make_client(options, credentials)
            pipeline_id, version_id = upload(client, package, pipeline_name, options.namespace)
            return _start(client, options, pipeline_id, version_id, run_name)


def _start(client, options: SubmitOptions, pipeline_id: str, version_id: str, run_name: str):
    """Creates the run (or the recurring run) of the uploaded version in the experiment."""
    experiment = client.create_experiment(options.experiment, namespace=options.namespace or None)
    common = {
        "experiment_id": experiment.experiment_id,
        "job_name": run_name,
        "pipeline_id": pipeline_id,
        "version_id": version_id,
        "params": options.params,
        "service_account": options.service_account or None,
    }
    if options.schedule:
        recurring = client.create_recurring_run(cron_expression=options.schedule, **common)
        return {"recurring_run_id": recurring.recurring_run_id, "pipeline_version_id": version_id}
    run = client.run_pipeline(**common)
    result = {
        "run_id": run.run_id,
        "pipeline_version_id": version_id,
        "url": run_url(options, run.run_id),
    }
    if options.wait:
        result["state"] = wait_for_run(
            client, run.run_id, options.timeout_seconds, options.poll_seconds
        )
    return result
