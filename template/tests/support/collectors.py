"""Real HTTP endpoints that telemetry is sent to, on loopback ports of their own,
and their fixtures: a Sentry ingestion endpoint and an OpenTelemetry collector
(OTLP over HTTP). Each keeps what it received for the test to read."""

import gzip
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)


class _Receiver:
    """An HTTP server in a thread that keeps every POST body it is sent."""

    def __init__(self) -> None:
        received: list[tuple[str, bytes]] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                with lock:
                    received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        self._received = received
        self._lock = lock
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]

    def bodies(self, path: str) -> list[bytes]:
        with self._lock:
            return [body for where, body in self._received if where.startswith(path)]

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class SentryIngest(_Receiver):
    """Where a Sentry SDK configured with `dsn` sends its events (envelopes)."""

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def events(self) -> list[str]:
        return [body.decode() for body in self.bodies("/api/1/envelope/")]


class OtlpCollector(_Receiver):
    """An OpenTelemetry collector's OTLP/HTTP endpoint, keeping the spans."""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spans(self) -> list[tuple[str, str, str, str]]:
        """(name, trace id, span id, parent span id) of every span received,
        the ids in hex."""
        found = []
        for body in self.bodies("/v1/traces"):
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        found.append(
                            (
                                span.name,
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                            )
                        )
        return found


@pytest.fixture
def sentry_ingest() -> Iterator[SentryIngest]:
    with SentryIngest() as ingest:
        yield ingest


@pytest.fixture
def otlp_collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as collector:
        yield collector
