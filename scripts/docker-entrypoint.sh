#!/bin/sh
# The LogStream image's entrypoint: one image, one service per container, chosen by the first argument.
#   ingest | consume | query   run that service (exec: the service itself receives SIGTERM)
#   init                       create topics and apply the schema; with LOGSTREAM_ADMIN_KEY_FILE set, also the
#                              first admin key (below); then exit (compose's one-shot service)
#   send [ARGS...]             the sender CLI, e.g. `docker compose run --rm ingest send "hello"`
#   keys [ARGS...]             the key CLI, e.g. `docker compose run --rm --no-deps query keys create --name app --scope ingest`
#   healthcheck ingest|consume|query   exit 0 when the service in this container is healthy
set -eu
cd "$(dirname "$0")/.."

usage() {
  echo "usage: docker-entrypoint.sh ingest|consume|query|init|send [ARGS...]|keys [ARGS...]|healthcheck ingest|consume|query" >&2
  exit 2
}

# The health endpoints (HTTP /health, gRPC health) stay open with LOGSTREAM_AUTH=required, so the checks need no key. With TLS_CERT_FILE
# set every listener speaks TLS, so the checks do too; they skip verifying the certificate, which names the
# public host, not 127.0.0.1, and the check never leaves this container.

# Query and consume: GET /health on HEALTH_PORT answers 200 only when the service's dependencies answer (query:
# the database; consume: Kafka and the database), 503 naming the failed check otherwise, printed here.
http_health='
const port = process.env.HEALTH_PORT
const scheme = process.env.TLS_CERT_FILE?.trim() ? "https" : "http"
const response = await fetch(`${scheme}://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(4000), tls: { rejectUnauthorized: false } }).catch((error) => error)
if (!(response instanceof Response) || !response.ok) {
  const detail = response instanceof Response ? `${response.status} ${await response.text().catch(() => "")}` : response.message
  console.error(`${process.env.HEALTH_SERVICE} /health (${scheme}): ${detail}`)
  process.exit(1)
}
'

# Ingest over TLS: the grpc.health.v1 check of `send --health`, whose --tls verifies the certificate.
ingest_tls_health='
import * as grpc from "@grpc/grpc-js"
import { service } from "grpc-health-check"
const address = `127.0.0.1:${process.env.GRPC_PORT || "50051"}`
const Health = grpc.makeClientConstructor(service, "grpc.health.v1.Health")
// A TLS server name may not be an IP address; any name does, since the certificate is not verified.
const client = new Health(address, grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false }), {
  "grpc.ssl_target_name_override": "localhost",
})
const status = await new Promise((resolve) =>
  client.Check({ service: "" }, { deadline: Date.now() + 3000 }, (error, reply) =>
    resolve(error ? (error.code === grpc.status.UNIMPLEMENTED ? "SERVING" : `${grpc.status[error.code]}: ${error.details}`) : reply.status),
  ),
)
client.close()
console.log(`${address} (TLS): ${status}`)
process.exit(status === "SERVING" ? 0 : 1)
'

# Counts the live admin keys in `keys list --json` (stdin).
live_admin_keys='
const keys = JSON.parse(await Bun.stdin.text())
console.log(keys.filter((key) => key.scope === "admin" && key.revokedAt === null).length)
'

# The first admin key, made where it is used: `keys create` prints the key alone on its last line, which goes
# straight into a file only root can read and never to this script's output, which compose and cloud-init keep
# in logs. Only when no live admin key exists, so a restart or a second `up` changes nothing; after every admin
# key was revoked, the next init makes a new one (and replaces the file).
first_admin_key() {
  file="$1"
  shown_as="${LOGSTREAM_ADMIN_KEY_SHOWN_AS:-$file}"
  live=$(bun src/keys.ts list --json | bun -e "$live_admin_keys")
  if [ "$live" -gt 0 ]; then
    if [ -s "$file" ]; then
      echo "init: an admin key exists; its file is $shown_as"
    else
      echo "init: an admin key exists (keys list), so none was created; $shown_as was not written"
    fi
    return 0
  fi
  dir=$(dirname "$file")
  (
    umask 077
    mkdir -p "$dir"
    # Docker creates a missing bind-mount directory 0755; the key's directory is for its owner alone.
    chmod 700 "$dir"
    # Keeps the key out of git when the directory is inside a checkout (./secrets beside docker-compose.yml).
    [ -e "$dir/.gitignore" ] || printf '*\n' >"$dir/.gitignore"
    created=$(bun src/keys.ts create --name admin --scope admin)
    key=$(printf '%s\n' "$created" | tail -n 1)
    case "$key" in
      lsk_*) ;;
      *)
        echo "init: keys create printed no key on its last line; nothing written" >&2
        exit 1
        ;;
    esac
    # Written whole, then renamed, so a reader never sees half a key.
    printf '%s\n' "$key" >"$file.tmp"
    mv -f "$file.tmp" "$file"
  )
  echo "init: created the first admin key (name admin, scope admin) and wrote it to $shown_as, readable by root only (sudo cat it); it is not printed here."
}

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
  ingest | consume | query)
    [ $# -eq 0 ] || usage
    exec bun "src/$command.ts"
    ;;
  init)
    [ $# -eq 0 ] || usage
    if [ -z "${LOGSTREAM_ADMIN_KEY_FILE:-}" ]; then
      exec bun src/init.ts
    fi
    bun src/init.ts
    first_admin_key "$LOGSTREAM_ADMIN_KEY_FILE"
    ;;
  send)
    exec bun src/send.ts "$@"
    ;;
  keys)
    exec bun src/keys.ts "$@"
    ;;
  healthcheck)
    [ $# -eq 1 ] || usage
    case "$1" in
      ingest)
        if [ -n "${TLS_CERT_FILE:-}" ]; then
          exec bun -e "$ingest_tls_health"
        fi
        exec bun src/send.ts --health --timeout 3000 --addr "127.0.0.1:${GRPC_PORT:-50051}"
        ;;
      query)
        export HEALTH_SERVICE=query HEALTH_PORT="${HTTP_PORT:-8080}"
        exec bun -e "$http_health"
        ;;
      consume)
        export HEALTH_SERVICE=consume HEALTH_PORT="${CONSUME_HTTP_PORT:-8081}"
        exec bun -e "$http_health"
        ;;
      *) usage ;;
    esac
    ;;
  *)
    usage
    ;;
esac
