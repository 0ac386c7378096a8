"""Serve: an exported SavedModel behind KServe's Python model server.

KServe's server (FastAPI on uvicorn) brings the protocols: KServe v1 (`POST
/v1/models/NAME:predict` with TF Serving's `{"instances": [...]}`), the v2 Open Inference
Protocol (`POST /v2/models/NAME/infer`), liveness and readiness endpoints, and Prometheus
metrics at `/metrics`. What is ours:

- `ExportedModel`, a `kserve.Model` over the SavedModel's `serving_default` signature: each
  request is checked against the signature (a 400 naming what is wrong), and the answer is the
  signature's own outputs per instance (`probability` and `label` for a classifier,
  `forecast` for a forecaster);
- TF Serving's default version policy: over an export destination (`<dir>/<version>/`) the
  newest version is served, and a newer one written there later replaces it without a
  restart;
- the version paths KServe leaves unimplemented (`/v2/models/NAME/versions/V/...` and TF
  Serving's `/v1/models/NAME/versions/V:predict`): the served version, or a 404;
- a limit on the request body (413), and one-line 400s where FastAPI would answer 422 with
  its validation details.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import kserve
import numpy as np
import orjson
import tensorflow as tf
from fastapi import FastAPI
from fastapi.exceptions import FastAPIDeprecationWarning, RequestValidationError
from fastapi.responses import JSONResponse
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput, ModelNotFound
from kserve.logging import KSERVE_TRACE_LOGGER_NAME
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import from_np_dtype
from starlette.exceptions import HTTPException

from components.common import features as F
from components.common.config import ConfigError, ServeConfig
from components.common.serving import newest_version, resolve_version_dir

logger = logging.getLogger(__name__)

# TensorFlow runs each request's call here, off the event loop, so the server keeps accepting
# and parsing requests (and answering health checks) while a batch computes.
INFERENCE_THREADS = 2


@dataclasses.dataclass(frozen=True)
class ServedVersion:
    """One loaded version: its folder, its version name and its serving signature."""

    path: str
    version: str
    saved_model: Any  # Held so the signature's variables stay alive.
    signature: Any
    input_name: str
    input_spec: tf.TensorSpec
    output_specs: dict[str, tf.TensorSpec]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.signature(**{self.input_name: tf.constant(batch, self.input_spec.dtype)})
        return {name: outputs[name].numpy() for name in self.output_specs}


def load_version(path: str) -> ServedVersion:
    """Loads the SavedModel at `path`; a ConfigError if it has no servable signature."""
    saved_model = tf.saved_model.load(path)
    if F.SERVING_SIGNATURE not in saved_model.signatures:
        raise ConfigError(f"{path} has no {F.SERVING_SIGNATURE!r} signature")
    signature = saved_model.signatures[F.SERVING_SIGNATURE]
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise ConfigError(f"{path}: the signature takes {sorted(inputs)}; one input is served")
    ((input_name, input_spec),) = inputs.items()
    if input_spec.shape.rank is None or input_spec.shape.rank < 1:
        raise ConfigError(f"{path}: input {input_name!r} has no batch dimension")
    served = ServedVersion(
        path=path,
        version=path.rstrip("/").rsplit("/", 1)[-1],
        saved_model=saved_model,
        signature=signature,
        input_name=input_name,
        input_spec=input_spec,
        output_specs=dict(signature.structured_outputs),
    )
    # One call before serving: the first one sets up TensorFlow's kernels, which takes seconds
    # that no request should wait for, and a model that cannot run fails here, not in a request.
    example_shape = [1, *(size or 1 for size in input_spec.shape.as_list()[1:])]
    if input_spec.dtype == tf.string:
        served(np.full(example_shape, b"", dtype=object))
    else:
        served(np.zeros(example_shape, input_spec.dtype.as_numpy_dtype))
    return served


def _datatype(spec: tf.TensorSpec) -> str:
    """The v2 datatype name of a tensor spec (`BYTES` for strings)."""
    return from_np_dtype(np.dtype(object) if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)


def _shape(spec: tf.TensorSpec) -> list[int]:
    return [-1 if size is None else size for size in spec.shape.as_list()]


class ExportedModel(kserve.Model):
    """The exported model as KServe sees it: load, check requests, predict, follow versions."""

    def __init__(self, name: str, model_dir: str, poll_seconds: float = 0.0):
        super().__init__(name)
        self.model_dir = model_dir
        self.poll_seconds = poll_seconds
        self.served: ServedVersion | None = None
        self._executor = ThreadPoolExecutor(INFERENCE_THREADS, thread_name_prefix="inference")
        self._stop_watching = threading.Event()
        self._watcher: threading.Thread | None = None
        self._failed_versions: set[str] = set()

    # ---- Loading and following versions ----

    def load(self) -> bool:
        if not tf.io.gfile.isdir(self.model_dir):
            raise ConfigError(f"--model-dir={self.model_dir!r} is not allowed: no such folder")
        try:
            path = resolve_version_dir(self.model_dir)
        except FileNotFoundError as error:
            raise ConfigError(f"--model-dir={self.model_dir!r} is not allowed: {error}") from None
        self.served = load_version(path)
        logger.info("serving %s version %s from %s", self.name, self.served.version, path)
        self.ready = True
        return self.ready

    @property
    def follows_versions(self) -> bool:
        """Whether a newer version can appear: the folder is a destination, not a version."""
        return self.poll_seconds > 0 and self.served.path != self.model_dir

    def start(self) -> None:
        if self.follows_versions and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="versions", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        self._stop_watching.set()
        self._executor.shutdown(wait=True)
        self.ready = False

    def _watch(self) -> None:
        while not self._stop_watching.wait(self.poll_seconds):
            self.check_for_new_version()

    def check_for_new_version(self) -> None:
        """Loads and switches to the newest version if it is not the one served.

        A version that fails to load is logged once and skipped, and the served one stays:
        exports write each version complete or not at all, so it will not get better.
        """
        try:
            newest = newest_version(self.model_dir)
        except tf.errors.OpError as error:
            logger.warning("cannot list %s: %s", self.model_dir, error)
            return
        if newest is None or newest == self.served.path or newest in self._failed_versions:
            return
        try:
            served = load_version(newest)
        # Whatever a broken folder makes the loader raise, this thread must go on watching.
        except Exception as error:  # noqa: BLE001
            self._failed_versions.add(newest)
            logger.error(
                "version %s did not load, still serving %s: %s", newest, self.served.version, error
            )
            return
        self.served = served
        logger.info("serving %s version %s from %s", self.name, served.version, newest)

    # ---- What the signature takes and returns (v2 model metadata) ----

    def get_input_types(self) -> list[dict]:
        spec = self.served.input_spec
        return [
            {"name": self.served.input_name, "datatype": _datatype(spec), "shape": _shape(spec)}
        ]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": name, "datatype": _datatype(spec), "shape": _shape(spec)}
            for name, spec in self.served.output_specs.items()
        ]

    # ---- Requests ----

    async def preprocess(
        self, payload: dict | bytes | InferRequest, headers: dict[str, str] | None = None
    ) -> dict | InferRequest:
        if isinstance(payload, bytes):
            # KServe hands over the raw body when the content type is not JSON (curl -d's).
            try:
                return orjson.loads(payload)
            except orjson.JSONDecodeError as error:
                raise InvalidInput(f"the body is not JSON: {error}") from None
        return payload

    async def predict(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        served = self.served  # One version for the whole request, even if a newer one loads.
        if isinstance(payload, InferRequest):
            batch = v2_batch(served, payload)
        else:
            batch = v1_batch(served, payload)
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(self._executor, served, batch)
        if isinstance(payload, InferRequest):
            return v2_response(self.name, served, payload.id, outputs)
        return {"predictions": v1_predictions(outputs)}


# ---- KServe v1: {"instances": [...]} in, {"predictions": [{output: value}, ...]} out ----


def v1_batch(served: ServedVersion, payload: object) -> np.ndarray:
    """The instances of a v1 body as one batch the signature takes, or InvalidInput."""
    if not isinstance(payload, dict):
        raise InvalidInput('the body must be a JSON object: {"instances": [...]}')
    signature_name = payload.get("signature_name", F.SERVING_SIGNATURE)
    if signature_name != F.SERVING_SIGNATURE:
        raise InvalidInput(
            f"unknown signature_name {signature_name!r}: the model has only 'serving_default'"
        )
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise InvalidInput(f'"instances" must be a non-empty list of {_instance_kind(served)}')
    return _batch(served, instances, "instance")


def v1_predictions(outputs: dict[str, np.ndarray]) -> list[dict]:
    columns = {name: _json_values(values) for name, values in outputs.items()}
    count = len(next(iter(columns.values())))
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


# ---- v2 Open Inference Protocol ----


def v2_batch(served: ServedVersion, request: InferRequest) -> np.ndarray:
    """The one input tensor of a v2 request as a batch the signature takes, or InvalidInput."""
    names = [infer_input.name for infer_input in request.inputs]
    if names != [served.input_name]:
        raise InvalidInput(
            f"the request must have one input named {served.input_name!r}, not {names}"
        )
    (infer_input,) = request.inputs
    datatype = _datatype(served.input_spec)
    if infer_input.datatype != datatype:
        raise InvalidInput(
            f"input {served.input_name!r} must be {datatype}, not {infer_input.datatype}"
        )
    expected_rank = served.input_spec.shape.rank
    shape = list(infer_input.shape)
    if len(shape) != expected_rank or not shape or shape[0] < 1:
        raise InvalidInput(
            f"input {served.input_name!r} must have shape {_shape(served.input_spec)} with at "
            f"least one row, not {shape}"
        )
    try:
        values = infer_input.as_numpy()
    except (ValueError, TypeError) as error:
        raise InvalidInput(
            f"input {served.input_name!r} does not hold shape {shape}: {error}"
        ) from None
    return _batch(
        served, list(values.reshape(shape[0], -1) if expected_rank > 1 else values), "row"
    )


def v2_response(
    model_name: str, served: ServedVersion, request_id: str | None, outputs: dict[str, np.ndarray]
) -> InferResponse:
    infer_outputs = []
    for name, values in outputs.items():
        infer_output = InferOutput(name, list(values.shape), _datatype(served.output_specs[name]))
        infer_output.set_data_from_numpy(values, binary_data=False)
        infer_outputs.append(infer_output)
    return InferResponse(
        response_id=request_id or str(uuid.uuid4()),
        model_name=model_name,
        model_version=served.version,
        infer_outputs=infer_outputs,
    )


# ---- Checking instances against the signature ----


def _instance_kind(served: ServedVersion) -> str:
    if served.input_spec.dtype == tf.string:
        return "strings"
    return f"lists of {served.input_spec.shape[1:].num_elements()} numbers"


def _batch(served: ServedVersion, instances: list, what: str) -> np.ndarray:
    """`instances` as one array of the signature's dtype and shape, or InvalidInput naming the
    first that does not fit."""
    spec = served.input_spec
    if spec.dtype == tf.string:
        texts = []
        for i, instance in enumerate(instances):
            if not isinstance(instance, str | bytes):
                raise InvalidInput(
                    f"{what} {i} is {type(instance).__name__} {_preview(instance)}, not a string"
                )
            try:
                texts.append(instance if isinstance(instance, bytes) else instance.encode())
            except UnicodeEncodeError as error:
                raise InvalidInput(f"{what} {i} is not valid Unicode: {error}") from None
        return np.array(texts, dtype=object)
    row_shape = tuple(spec.shape[1:].as_list())
    for i, instance in enumerate(instances):
        try:
            row = np.asarray(instance)
        except ValueError:  # Ragged.
            row = None
        numbers = row is not None and row.dtype.kind in "iuf"  # Not bools, strings or objects.
        if not numbers or row.shape != row_shape or not np.all(np.isfinite(row)):
            raise InvalidInput(
                f"{what} {i} is {_preview(instance)}, not a list of "
                f"{spec.shape[1:].num_elements()} finite numbers"
            )
    return np.asarray(instances, dtype=spec.dtype.as_numpy_dtype).reshape([-1, *row_shape])


def _preview(value: object, limit: int = 60) -> str:
    text = orjson.dumps(value, default=repr).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_values(values: np.ndarray) -> list:
    if values.dtype == object:
        return [value.decode("utf-8", "replace") for value in values.reshape(-1)]
    return values.tolist()


# ---- The HTTP layer around KServe's endpoints ----


class RequestTooLarge(HTTPException):
    """A request body over the size limit (an HTTPException, which FastAPI passes on unchanged
    while it reads a v2 body)."""

    def __init__(self, reason: str):
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, reason)


class BodySizeLimit:
    """ASGI middleware: a body over `max_bytes` is refused, by its Content-Length before it is
    read, or (chunked) as soon as the bytes received pass the limit."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        reason = f"the request body is over the limit of {self.max_bytes} bytes (--max-body-bytes)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
            return await _send_error(scope, send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, reason)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise RequestTooLarge(reason)
            return message

        return await self.app(scope, limited_receive, send)


