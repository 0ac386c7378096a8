"""Runs the pipeline DAG on this machine with kfp.local, then writes run_summary.json.

kfp.local's SubprocessRunner executes each step as a subprocess of this Python environment, or
its DockerRunner in the component image (pipeline/docker_runner.py), in DAG order, honouring
dsl.If; Beam steps use the local runner unless beam_args name another.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import glob
import html
import logging
import os
import secrets
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Iterator

import tensorflow as tf
from kfp import local
from rich.console import Console

from components.common.artifacts import (
    BASELINE_FILE,
    COUNTS_FILE,
    EVALUATION_FILE,
    LEADERBOARD_FILE,
    MODEL_INFO_FILE,
    REPORT_FILE,
)
from components.common.config import FORECAST, ConfigError, PipelineConfig
from components.common.encoder import read_pretrain_summary
from components.common.io import INCOMPLETE_SUFFIX, read_json, write_json
from components.common.lifetime import RUN_PROCESS_ENV, run_process_marker
from components.ingest.forecast import check_csv_columns
from components.ingest.sentiment import check_delimited_headers
from pipeline.console import PlainDisplay, StepLogRouter, StepRun
from pipeline.dag import create_pipeline, pipeline_arguments, step_task_names
from pipeline.deployment import DeploymentOptions
from pipeline.docker_runner import docker_runner, with_absolute_paths

SUMMARY_FILE = "run_summary.json"
ARTIFACTS_DIR = "artifacts"
CACHE_DIR = "cache"
LOGS_DIR = "logs"
LOCK_FILE = ".lock"
# kfp.local writes each task's results, artifact metadata included, to this file in its folder.
EXECUTOR_OUTPUT_FILE = "executor_output.json"

logger = logging.getLogger(__name__)


def _task_outputs(task_dir: str) -> dict:
    """Output artifact name -> {'path', 'metadata'} of one finished task; {} if it did not run."""
    path = os.path.join(task_dir, EXECUTOR_OUTPUT_FILE)
    if not os.path.exists(path):
        return {}
    outputs = {}
    for name, artifact_list in read_json(path).get("artifacts", {}).items():
        artifact = artifact_list["artifacts"][0]
        outputs[name] = {
            "path": os.path.join(task_dir, name),
            "metadata": artifact.get("metadata", {}),
        }
    return outputs


def _step_task_dirs(run_dir: str, task_name: str) -> list[str]:
    """The folders of a step's tasks: one, or one per iteration of a ParallelFor."""
    return [os.path.join(run_dir, task_name)] + sorted(
        glob.glob(os.path.join(run_dir, "for-loop-*", task_name))
    )


def _step_status(tasks: list[dict]) -> dict:
    metadata = [
        artifact["metadata"]
        for task in tasks
        for artifact in task.values()
        if "seconds" in artifact["metadata"]
    ]
    if not metadata:
        return {"status": "not run", "seconds": 0.0}
    return {
        "status": "reused" if all(m.get("reused") for m in metadata) else "succeeded",
        "seconds": round(sum(m["seconds"] for m in metadata), 1),
        "peak_rss_mb": max(m.get("peak_rss_mb", 0) for m in metadata),
        **({"tasks": len(metadata)} if len(metadata) > 1 else {}),
    }


