"""The service with OpenTelemetry's own aiohttp instrumentation instead of our tracing: a bench
variant ("instrumentation package, 10%"), not a way to run the service.

Same app factory and settings from the environment as `python -m app`, but our tracing is off
and `opentelemetry-instrumentation-aiohttp-server` puts its middleware first, with a global SDK
TracerProvider (ParentBased(TraceIdRatioBased(OTEL_TRACES_SAMPLER_ARG))) exporting through the
SDK's BatchSpanProcessor and OTLP/HTTP exporter to the same endpoint. It emits the current HTTP
semantic conventions (OTEL_SEMCONV_STABILITY_OPT_IN=http), as our spans do; without that it
would emit the pre-1.21 names. Needs the `bench` extra (pip install -e '.[bench]').
Usage: PORT=... OTEL_EXPORTER_OTLP_ENDPOINT=... python bench/otel_package_app.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from app import __version__
from app.composition import service_features
from app.config import load_settings
from app.telemetry import setup_logging
from app.web.server import serve


def main() -> None:
    settings = load_settings(needs=service_features().settings_needs)
    endpoint = settings.otel_traces_endpoint
    if endpoint is None:
        raise SystemExit("set OTEL_EXPORTER_OTLP_ENDPOINT: this variant exists to export spans")
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name,
                                  "service.version": __version__,
                                  "deployment.environment": settings.app_env}),
        sampler=ParentBased(TraceIdRatioBased(settings.otel_sampler_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    # Patches aiohttp's Application so every one built from here on has the package's
    # middleware first (outermost); create_app, called by serve, builds ours after that.
    AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    setup_logging(settings.log_level)
    try:
        asyncio.run(serve(dataclasses.replace(settings, otel_traces_endpoint=None)))
    finally:
        provider.shutdown()  # flushes what the batch processor holds


if __name__ == "__main__":
    main()
