"""A small Kubeflow Pipelines v2beta1 REST server on 127.0.0.1 that records what it receives.

It implements the endpoints the kfp client calls for `lstm-pipeline submit`: healthz (with the
release it claims to be), pipelines and their versions (list, upload; per namespace),
experiments (list, create), runs (create, get) and recurring runs (create), keeping state in
memory like the real API server. It can serve over TLS and answer any endpoint with an HTTP
error whose message repeats the request's headers, as a careless proxy's would.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes


@dataclass
class State:
    pipelines: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    experiments: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    recurring_runs: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    tag_name: str = "2.17.0"
    multi_user: bool = False
    # (method, path regular expression) -> HTTP status to answer instead.
    failures: dict = field(default_factory=dict)
    # The states a run reports on successive GETs; the last one repeats.
    run_states: list = field(default_factory=lambda: ["RUNNING", "SUCCEEDED"])


def _matches(filter_json: str | None, item: dict) -> bool:
    if not filter_json:
        return True
    for predicate in json.loads(filter_json).get("predicates", []):
        if item.get(predicate["key"]) != predicate.get(
            "stringValue", predicate.get("string_value")
        ):
            return False
    return True


def _uploaded_name(request: Request) -> str:
    return request.query.get("name", [""])[0] or request.query.get("display_name", [""])[0]


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # Keep test output quiet.
            pass

        def _request(self) -> Request:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                url.path,
                parse_qs(url.query),
                {key.lower(): value for key, value in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            state.requests.append(request)
            return request

        def _failed(self, request: Request) -> bool:
            status = next(
                (
                    status
                    for (method, pattern), status in state.failures.items()
                    if method == request.method and re.fullmatch(pattern, request.path)
                ),
                None,
            )
            if status is not None:
                self._send(
                    status,
                    {
                        "error": "refused",
                        "code": 7,
                        "message": f"refused a request with headers {request.headers}",
                    },
                )
            return status is not None

        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            request = self._request()
            if self._failed(request):
                return
            query_filter = request.query.get("filter", [None])[0]
            namespace = request.query.get("namespace", [""])[0]
            if request.path == f"{API}/healthz":
                return self._send(
                    200,
                    {
                        "commit_sha": "0123abc",
                        "tag_name": state.tag_name,
                        "multi_user": state.multi_user,
                        "pipeline_store": "database",
                    },
                )
            if request.path == f"{API}/pipelines":
                found = [
                    p
                    for p in state.pipelines.values()
                    if p["namespace"] == namespace and _matches(query_filter, p)
                ]
                return self._send(200, {"pipelines": found} if found else {})
            if match := re.fullmatch(f"{API}/pipelines/([^/]+)/versions", request.path):
                found = [
                    v
                    for v in state.versions.values()
                    if v["pipeline_id"] == match[1] and _matches(query_filter, v)
                ]
                return self._send(200, {"pipeline_versions": found} if found else {})
            if request.path == f"{API}/experiments":
                found = [
                    e
                    for e in state.experiments.values()
                    if (e.get("namespace") or "") == namespace and _matches(query_filter, e)
                ]
                return self._send(200, {"experiments": found} if found else {})
            if match := re.fullmatch(f"{API}/runs/([^/]+)", request.path):
                run = state.runs[match[1]]
                run["polls"] += 1
                run["state"] = state.run_states[min(run["polls"], len(state.run_states)) - 1]
                return self._send(200, {k: v for k, v in run.items() if k != "polls"})
            return self._send(404, {"error": f"not implemented: GET {request.path}"})

        def do_POST(self):
            request = self._request()
            if self._failed(request):
                return
            if request.path == f"{API}/pipelines/upload":
                pipeline = {
                    "pipeline_id": str(uuid.uuid4()),
                    "display_name": _uploaded_name(request),
                    "namespace": request.query.get("namespace", [""])[0],
                }
                state.pipelines[pipeline["pipeline_id"]] = pipeline
                # Like the real server, a new pipeline starts with a version of its own name.
                first_version = {
                    "pipeline_version_id": str(uuid.uuid4()),
                    "pipeline_id": pipeline["pipeline_id"],
                    "display_name": pipeline["display_name"],
                }
                state.versions[first_version["pipeline_version_id"]] = first_version
                return self._send(200, pipeline)
            if request.path == f"{API}/pipelines/upload_version":
                pipeline_id = request.query["pipelineid"][0]
                version = {
                    "pipeline_version_id": str(uuid.uuid4()),
                    "pipeline_id": pipeline_id,
                    "display_name": _uploaded_name(request),
                }
                state.versions[version["pipeline_version_id"]] = version
                return self._send(200, version)
            body = json.loads(request.body or b"{}")
            if request.path == f"{API}/experiments":
                experiment = dict(body, experiment_id=str(uuid.uuid4()))
                state.experiments[experiment["experiment_id"]] = experiment
                return self._send(200, experiment)
            if request.path == f"{API}/runs":
                run = dict(body, run_id=str(uuid.uuid4()), state="PENDING", polls=0)
                state.runs[run["run_id"]] = run
                return self._send(200, {k: v for k, v in run.items() if k != "polls"})
            if request.path == f"{API}/recurringruns":
                recurring = dict(body, recurring_run_id=str(uuid.uuid4()), status="ENABLED")
                state.recurring_runs[recurring["recurring_run_id"]] = recurring
                return self._send(200, recurring)
            return self._send(404, {"error": f"not implemented: POST {request.path}"})

    return Handler


class FakeKfpServer:
    """Context manager: a fake API server on a free loopback port, with `.url` and `.state`;
    over HTTPS with the given certificate chain and key files."""

    def __init__(self, certificate: str = "", key: str = ""):
        self.state = State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        scheme = "http"
        if certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKfpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
