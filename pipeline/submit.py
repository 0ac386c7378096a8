"""Submits the pipeline to a Kubeflow Pipelines cluster through its v2beta1 REST API.

Resubmitting is idempotent: the pipeline is found by name, and its version is named after the
compiled YAML's content hash, so unchanged code reuses the version already uploaded and changed
code adds a new one. Credentials come from the kfp client's own sources, the KFP_TOKEN
environment variable, or a token file; they are never taken on the command line nor printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field

import kfp

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
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}


@dataclass(frozen=True)
class SubmitOptions:
    """Where and how `submit` creates the run.

    Attributes:
        host: Kubeflow Pipelines API endpoint, e.g. http://localhost:8080.
        experiment: experiment the run belongs to (created if missing).
        run_name: display name of the run; empty means the pipeline name and a timestamp.
        pipeline_name: name the pipeline is uploaded under; empty means the task's pipeline
            name (lstm-sentiment or lstm-forecast).
        namespace: Kubeflow profile namespace for multi-user clusters; empty for single-user.
        service_account: Kubernetes service account the steps run as; empty for the default.
        token_file: file holding an API token; KFP_TOKEN in the environment works too.
        schedule: cron expression (6 fields, seconds first) for a recurring run instead of one.
        wait: follow the run to its end and fail if it did not succeed.
        timeout_seconds: with wait, give up after this long.
        poll_seconds: with wait, seconds between status checks.
    """

    host: str
    experiment: str = "lstm-sentiment"
    run_name: str = ""
    pipeline_name: str = ""
    namespace: str = ""
    service_account: str = ""
    token_file: str = ""
    schedule: str = ""
    wait: bool = False
    timeout_seconds: int = 24 * 3600
    poll_seconds: float = 15.0
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        if not self.host.startswith(("http://", "https://")):
            raise ConfigError(f"--host={self.host!r} is not allowed: an http(s):// URL")
        if self.schedule and self.wait:
            raise ConfigError("--wait is not allowed with --schedule: a schedule has no end")
        if self.token_file and not os.path.isfile(self.token_file):
            raise ConfigError(f"--token-file={self.token_file!r} is not allowed: no such file")


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


def read_token(token_file: str) -> str | None:
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            return f.read().strip()
    return os.environ.get(TOKEN_ENV) or None


def _version_name(package_path: str, pipeline_name: str) -> str:
    with open(package_path, "rb") as f:
        return f"{pipeline_name}-{hashlib.sha256(f.read()).hexdigest()[:12]}"


def _find_version(client, pipeline_id: str, version_name: str) -> str | None:
    versions = client.list_pipeline_versions(
        pipeline_id=pipeline_id,
        page_size=1,
        filter=json.dumps(
            {
                "predicates": [
                    {"operation": "EQUALS", "key": "display_name", "stringValue": version_name}
                ]
            }
        ),
    ).pipeline_versions
    return versions[0].pipeline_version_id if versions else None


def upload(client, package_path: str, pipeline_name: str) -> tuple[str, str]:
    """Pipeline and version ids for the package, uploading only what the cluster lacks."""
    version_name = _version_name(package_path, pipeline_name)
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(package_path, pipeline_name=pipeline_name)
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


def make_client(options: SubmitOptions):
    return kfp.Client(
        host=options.host,
        existing_token=read_token(options.token_file),
        namespace=options.namespace or "kubeflow",
    )


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
    raise TimeoutError(f"run {run_id} still {state} after {timeout_seconds} s")


def submit(
    options: SubmitOptions,
    deployment: DeploymentOptions,
    defaults: PipelineConfig,
    client=None,
) -> dict:
    """Uploads the pipeline of the task `defaults` names, its parameters defaulting to
    `defaults`, starts a run (or a schedule) and returns what was created."""
    client = client or make_client(options)
    pipeline_name = options.pipeline_name or TASKS[defaults.task.task].pipeline_name
    run_name = options.run_name or f"{pipeline_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tempfile.TemporaryDirectory() as scratch:
        package = compile_pipeline(f"{scratch}/pipeline.yaml", defaults, deployment)
        pipeline_id, version_id = upload(client, package, pipeline_name)
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
        "url": f"{options.host.rstrip('/')}/#/runs/details/{run.run_id}",
    }
    if options.wait:
        result["state"] = wait_for_run(
            client, run.run_id, options.timeout_seconds, options.poll_seconds
        )
    return result
