"""The transform step on Beam's PortableRunner: the Job API that Flink and Spark job servers speak.

Beam's own local job service stands in for the cluster's job server, and a separate worker-pool
process runs the SDK harness (EXTERNAL environment), as workers on a cluster would.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from components.common.config import TransformConfig
from components.common.tasks import SENTIMENT
from components.transform.transform import run_transform


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture
def job_service_and_worker_pool():
    job_port, worker_port = free_port(), free_port()
    # The worker pool starts SDK harnesses with `python` from PATH: make it this environment's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.portability.local_job_service_main",
                f"--port={job_port}",
            ],
            env=env,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.worker.worker_pool_main",
                f"--service_port={worker_port}",
            ],
            env=env,
        ),
    ]
    try:
        wait_for_port(job_port, processes[0])
        wait_for_port(worker_port, processes[1])
        yield job_port, worker_port
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def test_portable_runner_builds_the_same_vocabulary(
    tmp_path, ingested_dir, transformed, job_service_and_worker_pool
):
    job_port, worker_port = job_service_and_worker_pool
    graph_dir = str(tmp_path / "transform_graph")
    beam_args = [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_port}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{worker_port}",
    ]
    config = TransformConfig(vocab_size=24, max_seq_len=40)  # As the DirectRunner fixture.
    run_transform(
        SENTIMENT, config, ingested_dir, graph_dir, str(tmp_path / "transformed"), beam_args
    )
    vocabulary = "transform_fn/assets/vocabulary"
    portable = tf.io.gfile.GFile(f"{graph_dir}/{vocabulary}").read()
    direct = tf.io.gfile.GFile(f"{transformed['graph']}/{vocabulary}").read()
    assert portable == direct
    assert len(portable.splitlines()) == 22