# /v2/models/NAME/versions/V[/infer|/ready] and TF Serving's /v1/models/NAME/versions/V:predict.
_VERSION_PATH = re.compile(
    r"^/(?P<api>v[12])/models/(?P<name>[^/:]+)/versions/(?P<version>[^/:]+)(?P<rest>.*)$"
)


class VersionPaths:
    """ASGI middleware: a path naming the served version goes on as the unversioned path; any
    other model or version is a 404."""

    def __init__(self, app, model: ExportedModel):
        self.app = app
        self.model = model

    async def __call__(self, scope, receive, send):
        match = _VERSION_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match:
            served = self.model.served.version
            if match["name"] != self.model.name or match["version"] != served:
                reason = (
                    f"model {match['name']} has no version {match['version']!r}; "
                    f"this server serves {self.model.name} version {served}"
                )
                return await _send_error(scope, send, HTTPStatus.NOT_FOUND, reason)
            path = f"/{match['api']}/models/{match['name']}{match['rest']}"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        return await self.app(scope, receive, send)


async def _send_error(scope, send, status: HTTPStatus, reason: str) -> None:
    logger.info("%d: %s", status, reason)
    await JSONResponse({"error": reason}, status_code=status)(scope, None, send)


def _one_line_answer(status: HTTPStatus, reason: Callable[[Exception], str] = str):
    """An exception handler answering `status` with `{"error": reason}` and logging one line
    (KServe's own handlers log a traceback for every bad request)."""

    async def handle(_, error: Exception) -> JSONResponse:
        logger.info("%d: %s", status, reason(error))
        return JSONResponse({"error": reason(error)}, status_code=status)

    return handle


