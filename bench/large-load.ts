/**
 * A separate process that sends large logs (~900 kB each) to the ingest service, in requests as large as the
 * service accepts, and optionally a few oversized requests that it must refuse. Closed loop: each client sends its
 * next request when the last one is answered. Each client has its own connection, as separate senders would.
 *
 * Prints `{"type":"started"}` when the load begins, then one summary line on stdout.
 *
 *   bun bench/large-load.ts '{"target":"127.0.0.1:50051","workers":8,"seconds":20,"maxRequestBytes":4194304}'
 */
import * as grpc from '@grpc/grpc-js'
import { ERROR_CODE_METADATA, encodeIngestRequest, type WireLogEntry } from '../src/lib/proto.ts'
import { sendIngestRequest } from './load-generator.ts'
import { percentile } from './percentile.ts'

export interface LargeLoadOptions {
  target: string
  seconds: number
  /** Clients sending requests as large as `maxRequestBytes` allows. */
  workers: number
  /** The service's request limit (config `grpc.maxRequestBytes`); requests are built to fit under it. */
  maxRequestBytes: number
  /** Size of each log's message. */
  entryBytes: number
  /** Clients sending requests of `oversizeBytes` (above the limit), to show how they are refused. */
  oversizeWorkers: number
  oversizeBytes: number
}

export interface Refusals {
  /** Count per "STATUS logstream-error-code", e.g. "RESOURCE_EXHAUSTED INGEST_OVERLOADED". */
  byStatus: Record<string, number>
  /** One `details` text per key above. */
  examples: Record<string, string>
}

export interface LargeLoadSummary {
  type: 'summary'
  seconds: number
  entriesPerRequest: number
  requestBytes: number
  requests: number
  acceptedRequests: number
  acceptedLogs: number
  rejectedLogs: number
  refusals: Refusals
  latencyMs: { p50: number; p99: number; max: number }
  oversize: {
    entriesPerRequest: number
    requestBytes: number
    requests: number
    refusals: Refusals
    acceptedLogs: number
    msToAnswer: { p50: number; max: number }
  }
}

const frames = [
  'at com.example.checkout.OrderService.placeOrder',
  'at com.example.payments.Gateway.authorise',
  'at io.netty.channel.AbstractChannelHandlerContext.invokeChannelRead',
  'at java.base/java.lang.Thread.run',
  'caused by java.net.SocketTimeoutException: read timed out',
  'at org.postgresql.core.v3.QueryExecutorImpl.execute',
]

/** A large log as they come: a stack dump of `bytes` characters (a bounded vocabulary, as real dumps have). */
function largeMessage(bytes: number, seed: number): string {
  const lines: string[] = [`request ${seed.toString(16)} failed after 3 retries; dump follows`]
  let length = lines[0]!.length
  for (let i = seed; length < bytes; i++) {
    const line = `${frames[i % frames.length]}(${['OrderService', 'Gateway', 'Handler'][i % 3]}.java:${(i * 37) % 900}) span=${(i % 64).toString(16)}`
    lines.push(line)
    length += line.length + 1
  }
  return lines.join('\n').slice(0, bytes)
}

function entry(messageBytes: number, seed: number): WireLogEntry {
  return {
    service: ['checkout', 'payments', 'search', 'api-gateway'][seed % 4],
    level: 'ERROR',
    message: largeMessage(messageBytes, seed),
    metadata: JSON.stringify({ attempt: 3, region: 'eu-west-1' }),
    host: `host-${seed % 12}`,
    tags: ['env:bench', 'dump'],
  }
}

/** The request with the most `entryBytes` logs whose encoding fits in `maxBytes` (at least one, shortened if need be). */
export function largestRequest(maxBytes: number, entryBytes: number, seed: number): { body: Buffer; entries: number } {
  const one = encodeIngestRequest({ logs: [entry(entryBytes, seed)] }).length
  let count = Math.max(1, Math.floor(maxBytes / one))
  let messageBytes = entryBytes
  for (;;) {
    const body = encodeIngestRequest({ logs: Array.from({ length: count }, (_, k) => entry(messageBytes, seed + k)) })
    if (body.length <= maxBytes) return { body, entries: count }
    if (count > 1) count -= 1
    else messageBytes = Math.floor(messageBytes * 0.9)
  }
}

/** A request of at least `bytes`: ceil(bytes / entry) logs of `entryBytes`. */
function oversizeRequest(bytes: number, entryBytes: number): { body: Buffer; entries: number } {
  const count = Math.ceil(bytes / entryBytes)
  return { body: encodeIngestRequest({ logs: Array.from({ length: count }, (_, k) => entry(entryBytes, 1000 + k)) }), entries: count }
}

