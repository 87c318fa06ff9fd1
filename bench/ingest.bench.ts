/**
 * Ingest throughput and acknowledgement latency: `bun src/ingest.ts` in its own process, driven by a load
 * generator in another (`bun bench/ingest.bench.ts load …`, so client CPU is not counted in the service),
 * sending 100-entry requests, beside Kafka's ProducerPerformance on the same broker with records of the
 * same size.
 */
import * as grpc from '@grpc/grpc-js'
import { Admin } from '@platformatic/kafka'
import { loadConfig } from '../src/lib/config.ts'
import { decodeIngestResponse, encodeIngestRequest, LogEntryType } from '../src/lib/proto.ts'
import { startIngestProcess } from './ingest-process.ts'
import { percentile } from './percentile.ts'
import { runProducerPerformance } from './producer-performance.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

const ENTRIES_PER_REQUEST = 100

const services = ['api-gateway', 'billing', 'checkout', 'search', 'auth', 'inventory', 'email', 'recommendations']
const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR']
const hex = (length: number, seed: number) => Array.from({ length }, (_, i) => ((seed * 7919 + i * 104729) % 16).toString(16)).join('')

// Timestamps spread over the last day: a fixed date would leave the retention window and be refused.
const DAY_AGO = Math.floor(Date.now() / 1000) - 86_400

/** Realistic entries (a few hundred bytes encoded; the report gives the measured mean): a sentence of a message, small JSON metadata, trace ids, a few tags. */
export function sampleEntry(i: number) {
  const service = services[i % services.length]!
  return {
    timestamp: { seconds: DAY_AGO + (i % 86_400), nanos: (i * 1_000_003) % 1_000_000_000 },
    service,
    level: levels[i % levels.length]!,
    message: `GET /api/v1/orders/${100_000 + (i % 90_000)} completed with status ${i % 7 === 0 ? 500 : 200} in ${(i % 950) + 3} ms for user u-${i % 5000} (request ${hex(12, i)})`,
    metadata: JSON.stringify({
      user_id: `u-${i % 5000}`,
      region: i % 2 ? 'eu-west-1' : 'us-east-1',
      status: i % 7 === 0 ? 500 : 200,
      bytes: (i * 37) % 20_000,
    }),
    trace_id: hex(32, i + 1),
    span_id: hex(16, i + 2),
    host: `${service}-${i % 12}`,
    tags: ['http', i % 7 === 0 ? 'failure' : 'success', `env:prod`],
  }
}

function encodedRequests(count: number): Buffer[] {
  return Array.from({ length: count }, (_, r) => {
    const logs = Array.from({ length: ENTRIES_PER_REQUEST }, (_, i) => sampleEntry(r * ENTRIES_PER_REQUEST + i))
    return encodeIngestRequest({ logs })
  })
}

/** Mean size of a Kafka value (a normalised LogEntry) for our sample entries: the record size for ProducerPerformance. */
function meanValueBytes(): number {
  const sample = Array.from({ length: 1000 }, (_, i) => LogEntryType.encode(LogEntryType.fromObject(sampleEntry(i))).finish().length)
  return Math.round(sample.reduce((a, b) => a + b, 0) / sample.length)
}

export interface LoadResult {
  concurrency: number
  seconds: number
  calls: number
  acked: number
  errors: Record<string, number>
  logsPerSec: number
  p50Ms: number
  p99Ms: number
}

