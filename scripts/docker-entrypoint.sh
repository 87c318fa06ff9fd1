#!/bin/sh
# The LogStream image's entrypoint: one image, one service per container, chosen by the first argument.
#   ingest | consume | query   run that service (exec: the service itself receives SIGTERM)
#   init                       create topics and apply the schema, then exit (compose's one-shot service)
#   send [ARGS...]             the sender CLI, e.g. `docker compose run --rm ingest send "hello"`
#   healthcheck ingest|consume|query   exit 0 when the service in this container is healthy
set -eu
cd "$(dirname "$0")/.."

usage() {
  echo "usage: docker-entrypoint.sh ingest|consume|query|init|send [ARGS...]|healthcheck ingest|consume|query" >&2
  exit 2
}

# Query: GET /health answers 200 only when the database answers.
query_health='
const port = process.env.HTTP_PORT || "8080"
const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) }).catch((error) => error)
if (!(response instanceof Response) || !response.ok) {
  console.error(`query /health: ${response instanceof Response ? response.status : response.message}`)
  process.exit(1)
}
'

# Consume has no port: it is healthy when it can reach both ends of its work, Kafka and PostgreSQL.
consume_health='
import { loadConfig } from "./src/lib/config.ts"
import { connect } from "./src/lib/db.ts"
import { waitForKafka } from "./src/lib/kafka.ts"
try {
  const config = loadConfig()
  const sql = connect(config.databaseUrl, { max: 1, connectTimeout: 3 })
  try {
    await Promise.all([waitForKafka(config.kafka, 3000), sql`select 1`])
  } finally {
    await sql.end({ timeout: 1 })
  }
} catch (error) {
  console.error(`consume dependencies: ${error.message}`)
  process.exit(1)
}
'

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
  ingest | consume | query | init)
    [ $# -eq 0 ] || usage
    exec bun "src/$command.ts"
    ;;
  send)
    exec bun src/send.ts "$@"
    ;;
  healthcheck)
    [ $# -eq 1 ] || usage
    case "$1" in
      ingest) exec bun src/send.ts --health --timeout 3000 --addr "127.0.0.1:${GRPC_PORT:-50051}" ;;
      query) exec bun -e "$query_health" ;;
      consume) exec bun -e "$consume_health" ;;
      *) usage ;;
    esac
    ;;
  *)
    usage
    ;;
esac
