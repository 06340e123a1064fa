"""What a running service shows about itself.

- **Request ids**: every request gets one (its `X-Request-ID`, when that is a
  UUID, or a new one), returned in the response and written on every log line
  the request causes, here and in the worker that runs its job.
- **Logs**: plain text for people (`LOG_FORMAT=text`), one JSON object a line for
  machines (`LOG_FORMAT=json`).
- **Metrics** at `/metrics`, in Prometheus' text format: requests and their
  latency per route template and status, the event loop's lag, and what each
  kind of concern adds (database pool, job queues).
- **Event-loop lag**: how late the loop runs a callback it scheduled. A blocking
  call in an `async def` shows up here; past `LOOP_LAG_WARNING` seconds a
  watchdog thread logs a warning with the stack the loop's thread is stuck in.
- **Traces** (OpenTelemetry, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and
  **error reports** (Sentry, when `SENTRY_DSN` is set); nothing otherwise.
"""

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import anyio
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .resources import ResourcesDep

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

METRICS_PATH = "/metrics"

#: prometheus-client's switch to multiprocess mode: the directory where every
#: process of a service keeps its metrics, in files the others can read.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

#: How often the lag monitor schedules its callback, in seconds.
LAG_INTERVAL = 0.1

#: Where the loop's thread is when it waits for I/O and runs no Python code.
IDLE_LOOP = frozenset(
    {
        ("select", "selectors.py"),
        ("run_forever", "base_events.py"),
        ("run_until_complete", "base_events.py"),
        ("run", "runners.py"),  # uvloop's loop runs in C below asyncio.Runner
    }
)

LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late the event loop ran a callback scheduled for a given time.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

#: Requests and their latency, by route template (`none` for a path no route
#: matches, so that scans of random paths cannot add series without bound),
#: method and status.
HTTP_LABELS = ("handler", "method", "status")
HTTP_REQUESTS = Counter("http_requests", "Requests answered.", HTTP_LABELS)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its response's end.",
    HTTP_LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

LOG_FORMATS = {
    "text": {
        "format": "%(asctime)s %(levelname)s %(processName)s %(name)s "
        "[%(request_id)s] %(message)s",
    },
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(processName)s %(name)s "
        "%(request_id)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level"},
    },
}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or `-`) on a log record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = correlation_id.get() or "-"
        return True


def stderr_handler() -> logging.Handler:
    """The handler of `logging_config`. Python's warnings go through it too, so
    that in JSON every line of the log is an object."""
    logging.captureWarnings(True)
    return logging.StreamHandler()


def logging_config(level: str, log_format: Literal["text", "json"]) -> dict[str, Any]:
    """Every logger's records to stderr, in `log_format`, with request ids.

    A `logging.config.dictConfig` dictionary: `serve` hands it to uvicorn, which
    applies it in each of its processes; a worker applies it when it starts.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {log_format: LOG_FORMATS[log_format]},
        "handlers": {
            "stderr": {
                "()": stderr_handler,
                "filters": ["request_id"],
                "formatter": log_format,
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's loggers pass their records up to the root's handler rather
        # than printing them in a format of their own.
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


class LoopWatch:
    """Measures the event loop's lag; a watchdog thread reports a stuck loop.

    A task sleeps `LAG_INTERVAL` at a time and records how much later than asked
    it woke up. Each wake-up is also a heartbeat: when none has come for longer
    than the interval plus `threshold`, the watchdog logs one warning for that
    stall, with the stack of the loop's thread at that moment, which names the
    blocking call. Its cost is one wake-up of each every `LAG_INTERVAL`.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._heartbeat = time.monotonic()
        self._stop = threading.Event()

    async def measure(self) -> None:
        while True:
            expected = time.monotonic() + LAG_INTERVAL
            await anyio.sleep(LAG_INTERVAL)
            now = time.monotonic()
            LOOP_LAG.observe(max(now - expected, 0.0))
            self._heartbeat = now

    def watch(self, loop_thread: int) -> None:
        reported = 0.0
        while not self._stop.wait(min(self.threshold, LAG_INTERVAL)):
            beat = self._heartbeat
            stalled = time.monotonic() - beat - LAG_INTERVAL
            if stalled > self.threshold and beat != reported:
                reported = beat
                self._report(stalled, sys._current_frames().get(loop_thread))

    @staticmethod
    def _report(stalled: float, frame: FrameType | None) -> None:
        if frame is None:
            return
        code = frame.f_code
        if (code.co_name, Path(code.co_filename).name) in IDLE_LOOP:
            # No Python code holds the loop: it waits for I/O and still has not
            # run for that long, so the process got no CPU time.
            logger.warning(
                "The event loop ran %.0f ms late while idle: the process got no "
                "CPU time (an overloaded machine or CPU limit?)",
                stalled * 1000,
            )
            return
        logger.warning(
            "The event loop has been blocked for %.0f ms; its thread is in:\n%s",
            stalled * 1000,
            "".join(traceback.format_stack(frame)),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        loop_thread = threading.get_ident()
        watchdog = threading.Thread(
            target=self.watch, args=(loop_thread,), name="loop-watchdog", daemon=True
        )
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.measure)
            watchdog.start()
            try:
                yield
            finally:
                self._stop.set()
                tasks.cancel_scope.cancel()


class RequestMetrics:
    """Counts each request and times it, by the route that served it.

    Routing has already found the route by the time the response ends (FastAPI
    puts it in the scope), so this costs a clock read and two metric updates;
    prometheus-fastapi-instrumentator, which matched every route again on every
    request, cost four times as much (see BENCHMARKS.md).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", "none")
            if handler != METRICS_PATH:
                labels = (handler, scope["method"], str(status))
                HTTP_REQUESTS.labels(*labels).inc()
                HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)


def instrument(app: FastAPI) -> None:
    """Request ids, and the request count and latency per route and status."""
    app.add_middleware(RequestMetrics)
    # Added last, so it runs first: the request id is set before anything logs.
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER)
    app.include_router(metrics_router)


metrics_router = APIRouter()


@metrics_router.get(METRICS_PATH, include_in_schema=False)
async def metrics(resources: ResourcesDep) -> Response:
    """The metrics of this process (or, under `serve --workers N`, of all N)."""
    async with anyio.create_task_group() as tasks:
        for refresh in resources.refreshes:
            tasks.start_soon(refresh)
    # Off the loop: the process metrics read /proc, and multiprocess mode reads
    # every process's files.
    text = await anyio.to_thread.run_sync(generate_latest, _registry())
    return Response(text, media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    if MULTIPROCESS_DIR not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def keep_metrics_in(directory: str) -> None:
    """Keep this process's metrics, and those of the processes it starts, in
    files in `directory`, where any of them can add them all up.

    Call it before creating the processes. Metrics created later are kept there.
    """
    os.environ[MULTIPROCESS_DIR] = directory
    # prometheus-client reads the variable when it is imported, which happened
    # before the command knew it would start processes: read it again.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