/** The load generator: `concurrency` callers, each sending one request after another for `durationMs`. */
async function generateLoad(port: number, concurrency: number, durationMs: number): Promise<LoadResult> {
  const requests = encodedRequests(16)
  // A few separate HTTP/2 connections, as many client processes would open.
  const clients = Array.from(
    { length: Math.min(concurrency, 8) },
    () => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  )
  const latencies: number[] = []
  const errors: Record<string, number> = {}
  let calls = 0
  let acked = 0
  const began = performance.now()
  const until = began + durationMs
  const call = (client: grpc.Client, payload: Buffer) =>
    new Promise<void>((resolve) => {
      const start = performance.now()
      client.makeUnaryRequest<Buffer, Buffer>(
        '/logstream.LogIngestion/Ingest',
        (value) => value,
        (value) => value,
        payload,
        { deadline: Date.now() + 30_000 },
        (error, reply) => {
          calls += 1
          if (error) errors[grpc.status[error.code]] = (errors[grpc.status[error.code]] ?? 0) + 1
          else {
            latencies.push(performance.now() - start)
            acked += decodeIngestResponse(reply!).accepted
          }
          resolve()
        },
      )
    })
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const client = clients[worker % clients.length]!
      for (let n = worker; performance.now() < until; n += concurrency) await call(client, requests[n % requests.length]!)
    }),
  )
  const seconds = (performance.now() - began) / 1000
  for (const client of clients) client.close()
  latencies.sort((a, b) => a - b)
  return { concurrency, seconds, calls, acked, errors, logsPerSec: acked / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

async function runLoad(port: number, concurrency: number, durationMs: number): Promise<LoadResult> {
  const child = Bun.spawn([process.execPath, import.meta.path, 'load', String(port), String(concurrency), String(durationMs)], {
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const [output, code] = await Promise.all([new Response(child.stdout).text(), child.exited])
  if (code !== 0) throw new Error(`load generator exited ${code}: ${output}`)
  return JSON.parse(output) as LoadResult
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–'

async function run(context: BenchContext): Promise<ScenarioResult> {
  const config = loadConfig()
  const id = `${process.pid}-${Date.now().toString(36)}`
  const topic = `bench.ingest.${id}`
  const ppTopic = `bench.producer-perf.${id}`
  const admin = new Admin({ clientId: 'logstream-bench', bootstrapBrokers: config.kafka.brokers })
  const seconds = context.quick ? 3 : 15
  const phases = [
    { name: 'warm-up', concurrency: 16, ms: context.quick ? 2000 : 5000 },
    { name: 'light (1 client, one call at a time)', concurrency: 1, ms: seconds * 1000 },
    { name: 'medium (8 concurrent clients)', concurrency: 8, ms: seconds * 1000 },
    { name: 'heavy (64 concurrent clients)', concurrency: 64, ms: seconds * 1000 },
  ]
  await admin.createTopics({
    topics: [topic, ppTopic],
    partitions: config.kafka.partitions,
    replicas: -1,
    configs: [{ name: 'retention.ms', value: '600000' }],
  })
  const results: (LoadResult & { name: string })[] = []
  const recordBytes = meanValueBytes()
  let ceiling: Awaited<ReturnType<typeof runProducerPerformance>>
  try {
    const service = await startIngestProcess({ KAFKA_TOPIC: topic })
    try {
      for (const [index, phase] of phases.entries()) {
        context.progress('ingest load', index, phases.length + 1)
        results.push({ name: phase.name, ...(await runLoad(Number(service.grpc.split(':').pop()), phase.concurrency, phase.ms)) })
      }
    } finally {
      await service.stop()
    }
    context.progress('ProducerPerformance', phases.length, phases.length + 1)
    ceiling = await runProducerPerformance({ brokers: config.kafka.brokers, topic: ppTopic, records: context.quick ? 300_000 : 3_000_000, recordBytes })
    context.progress('ProducerPerformance', phases.length + 1, phases.length + 1)
  } finally {
    await admin
      .deleteTopics({ topics: [topic, ppTopic] })
      .catch((error: unknown) => process.stderr.write(`could not delete bench topics: ${(error as Error).message}\n`))
    await admin.close()
  }

  const measured = results.filter((item) => item.name !== 'warm-up')
  const heavy = measured.at(-1)!
  const light = measured[0]!
  const best = Math.max(...measured.map((item) => item.logsPerSec))
  const ratio = best / ceiling.recordsPerSec
  const ingestSettings = Object.entries(config.ingest)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ')
  const markdown = [
    `Requests of ${ENTRIES_PER_REQUEST} realistic entries (mean Kafka value ${recordBytes} B, key = service) from a separate load-generator process; the service is \`bun src/ingest.ts\` with default settings (${ingestSettings}). A call counts when it returned OK, i.e. Kafka acknowledged every entry (acks=all, idempotent).`,
    '',
    '| load | logs/s acknowledged | calls | errors | ack p50 | ack p99 |',
    '|---|---:|---:|---|---:|---:|',
    ...measured.map(
      (item) =>
        `| ${item.name} | ${fmt(item.logsPerSec)} | ${fmt(item.calls)} | ${
          Object.entries(item.errors)
            .map(([code, n]) => `${code} ${n}`)
            .join(', ') || 'none'
        } | ${fmt(item.p50Ms, 1)} ms | ${fmt(item.p99Ms, 1)} ms |`,
    ),
    '',
    `Ceiling: Kafka's ProducerPerformance on the same broker, ${recordBytes}-byte records, ${Object.entries(ceiling.props)
      .filter(([key]) => key !== 'bootstrap.servers')
      .map(([key, value]) => `${key}=${value}`)
      .join(' ')}: **${fmt(ceiling.recordsPerSec)} records/s** (${fmt(ceiling.mbPerSec, 1)} MB/s), latency p50 ${ceiling.p50Ms} ms, p99 ${ceiling.p99Ms} ms.`,
    '',
    `**Ingest reaches ${fmt(ratio * 100, 0)} % of the ceiling** (${fmt(best)} of ${fmt(ceiling.recordsPerSec)} logs/s; target ≥ 50 %). Everything (broker, service, load generator) shares the same ${navigator.hardwareConcurrency} cores.`,
  ].join('\n')
  return {
    title: 'Ingest: gRPC → Kafka',
    markdown,
    metrics: {
      ingest_logs_per_sec: best,
      ingest_heavy_logs_per_sec: heavy.logsPerSec,
      ingest_heavy_p50_ms: heavy.p50Ms,
      ingest_heavy_p99_ms: heavy.p99Ms,
      ingest_light_p50_ms: light.p50Ms,
      ingest_light_p99_ms: light.p99Ms,
      producer_perf_records_per_sec: ceiling.recordsPerSec,
      ingest_to_ceiling_ratio: ratio,
      record_bytes: recordBytes,
    },
  }
}

const scenario: Scenario = { name: 'ingest', run }
export default scenario

if (import.meta.main && process.argv[2] === 'load') {
  const [port, concurrency, durationMs] = process.argv.slice(3).map(Number)
  process.stdout.write(JSON.stringify(await generateLoad(port!, concurrency!, durationMs!)))
}
