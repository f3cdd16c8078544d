"""The ASGI application: routing, request validation, coalesced prediction and metrics.

Written against raw ASGI rather than a framework: per request it does one dict look-up to route,
reads the body (already complete in the common case), validates rows, and joins the batch that
the event loop flushes at the end of the current turn. Requests that arrive together (which is
what concurrency means on one core) share one model call, whose fixed cost dominates for small
inputs (for scikit-learn, ~100 us of validation per call against ~1 us per extra row).
"""

from __future__ import annotations

import asyncio
import json
import logging
from time import perf_counter
from typing import Any

import numpy as np

from . import __version__
from .config import Settings
from .inputs import BadInput, parse_json, rows_from_csv, rows_from_mlflow, rows_from_predict
from .loader import LoadedModel
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics

log = logging.getLogger("iris_server")

JSON = b"application/json"
_ROUTES: dict[str, tuple[str, ...]] = {
    "/predict": ("POST",),
    "/invocations": ("POST",),
    "/healthz": ("GET", "HEAD"),
    "/readyz": ("GET", "HEAD"),
    "/metrics": ("GET", "HEAD"),
    # MLflow scoring server's probes, for drop-in use behind existing checks.
    "/ping": ("GET", "HEAD"),
    "/health": ("GET", "HEAD"),
    "/version": ("GET", "HEAD"),
}


class PredictionError(RuntimeError):
    pass


class ClientGone(Exception):
    """The client disconnected before its request body arrived: there is no one to answer."""


def _error(status: int, code: str, message: str) -> tuple[int, bytes, bytes]:
    # MLflow's error shape, so MLflow clients surface the message.
    return status, json.dumps({"error_code": code, "message": message}).encode(), JSON