def _validation_reason(error: RequestValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return f"invalid request: {where + ': ' if where else ''}{first.get('msg')}"


class ModelRESTServer(RESTServer):
    """KServe's REST server on `host`, with our middleware and one-line error answers."""

    def __init__(self, server: kserve.ModelServer, model: ExportedModel, config: ServeConfig):
        super().__init__(
            FASTAPI_APP_IMPORT_STRING,
            server.dataplane,
            server.model_repository_extension,
            config.port,
            grace_period=config.grace_seconds,
        )
        # KServe's REST server listens on every interface; --host chooses.
        self.config.host = config.host
        self.model = model
        self.max_body_bytes = config.max_body_bytes

    def _add_middlewares(self, app: FastAPI) -> None:
        super()._add_middlewares(app)
        app.add_middleware(VersionPaths, model=self.model)
        app.add_middleware(BodySizeLimit, max_bytes=self.max_body_bytes)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        super()._add_exception_handlers(app)
        app.add_exception_handler(InvalidInput, _one_line_answer(HTTPStatus.BAD_REQUEST))
        app.add_exception_handler(ModelNotFound, _one_line_answer(HTTPStatus.NOT_FOUND))
        app.add_exception_handler(
            RequestValidationError, _one_line_answer(HTTPStatus.BAD_REQUEST, _validation_reason)
        )
        app.add_exception_handler(
            RequestTooLarge,
            _one_line_answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, lambda error: error.detail),
        )


def run_server(config: ServeConfig) -> None:
    """Loads the model and serves it until SIGTERM or SIGINT, which let requests in flight
    finish (up to `config.grace_seconds`)."""
    model = ExportedModel(config.model_name, config.model_dir, config.poll_seconds)
    model.load()
    server = kserve.ModelServer(
        http_port=config.port,
        enable_grpc=False,
        enable_latency_logging=False,
        grace_period=config.grace_seconds,
    )
    server.register_model(model)
    # KServe's per-request timing lines repeat what its Prometheus histograms at /metrics hold;
    # its use of ORJSONResponse, which this FastAPI deprecates, is not for users to act on.
    logging.getLogger(KSERVE_TRACE_LOGGER_NAME).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FastAPIDeprecationWarning)
    model.start()
    try:
        ModelRESTServer(server, model, config).run()
    finally:
        model.stop()
