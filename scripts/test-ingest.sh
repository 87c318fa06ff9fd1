#!/bin/sh
# Sends a sample batch to LogStream's gRPC intake with grpcurl and prints the IngestResponse.
#   scripts/test-ingest.sh [ADDR]        ADDR defaults to localhost:50051
# Without grpcurl, `bun run send --addr ADDR "hello"` does the same from this checkout.
set -eu
addr="${1:-localhost:50051}"
cd "$(dirname "$0")/.."

if ! command -v grpcurl >/dev/null 2>&1; then
  echo "grpcurl is not installed (https://github.com/fullstorydev/grpcurl#installation);" >&2
  echo "try instead: bun run send --addr $addr \"hello from LogStream\"" >&2
  exit 127
fi

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
trace_id=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
span_id=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')

# The proto file is given explicitly, so this works whether or not the server offers reflection.
grpcurl -plaintext -import-path proto -proto logs.proto -d @ "$addr" logstream.LogIngestion/Ingest <<JSON
{
  "logs": [
    {
      "timestamp": "$now",
      "service": "test-ingest",
      "level": "INFO",
      "message": "user signed in",
      "metadata": "{\"user_id\":\"123\",\"method\":\"password\"}",
      "trace_id": "$trace_id",
      "span_id": "$span_id",
      "host": "$(uname -n)",
      "tags": ["env:test", "source:test-ingest.sh"]
    },
    {
      "timestamp": "$now",
      "service": "test-ingest",
      "level": "ERROR",
      "message": "payment declined",
      "metadata": "{\"order_id\":\"A-1001\",\"amount\":42.5}",
      "trace_id": "$trace_id",
      "host": "$(uname -n)",
      "tags": ["env:test"]
    },
    {
      "service": "test-ingest",
      "level": "WARN",
      "message": "no timestamp: the server uses the time it received this entry"
    }
  ]
}
JSON
echo "query them back: curl 'http://${addr%:*}:8080/query/$trace_id'" >&2
