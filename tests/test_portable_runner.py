"""The transform step on Beam's PortableRunner: the Job API that Flink and Spark job servers speak.

Beam's own local job service stands in for the cluster's job server, and a worker pool in the
component image runs the SDK harnesses (EXTERNAL environment), as the workers of a cluster
would: they import the components from the image, not from the test's environment.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import grpc
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import SetupOptions, StandardOptions
from apache_beam.portability.api import beam_job_api_pb2, beam_job_api_pb2_grpc, beam_runner_api_pb2

from components.common.beam import LOCAL_RUNNER, pipeline_options
from components.common.config import TransformConfig
from components.common.io import tfrecord_files
from components.common.tasks import SENTIMENT
from components.transform.transform import run_transform
from pipeline.image import PROJECT_ROOT, docker_client

VOCABULARY = "transform_fn/assets/vocabulary"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, is_running, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_running():
            raise RuntimeError(f"the process that should listen on port {port} exited")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture
def job_service():
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            f"--port={port}",
        ]
    )
    try:
        wait_for_port(port, lambda: process.poll() is None)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def worker_pool_in_image(component_image, tmp_path):
    """Beam's worker pool, run in the component image on the host's network.

    Its workers write where the driver (this process) made folders, so they run as this
    process's user, as a cluster's workers share the driver's storage identity.
    """
    port = free_port()
    container = docker_client().containers.run(
        component_image,
        ["python", "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        user=f"{os.getuid()}:{os.getgid()}",
        network_mode="host",
        read_only=True,
        tmpfs={"/tmp": ""},
        mounts=[docker.types.Mount(str(tmp_path), str(tmp_path), type="bind")],
        detach=True,
    )
    try:

        def running() -> bool:
            container.reload()
            return container.status in ("created", "running")

        wait_for_port(port, running)
        yield port
    finally:
        container.remove(force=True)


def records(folder: str) -> dict[str, list[str]]:
    """Each split's records under a transformed_examples folder, parsed and sorted: comparable
    whatever the order of records and of fields."""
    return {
        split: sorted(
            str(tf.train.Example.FromString(r.numpy()))
            for r in tf.data.TFRecordDataset(tfrecord_files(folder, split), "GZIP")
        )
        for split in ("train", "eval", "test")
    }


def test_portable_runner_with_workers_in_the_image_gives_the_local_runners_results(
    ingested_dir, transformed, job_service, worker_pool_in_image, tmp_path
):
    ingested = shutil.copytree(ingested_dir, tmp_path / "ingested")
    graph_dir, data_dir = str(tmp_path / "transform_graph"), str(tmp_path / "transformed")
    beam_args = [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_service}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{worker_pool_in_image}",
    ]
    config = TransformConfig(vocab_size=24, max_seq_len=40)  # As the local runner's fixture.
    run_transform(SENTIMENT, config, str(ingested), graph_dir, data_dir, beam_args)

    # The job service ran the job (the transform's analysis and output are one pipeline).
    with grpc.insecure_channel(f"localhost:{job_service}") as channel:
        service = beam_job_api_pb2_grpc.JobServiceStub(channel)
        jobs = service.GetJobs(beam_job_api_pb2.GetJobsRequest()).job_info
        assert len(jobs) == 1
        assert {job.state for job in jobs} == {beam_job_api_pb2.JobState.DONE}
        # The workers were sent this project (here: built from setup.py by Beam's stager).
        request = beam_job_api_pb2.GetJobPipelineRequest(job_id=jobs[-1].job_id)
        staged = staged_files(service.GetPipeline(request).pipeline)
    assert "workflow.tar.gz" in staged, staged

    portable = tf.io.gfile.GFile(f"{graph_dir}/{VOCABULARY}").read()
    assert portable == tf.io.gfile.GFile(f"{transformed['graph']}/{VOCABULARY}").read()
    assert len(portable.splitlines()) == 22
    assert records(data_dir) == records(transformed["data"])


def staged_files(pipeline: beam_runner_api_pb2.Pipeline) -> set[str]:
    names = set()
    for environment in pipeline.components.environments.values():
        for dependency in environment.dependencies:
            if dependency.role_urn == "beam:artifact:role:staging_to:v1":
                payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
                    dependency.role_payload
                )
                names.add(payload.staged_name)
    return names


def test_a_remote_runner_gets_this_project_unless_told_how_workers_get_code():
    remote = pipeline_options(["--runner=PortableRunner"]).view_as(SetupOptions)
    assert remote.setup_file == str(PROJECT_ROOT / "setup.py")
    chosen = ["--runner=DataflowRunner", "--sdk_container_image=REGISTRY/image:1"]
    assert pipeline_options(chosen).view_as(SetupOptions).setup_file is None
    chosen = ["--runner=FlinkRunner", "--extra_package=/x/pkg.whl"]
    assert pipeline_options(chosen).view_as(SetupOptions).extra_packages == ["/x/pkg.whl"]
    assert pipeline_options(chosen).view_as(SetupOptions).setup_file is None
    local = pipeline_options([])
    assert local.view_as(StandardOptions).runner == LOCAL_RUNNER
    assert local.view_as(SetupOptions).setup_file is None
    direct = pipeline_options(["--runner", "DirectRunner"]).view_as(SetupOptions)
    assert direct.setup_file is None
    assert Path(remote.setup_file).is_file()
