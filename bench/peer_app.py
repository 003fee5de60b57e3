"""The peer a user would otherwise pick: FastAPI on uvicorn with the usual observability stack
(prometheus-fastapi-instrumentator, OpenTelemetry's FastAPI instrumentation sampling 10% to an
OTLP endpoint, sentry-sdk), serving the same bytes. Usage: peer_app.py PORT BODY_FILE SINK_URL"""

import sys

import sentry_sdk
import uvicorn
from fastapi import FastAPI, Response
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_fastapi_instrumentator import Instrumentator

port, body_file, sink = int(sys.argv[1]), sys.argv[2], sys.argv[3]
BODY = open(body_file, "rb").read()  # noqa: SIM115

sentry_sdk.init(dsn=f"http://key@{sink.split('//')[1]}/1", traces_sample_rate=0)
provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1)))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{sink}/v1/traces")))
trace.set_tracer_provider(provider)

app = FastAPI()


@app.get("/catalog")
async def catalog() -> Response:
    return Response(content=BODY, media_type="application/json")


Instrumentator().instrument(app).expose(app)
FastAPIInstrumentor.instrument_app(app)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
