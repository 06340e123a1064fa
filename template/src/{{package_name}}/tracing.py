"""Traces (OpenTelemetry) and error reports (Sentry): off until configured.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request's span, its database queries,
its upstream calls and the jobs it submits go to that collector, and a job's run
in a worker joins the trace of the request that submitted it (the context
travels in the job message's headers). With `SENTRY_DSN` set, unhandled errors
of the API and of the workers go to Sentry. Unset, neither costs anything:
nothing is instrumented, and neither the exporter nor Sentry's SDK is imported.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)

from .settings import Settings

#: Requests that are not traced: scrapes and probes come every few seconds.
UNTRACED_URLS = "/metrics,/health/live,/health/ready"


def create_tracer_provider(
    settings: Settings, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """A tracer provider sending spans to the configured OTLP endpoint, in
    batches from a thread of its own; None when none is configured (tracing is
    off). Given an `exporter` (tests do), it hands it each span as it ends."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if exporter is None and endpoint is None:
        return None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        url = f"{str(endpoint).rstrip('/')}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider


def trace_app(app: FastAPI, provider: TracerProvider) -> None:
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=UNTRACED_URLS,
        # A span per request, not also one per ASGI message it sends or receives.
        exclude_spans=["receive", "send"],
    )


@contextmanager
def instrumented(
    instrumentor: BaseInstrumentor,
    tracer_provider: TracerProvider | None,
    **options: Any,
) -> Iterator[None]:
    """A library instrumented while the block runs (a backend's life, say); with
    no tracer provider (tracing is off), left alone.

    The project's dependencies name the library: the instrumentor need not look
    through the installed packages' metadata for it (blocking, on the loop).
    """
    if tracer_provider is None:
        yield
        return
    instrumentor.instrument(
        skip_dep_check=True, tracer_provider=tracer_provider, **options
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


def start_error_reports(settings: Settings) -> None:
    """Report unhandled errors to Sentry, when a DSN is configured.

    Sentry enables its integrations for the libraries in use (FastAPI and the
    others) by itself, with two exceptions. The API answers an unexpected error
    itself (a problem 500, see errors.py), so Sentry learns of it from the
    error logged: every ERROR log line is an event (sentry-sdk 2 did that by
    default, 3 does not). And no event lists the installed packages: sentry-sdk
    3 reads them from disk at the first event, on the event loop; `uv.lock`
    says what is installed.
    """
    if settings.sentry_dsn is not None:
        import sentry_sdk
        from sentry_sdk.integrations.logging import LoggingIntegration
        from sentry_sdk.integrations.modules import ModulesIntegration

        # Errors only: with no sample rate set, Sentry traces nothing (traces
        # go to OpenTelemetry), and by default it sends no personal data.
        sentry_sdk.init(
            dsn=settings.sentry_dsn.get_secret_value(),
            environment=settings.environment,
            integrations=[LoggingIntegration(event_level=logging.ERROR)],
            disabled_integrations=[ModulesIntegration()],
        )
