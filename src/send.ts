/**
 * `bun run send`: sends logs to LogStream's gRPC intake, so a user without grpcurl can try the system.
 * Exit code 0 when every log was accepted, 1 when anything was rejected or failed, 2 for a usage error.
 */
import { type Fail, parseCommandLine, usageFailure } from './lib/command-line.ts'
import {
  checkHealth,
  type Defaults,
  formatSummary,
  type InputItem,
  itemsFromArgs,
  itemsFromFile,
  itemsFromLines,
  SendDefaults,
  sendLogs,
  succeeded,
} from './lib/sender.ts'

const usage = `usage: bun run send [options] [LOG ...]

Each LOG argument is one log: a JSON object, or plain text used as the message.
With --file, JSON lines are read from that file; with no LOG (or "-"), from stdin.
JSON fields: timestamp (RFC 3339 or epoch ms), service, level, message, metadata (object),
trace_id, span_id, host, tags (array or "a,b"); common spellings (msg, traceId, ECS log.level…)
are read too, and every other field is kept in metadata. A log that names no service is stored
as unknown_service, one that names no level as INFO.

options:
  -a, --addr HOST:PORT     gRPC endpoint (default 127.0.0.1:50051)
  -f, --file PATH          read JSON lines from PATH
  -s, --service NAME       service for logs that name none (default "cli" for text arguments)
  -l, --level LEVEL        level for logs that name none (default INFO for text arguments)
      --host NAME          host for logs that name none
  -t, --tag TAG            add a tag to every log (repeatable)
  -b, --batch-size N       logs per Ingest call (default ${SendDefaults.batchSize})
  -c, --concurrency N      Ingest calls in flight (default ${SendDefaults.concurrency})
      --timeout MS         deadline per call (default ${SendDefaults.timeoutMs})
      --retries N          retries of a batch refused with UNAVAILABLE/RESOURCE_EXHAUSTED (default ${SendDefaults.retries})
      --tls                use TLS
      --ca FILE            with --tls, trust this PEM certificate (e.g. a self-signed server's)
  -k, --key KEY            API key (default: the LOGSTREAM_KEY environment variable), sent as
                           authorization: Bearer metadata; prefer the variable, as arguments show in ps
      --json               print the summary as JSON
      --health             only ask the endpoint's gRPC health service; exit 0 when serving
  -h, --help               show this help
`

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min) fail(`--${name} must be a whole number of at least ${min}, got "${value}"`)
  return Number(value)
}

const fail: Fail = usageFailure('send', usage)

const { values, positionals } = parseCommandLine(
  {
    allowPositionals: true,
    options: {
      addr: { type: 'string', short: 'a', default: '127.0.0.1:50051' },
      file: { type: 'string', short: 'f' },
      service: { type: 'string', short: 's' },
      level: { type: 'string', short: 'l' },
      host: { type: 'string' },
      tag: { type: 'string', short: 't', multiple: true },
      'batch-size': { type: 'string', short: 'b' },
      concurrency: { type: 'string', short: 'c' },
      timeout: { type: 'string' },
      retries: { type: 'string' },
      tls: { type: 'boolean' },
      ca: { type: 'string' },
      key: { type: 'string', short: 'k' },
      json: { type: 'boolean' },
      health: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  usage,
  fail,
)
if (!/^[^\s]+:\d{1,5}$/.test(values.addr)) fail(`--addr must be HOST:PORT, got "${values.addr}"`)

const timeoutMs = positiveInt('timeout', values.timeout, SendDefaults.timeoutMs)
if (values.ca !== undefined && !values.tls) fail('--ca needs --tls')
if (values.ca !== undefined && !(await Bun.file(values.ca).exists())) fail(`no such file: ${values.ca}`)
const ca = values.ca === undefined ? undefined : Buffer.from(await Bun.file(values.ca).arrayBuffer())
const key = values.key ?? (process.env.LOGSTREAM_KEY?.trim() || undefined)

if (values.health) {
  const health = await checkHealth(values.addr, { timeoutMs, tls: values.tls, ca })
  process.stdout.write(`${values.addr}: ${health.status}\n`)
  process.exit(health.ok ? 0 : 1)
}

const flags: Defaults = { service: values.service, level: values.level, host: values.host, tags: values.tag }
const fromStdin = positionals.length === 0 || (positionals.length === 1 && positionals[0] === '-')
if (values.file && positionals.length > 0) fail('give either --file or LOG arguments, not both')
if (!values.file && fromStdin && process.stdin.isTTY) fail('no logs given: pass LOG arguments, --file PATH, or pipe JSON lines to stdin')

let items: Iterable<InputItem> | AsyncIterable<InputItem>
if (values.file) {
  if (!(await Bun.file(values.file).exists())) fail(`no such file: ${values.file}`)
  items = itemsFromFile(values.file, flags)
} else if (fromStdin) {
  items = itemsFromLines(process.stdin, 'stdin', flags)
} else {
  items = itemsFromArgs(positionals, { ...flags, service: flags.service ?? 'cli', level: flags.level ?? 'INFO' })
}

const summary = await sendLogs(items, {
  address: values.addr,
  batchSize: positiveInt('batch-size', values['batch-size'], SendDefaults.batchSize),
  concurrency: positiveInt('concurrency', values.concurrency, SendDefaults.concurrency),
  retries: positiveInt('retries', values.retries, SendDefaults.retries, 0),
  timeoutMs,
  tls: values.tls,
  ca,
  key,
})

const shown = 20
for (const rejection of summary.rejections.slice(0, shown)) process.stderr.write(`rejected ${rejection.source}: ${rejection.field} ${rejection.reason}\n`)
if (summary.rejected > shown) process.stderr.write(`… and ${summary.rejected - shown} more rejected\n`)
for (const error of summary.errors) process.stderr.write(`failed ${error}\n`)
process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary, values.addr)}\n`)
process.exit(succeeded(summary) ? 0 : 1)
