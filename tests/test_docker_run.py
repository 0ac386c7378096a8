"""The whole DAG in containers (`lstm-pipeline run --runner docker`), as a cluster would run it:
every step in the component image as its non-root user, on a read-only root filesystem, gives
what the subprocess runner gives on the same data and seed, and leaves outputs that the owner of
the output folder can read and delete without root."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.dag import STEP_NAMES

RUN_ARGS = ["--model", "lstm", "--epochs", "1", "--units", "8", "--accuracy-threshold", "0"]
IMAGE_USER = 10001
# A host user other than root and the image's, who owns the container run's output folder.
OWNER = 4242


def run(runner: str, output_dir: Path, source: Path, image: str = "") -> dict:
    argv = ["run", "--runner", runner, "--source", f"aclimdb:{source}", *RUN_ARGS]
    argv += ["--output-dir", str(output_dir), "--export-dir", str(output_dir / "serving")]
    argv += ["--image", image] if image else []
    assert main(argv) == 0
    return json.loads((output_dir / "run_summary.json").read_text())


@pytest.fixture(scope="module")
def container_run(component_image, aclimdb_dir):
    # The output folder belongs to an ordinary user (as one's own folder does), in /tmp so
    # that user can reach it.
    output_dir = Path(tempfile.mkdtemp(prefix="docker-run-"))
    if os.geteuid() == 0:
        os.chown(output_dir, OWNER, OWNER)
    yield output_dir, run("docker", output_dir, aclimdb_dir, component_image)
    subprocess.run(["rm", "-rf", str(output_dir)], check=False)


def test_the_container_run_gives_the_subprocess_runs_results(container_run, aclimdb_dir, tmp_path):
    _, in_containers = container_run
    in_processes = run("subprocess", tmp_path, aclimdb_dir)
    for summary in (in_containers, in_processes):
        assert summary["status"] == "succeeded"
        assert {summary["steps"][step]["status"] for step in STEP_NAMES} == {"succeeded"}
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


def test_every_step_ran_as_the_images_non_root_user(container_run):
    _, summary = container_run
    run_dir = Path(summary["run_dir"])
    # kfp's executor writes each task's results from inside its container.
    task_results = sorted(run_dir.rglob("executor_output.json"))
    assert {path.parent.name for path in task_results} == set(STEP_NAMES)
    written = [path for path in run_dir.rglob("*")]
    assert written and {path.stat().st_uid for path in written} == {IMAGE_USER}


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another host user needs root")
def test_the_output_folders_owner_reads_and_deletes_everything_without_root(container_run):
    output_dir, _ = container_run
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