function refusals(): Refusals {
  return { byStatus: {}, examples: {} }
}

function countRefusal(into: Refusals, error: grpc.ServiceError): void {
  const code = error.metadata?.get(ERROR_CODE_METADATA)[0]
  const key = `${grpc.status[error.code] ?? error.code}${code ? ` ${code}` : ''}`
  into.byStatus[key] = (into.byStatus[key] ?? 0) + 1
  into.examples[key] ??= (error.details ?? String(error)).slice(0, 160)
}

function client(target: string): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    // One connection per client, as separate senders have: grpc-js would otherwise share one between clients.
    'grpc.use_local_subchannel_pool': 1,
  })
}

export async function runLargeLoad(options: LargeLoadOptions, onStart: () => void): Promise<LargeLoadSummary> {
  const templates = Array.from({ length: 4 }, (_, t) => largestRequest(options.maxRequestBytes, options.entryBytes, t * 100))
  const oversize = options.oversizeWorkers > 0 ? oversizeRequest(options.oversizeBytes, options.entryBytes) : undefined
  const clients = Array.from({ length: options.workers + options.oversizeWorkers }, () => client(options.target))
  await Promise.all(
    clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 15_000, (error) => (error ? reject(error) : resolve())))),
  )

  const latencies: number[] = []
  const refused = refusals()
  let requests = 0
  let acceptedRequests = 0
  let acceptedLogs = 0
  let rejectedLogs = 0
  const oversizeRefused = refusals()
  const oversizeTimes: number[] = []
  let oversizeRequests = 0
  let oversizeAccepted = 0

  onStart()
  const began = performance.now()
  const endAt = began + options.seconds * 1000
  const worker = async (to: grpc.Client, id: number) => {
    for (let n = id; performance.now() < endAt; n++) {
      const body = templates[n % templates.length]!.body
      const start = performance.now()
      requests += 1
      try {
        const response = await sendIngestRequest(to, body)
        latencies.push(performance.now() - start)
        acceptedRequests += 1
        acceptedLogs += response.accepted
        rejectedLogs += response.rejected
      } catch (error) {
        countRefusal(refused, error as grpc.ServiceError)
        await Bun.sleep(50)
      }
    }
  }
  const oversizeWorker = async (to: grpc.Client) => {
    while (oversize && performance.now() < endAt) {
      const start = performance.now()
      oversizeRequests += 1
      try {
        const response = await sendIngestRequest(to, oversize.body)
        oversizeAccepted += response.accepted
      } catch (error) {
        countRefusal(oversizeRefused, error as grpc.ServiceError)
      }
      oversizeTimes.push(performance.now() - start)
      await Bun.sleep(100)
    }
  }
  await Promise.all([...clients.slice(0, options.workers).map((c, i) => worker(c, i)), ...clients.slice(options.workers).map((c) => oversizeWorker(c))])
  const seconds = (performance.now() - began) / 1000
  for (const c of clients) c.close()

  latencies.sort((a, b) => a - b)
  oversizeTimes.sort((a, b) => a - b)
  const round = (value: number) => Math.round(value)
  return {
    type: 'summary',
    seconds,
    entriesPerRequest: templates[0]!.entries,
    requestBytes: templates[0]!.body.length,
    requests,
    acceptedRequests,
    acceptedLogs,
    rejectedLogs,
    refusals: refused,
    latencyMs: { p50: round(percentile(latencies, 50, 0)), p99: round(percentile(latencies, 99, 0)), max: round(latencies.at(-1) ?? 0) },
    oversize: {
      entriesPerRequest: oversize?.entries ?? 0,
      requestBytes: oversize?.body.length ?? 0,
      requests: oversizeRequests,
      refusals: oversizeRefused,
      acceptedLogs: oversizeAccepted,
      msToAnswer: { p50: round(percentile(oversizeTimes, 50, 0)), max: round(oversizeTimes.at(-1) ?? 0) },
    },
  }
}

if (import.meta.main) {
  const options: LargeLoadOptions = {
    target: '127.0.0.1:50051',
    seconds: 20,
    workers: 8,
    maxRequestBytes: 4 * 1024 * 1024,
    entryBytes: 900_000,
    oversizeWorkers: 0,
    oversizeBytes: 15_000_000,
    ...JSON.parse(process.argv[2] ?? '{}'),
  }
  const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)
  write(await runLargeLoad(options, () => write({ type: 'started' })))
  process.exit(0)
}
