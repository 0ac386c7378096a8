"""An S3-compatible object store on 127.0.0.1 for tests: moto's server mode.

It stands in for the stores the pipeline's `s3://` paths meet on a cluster (the SeaweedFS that
Kubeflow Pipelines 2.16+ installs, MinIO, AWS S3): the same REST API, reached the same way, by
endpoint and keys in the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...), which boto3,
s3fs and Beam's S3 filesystem all read, in this process and in the subprocesses kfp.local
starts.
"""

from __future__ import annotations

import logging

import boto3
import pytest
import requests
import s3fs
from moto.server import ThreadedMotoServer

BUCKET = "lstm-test"


class ObjectStore:
    """A started server with one bucket; `uri(key)` names an object in it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto keeps its buckets per process, not per server: start from an empty store.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # One line per request.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", self.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        # s3fs reuses filesystem instances across calls; one made for an earlier server would
        # talk to its (closed) port.
        s3fs.S3FileSystem.clear_instance_cache()
        self.client = boto3.client("s3")
        self.client.create_bucket(Bucket=BUCKET)

    def uri(self, key: str = "") -> str:
        return f"s3://{BUCKET}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def stop(self) -> None:
        self._server.stop()
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def object_store(monkeypatch):
    store = ObjectStore(monkeypatch)
    yield store
    store.stop()