def summarize_run(run_dir: str, config: PipelineConfig, status: str, seconds: float) -> dict:
    """The run summary from the artifacts the steps left in `run_dir`."""
    tasks = {
        step: [outputs for d in _step_task_dirs(run_dir, name) if (outputs := _task_outputs(d))]
        for step, name in step_task_names(config.task.task).items()
    }
    steps = {step: _step_status(step_tasks) for step, step_tasks in tasks.items()}
    outputs = {step: step_tasks[0] if step_tasks else {} for step, step_tasks in tasks.items()}
    summary = {
        "status": status,
        "seconds": round(seconds, 1),
        "run_dir": run_dir,
        "config": config.to_dict(),
        "steps": steps,
    }
    if outputs["ingest"]:
        counts = read_json(os.path.join(outputs["ingest"]["examples"]["path"], COUNTS_FILE))
        summary["counts"] = counts["written"]
        summary["ingest"] = counts
    if tasks.get("pretrain"):
        summary["pretrain"] = [
            read_pretrain_summary(task["encoder"]["path"]) for task in tasks["pretrain"]
        ]
    if outputs["compare"]:
        summary["model"] = read_json(
            os.path.join(outputs["compare"]["champion"]["path"], MODEL_INFO_FILE)
        )
        summary["leaderboard"] = read_json(
            os.path.join(outputs["compare"]["leaderboard"]["path"], LEADERBOARD_FILE)
        )
    if outputs["evaluate"]:
        evaluation = read_json(
            os.path.join(outputs["evaluate"]["evaluation"]["path"], EVALUATION_FILE)
        )
        summary["metrics"] = {"test": evaluation["metrics"]}
        if "slices" in evaluation:
            summary["metrics"]["slices"] = evaluation["slices"]
        if "plot" in evaluation:
            summary["plot"] = os.path.join(
                outputs["evaluate"]["evaluation"]["path"], evaluation["plot"]
            )
        summary["blessed"] = evaluation["blessed"]
        summary["blessing_reason"] = evaluation["blessing_reason"]
        summary["served_model"] = evaluation["served_model"]
    if outputs.get("baseline"):
        summary["baseline"] = read_json(
            os.path.join(outputs["baseline"]["baseline_result"]["path"], BASELINE_FILE)
        )
    if outputs["report"]:
        summary["report"] = outputs["report"]["report_page"]["path"]
    summary["serving_model"] = (
        outputs["export"]["serving_model"]["metadata"]["version_uri"] if outputs["export"] else None
    )
    return summary


def check_before_running(config: PipelineConfig, output_dir: str) -> None:
    """Checks what only this machine can tell, before any work: the source and output exist."""
    source = config.ingest.parsed_source
    if source.kind == "tfds":
        # Imported here: tensorflow-datasets takes seconds to import, and only tfds sources
        # need it.
        import tensorflow_datasets as tfds

        if source.location not in tfds.list_builders(with_community_datasets=False):
            raise ConfigError(
                f"--source={config.ingest.source!r} is not allowed: no tensorflow-datasets "
                f"dataset named {source.location!r}"
            )
    elif source.kind != "sine" and not tf.io.gfile.exists(source.location):
        raise ConfigError(
            f"--source={config.ingest.source!r} is not allowed: {source.location} does not exist"
        )
    if source.kind == "csv" and config.task.task == FORECAST:
        check_csv_columns(source.location, config.ingest.source, config.series)
    elif source.kind == "csv":
        check_delimited_headers(config.ingest)
    require_writable("output_dir", output_dir)
    if config.evaluate.export_dir:
        require_writable("export_dir", config.evaluate.export_dir)


def require_writable(option: str, directory: str) -> None:
    """Raises ConfigError unless a file can be written in `directory` (made if missing), local
    or an object store's, so a step that writes there late does not fail after the work."""
    probe = f"{directory.rstrip('/')}/.write-probe-{uuid.uuid4().hex}"
    try:
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("probe")
        tf.io.gfile.remove(probe)
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "message", None) or error
        raise ConfigError(
            f"--{option.replace('_', '-')}={directory!r} is not allowed: cannot write there "
            f"({reason})"
        ) from error


