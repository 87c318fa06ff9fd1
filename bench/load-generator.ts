/**
 * A separate process that drives the ingest service over gRPC, so the client's CPU is not charged to
 * the service. Closed loop (`rate` 0: each worker sends its next request when the last is answered) or
 * open loop at `rate` logs/s. Prints one JSON line per second and a final summary line on stdout.
 *
 *   bun bench/load-generator.ts '{"target":"127.0.0.1:50051","workers":32,"seconds":60,"rate":0}'
 */
import * as grpc from '@grpc/grpc-js'
import { forEachLine } from '../scripts/services.ts'
import { decodeIngestResponse, encodeIngestRequest, INGEST_METHOD_PATH, type IngestResponse } from '../src/lib/proto.ts'
import { percentile } from './percentile.ts'

export interface LoadOptions {
  target: string
  workers: number
  seconds: number
  /** Logs per second across all workers; 0 means as fast as the service answers. */
  rate: number
  entriesPerRequest: number
  /** Every n-th request carries a unique trace id whose ack time is reported, for ack-to-queryable lag. */
  sampleEvery: number
}

export interface LoadSecond {
  type: 'second'
  second: number
  acceptedLogs: number
  failedRequests: number
}

export interface LoadSample {
  type: 'sample'
  traceId: string
  ackedAt: number
}

export interface LoadSummary {
  type: 'summary'
  acceptedLogs: number
  rejectedLogs: number
  failedRequests: number
  requests: number
  seconds: number
  latencyMs: { p50: number; p90: number; p99: number; max: number }
  errors: Record<string, number>
  /**
   * User + system CPU seconds this generator used while sending (process.cpuUsage around the run): read by the
   * process itself because, once it has exited, /proc no longer has it.
   */
  cpuSeconds: number
}

const services = ['api-gateway', 'checkout', 'payments', 'search', 'auth', 'inventory', 'email', 'ledger']
const levels = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR']
const messages = [
  'Request processed successfully',
  'GET /api/v1/orders/8812 200 in 23ms',
  'cache miss for key user:4411:profile, loading from database',
  'payment authorised for order 99123 amount=42.50 currency=EUR',
  'upstream timeout after 3000ms calling inventory-service, retrying (attempt 2/3)',
  'user login succeeded via oauth provider github',
]

/** A realistic entry (a few hundred bytes encoded; benchmarks report the measured mean). Timestamps are left to the service. */
export function entry(i: number, traceId?: string) {
  return {
    service: services[i % services.length],
    level: levels[i % levels.length],
    message: `${messages[i % messages.length]} request_id=${(i * 7919).toString(16).padStart(8, '0')}`,
    metadata: JSON.stringify({ user_id: String(1000 + (i % 5000)), region: i % 2 ? 'eu-west-1' : 'us-east-1', duration_ms: i % 900 }),
    trace_id: traceId ?? (i * 2654435761).toString(16).padStart(32, 'a').slice(-32),
    span_id: (i * 40503).toString(16).padStart(16, 'b').slice(-16),
    host: `host-${(i % 12).toString().padStart(2, '0')}`,
    tags: ['env:bench', i % 3 ? 'http' : 'db', `shard:${i % 8}`],
  }
}

function encodeRequest(offset: number, count: number, traceId?: string): Buffer {
  const logs = Array.from({ length: count }, (_, k) => entry(offset + k, k === 0 ? traceId : undefined))
  return encodeIngestRequest({ logs })
}

/** One logstream.LogIngestion/Ingest call with a prebuilt request body; resolves with the decoded response. */
export function sendIngestRequest(client: grpc.Client, body: Buffer): Promise<IngestResponse> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      INGEST_METHOD_PATH,
      (value: Buffer) => value,
      (bytes: Buffer) => decodeIngestResponse(bytes),
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (error, response) => (error || !response ? reject(error) : resolve(response)),
    )
  })
}

