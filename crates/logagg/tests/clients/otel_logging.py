"""Python's logging through the OpenTelemetry SDK's OTLP/HTTP log exporter.

Usage: otel_logging.py URL RUN_ID COUNT
Logs COUNT records at rotating levels through a logging.Logger whose handler
is the SDK's LoggingHandler, some inside a span; prints the trace id of that
span as JSON once the exporter has flushed.
"""
import json
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

url, run, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

resource = Resource.create({"service.name": f"{run}-otel", "host.name": "otel-host-1"})
trace.set_tracer_provider(TracerProvider(resource=resource))
provider = LoggerProvider(resource=resource)
set_logger_provider(provider)
exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs", timeout=10)
provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64))

logger = logging.getLogger(f"app.{run}")
logger.setLevel(logging.DEBUG)
logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
tracer = trace.get_tracer(__name__)
with tracer.start_as_current_span("checkout") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")
    for i in range(count):
        logger.log(levels[i % len(levels)], "%s payment %d handled", run, i, extra={"order_id": f"o-{i}"})

provider.force_flush()
provider.shutdown()
print(json.dumps({"trace_id": trace_id}))