def new_run_id() -> str:
    """An id for one run, unique within an output folder: its start time and a random tail."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def output_dir_lock(output_dir: str, run_id: str) -> Iterator[None]:
    """Holds `output_dir` for run `run_id`; raises ConfigError naming the holder if another
    run holds it, so two runs never mix their artifacts, cache, logs and summary.

    The lock is an flock on `output_dir/.lock`, which the kernel releases however the process
    ends, so a killed run leaves no stale lock behind. (Network file systems may not honour
    flock; a shared output folder there is not guarded.)
    """
    path = os.path.join(output_dir, LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another run that is starting"
            raise ConfigError(
                f"--output-dir={output_dir!r} is not allowed: it is in use by {holder}; "
                "wait for that run to end or choose another --output-dir"
            ) from None
        lock.truncate(0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        lock.write(f"run {run_id} (pid {os.getpid()} on {socket.gethostname()}, since {started})")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


@contextlib.contextmanager
def steps_end_with_this_process() -> Iterator[None]:
    """Names this process to the steps it starts, which end when it ends (common/lifetime.py)."""
    earlier = os.environ.get(RUN_PROCESS_ENV)
    os.environ[RUN_PROCESS_ENV] = run_process_marker()
    try:
        yield
    finally:
        if earlier is None:
            del os.environ[RUN_PROCESS_ENV]
        else:
            os.environ[RUN_PROCESS_ENV] = earlier


def remove_stale_incomplete(output_dir: str) -> None:
    """Removes the `.incomplete` folders that killed steps of earlier runs left behind.

    Only a run holding the output folder calls this, so no step is writing into them.
    """
    removed = []
    for top in (ARTIFACTS_DIR, CACHE_DIR):
        for folder, subfolders, _ in os.walk(os.path.join(output_dir, top)):
            for name in [name for name in subfolders if name.endswith(INCOMPLETE_SUFFIX)]:
                shutil.rmtree(os.path.join(folder, name))
                subfolders.remove(name)
                removed.append(os.path.join(folder, name))
    if removed:
        logger.info("removed %d folder(s) that killed steps left incomplete", len(removed))


def _bring_the_model_first(pipeline_spec) -> None:
    """Makes every step that the blessed group (export) does not need wait for that group.

    kfp.local runs one task at a time in an order its protobuf map's hash picks anew in each
    process (the baseline sometimes ran before transform); on a cluster such steps run side by
    side. Locally the model the user waits for should come first. A sibling in the DAG may
    depend on the group, and a skipped group (not blessed) counts as done.
    """
    tasks = pipeline_spec.root.dag.tasks
    groups = [name for name, task in tasks.items() if task.trigger_policy.condition]
    needed, pending = set(groups), list(groups)
    while pending:
        for upstream in tasks[pending.pop()].dependent_tasks:
            if upstream not in needed:
                needed.add(upstream)
                pending.append(upstream)
    for name, task in tasks.items():
        if name not in needed:
            task.dependent_tasks.extend(groups)


@contextlib.contextmanager
def _output_to(stream):
    """Sends what kfp.local prints and logs (it logs skipped tasks outside its own logging
    context, through the root logger) to `stream` for as long as the run lasts."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = [logging.StreamHandler(stream)]
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        root.handlers, root.level = handlers, level


def _add_step_logs(summary: dict, steps: list[StepRun]) -> None:
    """Each step's log files, and a failed step's status and its own error, into the summary."""
    for step in steps:
        entry = summary["steps"].setdefault(step.name, {"status": "not run", "seconds": 0.0})
        entry.setdefault("logs", []).append(step.log_path)
        if step.status == "failed":
            entry.update(status="failed", seconds=round(step.seconds, 1), error=step.error)
            if "failure" not in summary:
                summary["failure"] = {"step": step.name, "error": step.error, "log": step.log_path}
                summary["error"] = f"{step.name} failed: {step.error}"


def _copy_report(report_page: str, destination: str, log_paths: list[str]) -> None:
    """The report as a page that opens (`.html`), with links to the run's step logs."""
    with open(report_page, encoding="utf-8") as page_file:
        page = page_file.read()
    folder = os.path.dirname(destination)
    links = "".join(
        f'<li><a href="{html.escape(os.path.relpath(path, folder))}">'
        f"{html.escape(os.path.basename(path))}</a></li>"
        for path in log_paths
    )
    page = page.replace("</body>", f"<h2>Step logs</h2><ul>{links}</ul>\n</body>", 1)
    with open(destination, "w", encoding="utf-8") as destination_file:
        destination_file.write(page)


