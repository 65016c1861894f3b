"""Ships logs to logagg's ingest port with the official Elasticsearch client.

Usage: es_bulk.py URL RUN_ID COUNT
Sends COUNT documents with helpers.bulk, COUNT with helpers.streaming_bulk
(gzip-compressed requests), and one with Elasticsearch.index; prints what it
sent and what the client answered, as JSON.
"""
import json
import sys
from datetime import datetime, timezone

from elasticsearch import Elasticsearch, helpers

url, run, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
LEVELS = ["debug", "info", "warn", "error", "fatal"]


def doc(kind, i):
    return {
        "@timestamp": datetime.now(timezone.utc).isoformat(),
        "message": f"{run} {kind} order {i} processed",
        "log": {"level": LEVELS[i % len(LEVELS)]},
        "host": {"name": f"py-host-{i % 3}"},
        "service": {"name": f"{run}-{kind}"},
        "http": {"response": {"status_code": 200 + i % 5}},
        "labels": {"run": run, "i": i},
    }


# The client's product check runs on the first answer (info) and every other.
# With ES_API_KEY=id:secret the client sends `Authorization: ApiKey
# base64(id:secret)`, as against a secured cluster.
import os

auth = {}
if os.environ.get("ES_API_KEY"):
    auth["api_key"] = tuple(os.environ["ES_API_KEY"].split(":", 1))

es = Elasticsearch(url, request_timeout=30, **auth)
info = es.info()

actions = (
    {"_index": f"logs-{run}", "_op_type": "create", "_source": doc("bulk", i)}
    for i in range(count)
)
ok, errors = helpers.bulk(es, actions, chunk_size=250, raise_on_error=False)

gz = Elasticsearch(url, request_timeout=30, http_compress=True, **auth)
streamed = []
for success, item in helpers.streaming_bulk(
    gz,
    ({"_index": f"logs-{run}", "_source": doc("stream", i)} for i in range(count)),
    chunk_size=100,
    max_retries=3,
    raise_on_error=False,
):
    streamed.append(success)

single = es.index(index=f"logs-{run}", document={"message": f"{run} single document", "service": f"{run}-single"})

print(json.dumps({
    "version": info["version"]["number"],
    "bulk_ok": ok,
    "bulk_errors": len(errors) if isinstance(errors, list) else errors,
    "streamed_ok": sum(1 for s in streamed if s),
    "streamed_failed": sum(1 for s in streamed if not s),
    "single_result": single["result"],
    "single_id": single["_id"],
}))
