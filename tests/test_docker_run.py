"""The whole DAG in containers (`lstm-pipeline run --runner docker`), as a cluster would run it:
every step in the component image as its non-root user, on a read-only root filesystem, gives
what the subprocess runner gives on the same data and seed, shows the same step lines and keeps
the same step logs, and leaves outputs that the owner of the output folder can read and delete
without root."""

import contextlib
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from components.common.tasks import SENTIMENT, TASKS
from pipeline.cli import main

RUN_ARGS = ["--model", "lstm", "--epochs", "1", "--units", "8", "--accuracy-threshold", "0"]
IMAGE_USER = 10001
# A host user other than root and the image's, who owns the container run's output folder.
OWNER = 4242
STEPS = TASKS[SENTIMENT].steps


def run(runner: str, output_dir: Path, source: Path, image: str = "") -> tuple[dict, str]:
    """The run's summary and what the command printed."""
    argv = ["run", "--runner", runner, "--source", f"aclimdb:{source}", *RUN_ARGS]
    argv += ["--output-dir", str(output_dir), "--export-dir", str(output_dir / "serving")]
    argv += ["--image", image] if image else []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert main(argv) == 0, printed.getvalue()
    return json.loads((output_dir / "run_summary.json").read_text()), printed.getvalue()


@pytest.fixture(scope="module")
def container_run(component_image, aclimdb_dir):
    # The output folder belongs to an ordinary user (as one's own folder does), in /tmp so
    # that user can reach it.
    output_dir = Path(tempfile.mkdtemp(prefix="docker-run-"))
    if os.geteuid() == 0:
        os.chown(output_dir, OWNER, OWNER)
    summary, printed = run("docker", output_dir, aclimdb_dir, component_image)
    if os.geteuid() == 0:
        # What this process wrote (logs, the summary, the report) a user's own run writes as
        # that user.
        for path in [output_dir, *output_dir.rglob("*")]:
            if path.lstat().st_uid == 0:
                os.lchown(path, OWNER, OWNER)
    yield output_dir, summary, printed
    subprocess.run(["rm", "-rf", str(output_dir)], check=False)


def test_the_container_run_gives_the_subprocess_runs_results(
    container_run, aclimdb_dir, tmp_path, monkeypatch
):
    _, in_containers, _ = container_run
    # The image's OpenBLAS picks its kernels by the CPU; a host's OPENBLAS_* settings (this
    # project's machines name a kernel) pick others, whose round-off a training run grows.
    for name in [name for name in os.environ if name.startswith("OPENBLAS_")]:
        monkeypatch.delenv(name)
    in_processes, _ = run("subprocess", tmp_path, aclimdb_dir)
    for summary in (in_containers, in_processes):
        assert summary["status"] == "succeeded"
        assert {summary["steps"][step]["status"] for step in STEPS} == {"succeeded"}
    assert in_containers["metrics"]["test"] == in_processes["metrics"]["test"]
    assert in_containers["counts"] == in_processes["counts"]
    assert in_containers["baseline"] == in_processes["baseline"]
    assert (
        in_containers["leaderboard"]["models"][0]["eval_accuracy"]
        == (in_processes["leaderboard"]["models"][0]["eval_accuracy"])
    )
    # Export pushed to the export folder, mounted read-write at its path.
    (version,) = (container_run[0] / "serving").iterdir()
    assert (version / "saved_model.pb").is_file()


def test_the_terminal_and_the_step_logs_show_the_containers_steps(container_run):
    _, summary, printed = container_run
    lines = printed.splitlines()
    for step in STEPS:
        assert f"{step}: started" in lines
        assert any(line.startswith(f"{step}: succeeded in ") for line in lines), step
    # The training bar's events came through the container's output.
    assert "train: epoch 1/1: accuracy " in printed
    assert lines[-1] == f"step logs      {summary['logs']}"
    text = {step: Path(entry["logs"][0]).read_text() for step, entry in summary["steps"].items()}
    assert set(text) == set(STEPS)
    assert "ingest: reading aclimdb:" in text["ingest"]
    assert "train: epoch 1/1 accuracy=" in text["train"]
    assert "export: serving model written to" in text["export"]
    # Each step's log holds its own container's output: kfp's DockerRunner names the image.
    for step, log in text.items():
        assert "Found image 'lstm-pipeline:" in log, step


def test_every_step_ran_as_the_images_non_root_user(container_run):
    _, summary, _ = container_run
    run_dir = Path(summary["run_dir"])
    # kfp's executor writes each task's results from inside its container.
    task_results = sorted(run_dir.rglob("executor_output.json"))
    task_names = {path.parent.name for path in task_results}
    assert {name.removesuffix("-sentiment") for name in task_names} == set(STEPS)
    written = [path for path in run_dir.rglob("*")]
    # Except what the host writes: the run's summary and its report with links to the logs.
    written = [path for path in written if path.name not in ("run_summary.json", "report.html")]
    assert written and {path.stat().st_uid for path in written} == {IMAGE_USER}


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another host user needs root")
def test_the_output_folders_owner_reads_and_deletes_everything_without_root(container_run):
    output_dir, _, _ = container_run
    # Not this process: a shell as the folder's owner, in no group but its own.
    read_all_then_delete = (
        f"find {output_dir} -type f -exec cat {{}} + > /dev/null && rm -r {output_dir} "
        f"&& test ! -e {output_dir}"
    )
    result = subprocess.run(
        ["sh", "-c", read_all_then_delete],
        user=OWNER,
        group=OWNER,
        extra_groups=[],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