def run_local(
    config: PipelineConfig,
    output_dir: str,
    reuse: bool = True,
    display=None,
    image: str = "",
) -> dict:
    """Runs the whole DAG with artifacts under `output_dir` and returns the run summary.

    With `reuse`, steps whose inputs and parameters match an earlier run under the same
    `output_dir` copy that run's outputs (kept in `output_dir/cache`) instead of recomputing.
    With `image`, every step runs in that container image (DockerRunner), else in this
    Python environment (SubprocessRunner).
    Each step's output goes to its own log under `output_dir/logs/<run id>/`; `display` (a
    pipeline.console display; plain lines on stderr by default) shows the run. A failed step
    does not raise: the summary's status is "failed" and `error` names the step and its error.
    One run at a time holds `output_dir` (a second one raises ConfigError naming the first);
    each keeps its artifacts in `artifacts/<run id>/`.
    """
    output_dir = os.path.abspath(output_dir)
    check_before_running(config, output_dir)
    run_id = new_run_id()
    with output_dir_lock(output_dir, run_id), steps_end_with_this_process():
        remove_stale_incomplete(output_dir)
        return _run_holding_output_dir(config, output_dir, reuse, display, image, run_id)


def _run_holding_output_dir(
    config: PipelineConfig, output_dir: str, reuse: bool, display, image: str, run_id: str
) -> dict:
    # A pipeline root of the run's own: kfp.local names the run's folder in it by the time.
    pipeline_root = os.path.join(output_dir, ARTIFACTS_DIR, run_id)
    os.makedirs(pipeline_root)
    cache_dir = os.path.join(output_dir, CACHE_DIR) if reuse else ""
    if image:
        config = with_absolute_paths(config)
        runner = docker_runner(config, output_dir, pipeline_root, cache_dir)
    else:
        runner = local.SubprocessRunner(use_venv=False)
    local.init(runner=runner, pipeline_root=pipeline_root, raise_on_error=True)
    started = datetime.datetime.now()
    log_dir = os.path.join(output_dir, LOGS_DIR, run_id)
    display = display or PlainDisplay(Console(stderr=True))
    step_names = {name: step for step, name in step_task_names(config.task.task).items()}
    labels = {step: list(config.train.model_types) for step in ("pretrain", "train")}
    router = StepLogRouter(log_dir, display, labels, step_names)
    local_deployment = DeploymentOptions(
        retries=False, max_parallel_trainings=1, **({"image": image} if image else {})
    )
    pipeline = create_pipeline(config, local_deployment, local=True)
    _bring_the_model_first(pipeline.pipeline_spec)
    start = time.monotonic()
    status = "succeeded"
    display.start()
    try:
        with _output_to(router), warnings.catch_warnings():
            # The image's name does not contain "python"; kfp only warns that it may lack Python.
            warnings.filterwarnings("ignore", message=".*non-Python base image.*")
            pipeline(**pipeline_arguments(config, cache_dir))
    except RuntimeError:
        # kfp.local's own message names only the task; the step's error is in `router.steps`.
        status = "failed"
    finally:
        router.close()
        display.stop()
    run_folders = [name for name in os.listdir(pipeline_root) if not name.startswith(".")]
    if not run_folders:
        raise RuntimeError(f"the pipeline did not start; see {log_dir}")
    run_dir = os.path.join(pipeline_root, run_folders[0])
    summary = summarize_run(run_dir, config, status, time.monotonic() - start)
    summary["run_id"] = run_id
    summary["started"] = started.isoformat(timespec="seconds")
    summary["logs"] = log_dir
    _add_step_logs(summary, router.steps)
    if "report" in summary:
        log_paths = [step.log_path for step in router.steps]
        run_report = os.path.join(run_dir, REPORT_FILE)
        _copy_report(summary["report"], run_report, log_paths)
        # The newest run's report sits beside its summary; each run's own stays in its folder.
        _copy_report(summary["report"], os.path.join(output_dir, REPORT_FILE), log_paths)
        summary["report"] = run_report
    write_json(os.path.join(run_dir, SUMMARY_FILE), summary)
    write_json(os.path.join(output_dir, SUMMARY_FILE), summary)
    return summary