export async function runLoad(options: LoadOptions, report: (line: LoadSecond | LoadSample) => void): Promise<LoadSummary> {
  const templates = Array.from({ length: 32 }, (_, t) => encodeRequest(t * options.entriesPerRequest, options.entriesPerRequest))
  const client = new grpc.Client(options.target, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  })
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())))

  const latencies: number[] = []
  const errors: Record<string, number> = {}
  let accepted = 0
  let rejected = 0
  let failed = 0
  let requests = 0
  let secondAccepted = 0
  let secondFailed = 0
  let sequence = 0

  const send = (body: Buffer) => sendIngestRequest(client, body)

  const cpuBefore = process.cpuUsage()
  const began = performance.now()
  const endAt = began + options.seconds * 1000
  let second = 0
  const ticker = setInterval(() => {
    second += 1
    report({ type: 'second', second, acceptedLogs: secondAccepted, failedRequests: secondFailed })
    secondAccepted = 0
    secondFailed = 0
  }, 1000)

  const interval = options.rate > 0 ? (1000 * options.entriesPerRequest * options.workers) / options.rate : 0
  const worker = async (id: number) => {
    let next = began + (interval * id) / options.workers
    while (performance.now() < endAt) {
      if (interval > 0) {
        const wait = next - performance.now()
        if (wait > 0) await Bun.sleep(wait)
        next += interval
      }
      const n = sequence++
      const sampled = n % options.sampleEvery === 0
      const traceId = sampled ? crypto.randomUUID().replaceAll('-', '') : undefined
      const body = traceId ? encodeRequest(n, options.entriesPerRequest, traceId) : templates[n % templates.length]!
      const start = performance.now()
      try {
        const response = await send(body)
        const done = performance.now()
        latencies.push(done - start)
        accepted += response.accepted
        rejected += response.rejected
        secondAccepted += response.accepted
        if (traceId) report({ type: 'sample', traceId, ackedAt: Date.now() })
      } catch (error) {
        failed += 1
        secondFailed += 1
        // Grouped by status and text with numbers masked: "holding 33554432 bytes" and "holding 33554433 bytes" are one reason.
        const failure = error as grpc.ServiceError
        const key = `${grpc.status[failure.code] ?? 'ERROR'}: ${(failure.details ?? String(error)).replace(/\d+/g, 'N')}`
        errors[key] = (errors[key] ?? 0) + 1
        if (interval === 0) await Bun.sleep(50)
      }
      requests += 1
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, id) => worker(id)))
  clearInterval(ticker)
  client.close()

  const cpu = process.cpuUsage(cpuBefore)
  latencies.sort((a, b) => a - b)
  const round = (value: number) => Math.round(value * 10) / 10
  return {
    type: 'summary',
    acceptedLogs: accepted,
    rejectedLogs: rejected,
    failedRequests: failed,
    requests,
    seconds: (performance.now() - began) / 1000,
    latencyMs: {
      p50: round(percentile(latencies, 50, 0)),
      p90: round(percentile(latencies, 90, 0)),
      p99: round(percentile(latencies, 99, 0)),
      max: round(latencies.at(-1) ?? 0),
    },
    errors,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }
}

/**
 * Runs this generator in a process of its own with `options` (LoadOptions plus `target`), handing each
 * per-second and sample line to `onLine`; resolves with its summary once it has exited cleanly.
 */
export async function runLoadGenerator(options: object, onLine: (line: LoadSecond | LoadSample) => void): Promise<LoadSummary> {
  const child = Bun.spawn([process.execPath, import.meta.path, JSON.stringify(options)], { stdout: 'pipe', stderr: 'inherit' })
  let summary: LoadSummary | undefined
  await forEachLine(child.stdout, (line) => {
    const parsed = JSON.parse(line) as LoadSecond | LoadSample | LoadSummary
    if (parsed.type === 'summary') summary = parsed
    else onLine(parsed)
  })
  if ((await child.exited) !== 0 || !summary) throw new Error('load generator failed')
  return summary
}

if (import.meta.main) {
  const options: LoadOptions = { workers: 32, seconds: 10, rate: 0, entriesPerRequest: 100, sampleEvery: 10, ...JSON.parse(process.argv[2] ?? '{}') }
  const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)
  write(await runLoad(options, write))
  process.exit(0)
}