class App:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self._pending: list[tuple[list[list[Any]], asyncio.Future[list[Any]]]] = []
        self._scheduled = False
        self._count_classes = False

    def set_model(self, model: LoadedModel) -> None:
        self._count_classes = bool(model.classes)
        self.model = model

    # --- ASGI entry -------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        start = perf_counter()
        path = scope["path"]
        methods = _ROUTES.get(path)
        route = path if methods is not None else "other"
        extra_headers: list[tuple[bytes, bytes]] = []
        if methods is None:
            status, body, ctype = _error(
                404, "NOT_FOUND", f"no route {path}; see /predict, /invocations, /healthz, /readyz, /metrics"
            )
        elif scope["method"] not in methods:
            status, body, ctype = _error(405, "METHOD_NOT_ALLOWED", f"{path} accepts {', '.join(methods)}")
            extra_headers.append((b"allow", ", ".join(methods).encode()))
        else:
            try:
                status, body, ctype = await self._handle(path, scope, receive)
            except ClientGone:
                return
            except BadInput as err:
                self.metrics.input_errors.labels(err.reason).inc()
                status, body, ctype = _error(err.status, "BAD_REQUEST", err.message)
            except PredictionError as err:
                status, body, ctype = _error(500, "INTERNAL_ERROR", f"prediction failed: {err}")
            except Exception:  # noqa: BLE001 - a bug must cost one request, not the server
                log.exception("unhandled error on %s", path)
                status, body, ctype = _error(500, "INTERNAL_ERROR", "internal error; see the server log")
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        if extra_headers:
            headers.extend(extra_headers)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(route, status, perf_counter() - start)

    async def _handle(self, path: str, scope: dict[str, Any], receive: Any) -> tuple[int, bytes, bytes]:
        if path == "/predict" or path == "/invocations":
            model = self.model
            if model is None:
                await self._read_body(scope, receive)
                return _error(503, "NOT_READY", "the model is not loaded yet")
            body, content_type = await self._read_body(scope, receive)
            max_rows = self.settings.max_rows
            if path == "/predict":
                rows = rows_from_predict(parse_json(body), model.features, max_rows)
            else:
                mime = content_type.split(";", 1)[0].strip().lower()
                if mime in ("", "application/json"):
                    payload = parse_json(body)
                    if type(payload) is not dict:
                        raise BadInput(
                            "bad_format",
                            "body must be an object with one of dataframe_split, dataframe_records, instances, inputs",
                        )
                    rows = rows_from_mlflow(payload, model.features, max_rows)
                elif mime == "text/csv":
                    rows = rows_from_csv(body, model.features, max_rows)
                else:
                    raise BadInput(
                        "unsupported_media_type",
                        f"content type {content_type!r} is not supported; use application/json or text/csv",
                        status=415,
                    )
            predictions = await self._predict(rows)
            return 200, b'{"predictions":' + json.dumps(predictions, separators=(",", ":")).encode() + b"}", JSON
        if path == "/metrics":
            return 200, self.metrics.render(), METRICS_CONTENT_TYPE.encode()
        if path == "/healthz":
            return 200, b'{"status":"ok"}', JSON
        if path == "/version":
            return 200, json.dumps({"server": __version__}).encode(), JSON
        # /readyz, /ping, /health
        if self.model is not None:
            return 200, json.dumps({"status": "ready", "model": self.model.info()}).encode(), JSON
        if self.load_error is not None:
            return _error(503, "MODEL_LOAD_FAILED", self.load_error)
        return 503, b'{"status":"loading"}', JSON

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> tuple[bytes, str]:
        limit = self.settings.max_body_bytes
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadInput("bad_request", "Content-Length is not a number") from None
                if declared > limit:
                    raise BadInput(
                        "body_too_large",
                        f"request body is {declared} bytes, the limit is {limit} (MAX_BODY_BYTES)",
                        413,
                    )
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if message.get("more_body"):
            parts = [body]
            size = len(body)
            while message.get("more_body"):
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BadInput(
                        "body_too_large", f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)", 413
                    )
                parts.append(chunk)
            body = b"".join(parts)
        return body, content_type

    # --- coalesced prediction ---------------------------------------------------------------

    def _predict(self, rows: list[list[Any]]) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((rows, future))
        if not self._scheduled:
            self._scheduled = True
            # Runs after every callback already queued, i.e. after the other requests that
            # were read in this turn of the loop have validated their rows and joined.
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        try:
            self._flush_groups(pending)
        except Exception as err:  # noqa: BLE001 - never leave a request waiting on a lost future
            log.exception("prediction batch failed")
            for _, future in pending:
                if not future.done():
                    future.set_exception(PredictionError(str(err)))

    def _flush_groups(self, pending: list[tuple[list[list[Any]], asyncio.Future[list[Any]]]]) -> None:
        limit = self.settings.max_batch_rows
        group: list[tuple[list[list[Any]], asyncio.Future[list[Any]]]] = []
        total = 0
        for item in pending:
            n = len(item[0])
            if group and total + n > limit:
                self._run(group, total)
                group, total = [], 0
            group.append(item)
            total += n
        if group:
            self._run(group, total)

    def _run(self, group: list[tuple[list[list[Any]], asyncio.Future[list[Any]]]], total: int) -> None:
        model = self.model
        assert model is not None
        if len(group) == 1:
            batch = group[0][0]
        else:
            batch = []
            for rows, _ in group:
                batch.extend(rows)
        try:
            out = model.predict(np.array(batch, dtype=np.float64))
            values = out.tolist()
            if len(values) != total:
                raise PredictionError(f"the model returned {len(values)} predictions for {total} rows")
        except Exception as err:  # noqa: BLE001
            if len(group) > 1:
                # Isolate the failure to the request that causes it.
                for item in group:
                    self._run([item], len(item[0]))
                return
            log.exception("prediction failed")
            future = group[0][1]
            if not future.done():
                future.set_exception(err if isinstance(err, PredictionError) else PredictionError(str(err)))
            return
        self.metrics.batch_rows.observe(total)
        if self._count_classes:
            self.metrics.count_predictions(values)
        offset = 0
        for rows, future in group:
            n = len(rows)
            if not future.done():
                future.set_result(values[offset : offset + n])
            offset += n
