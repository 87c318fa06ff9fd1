/**
 * The shippers' intake beside the native gRPC intake: logs/s acknowledged through each protocol (OTLP over
 * gRPC and HTTP, Loki push, Elasticsearch bulk, JSON lines) by the real `bun src/ingest.ts` on a topic of
 * its own, in the same run, with the same logs per request, clients and duration. Native gRPC is driven by
 * bench/load-generator.ts (as e2e is), the protocols by bench/protocol-load.ts, each in a process of its own.
 */
import { readFileSync } from 'node:fs'
import { Admin } from '@platformatic/kafka'
import { loadConfig } from '../src/lib/config.ts'
import { type IngestProcess, startIngestProcess } from './ingest-process.ts'
import type { LoadSummary } from './load-generator.ts'
import { nativeRequestBytes, type Protocol, type ProtocolLoadSummary } from './protocol-load.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

const ENTRIES_PER_REQUEST = 100
const WORKERS = 8

interface Phase {
  protocol: Protocol | 'native-grpc'
  label: string
  endpoint: string
}

// biome-ignore format: a table of protocol, label and endpoint
const PHASES: Phase[] = [
  { protocol: 'native-grpc',        label: 'native gRPC',              endpoint: 'logstream.LogIngestion/Ingest, :50051' },
  { protocol: 'otlp-grpc',          label: 'OTLP/gRPC',                endpoint: 'LogsService/Export, :4317' },
  { protocol: 'otlp-http-protobuf', label: 'OTLP/HTTP protobuf',       endpoint: 'POST /v1/logs, :4318' },
  { protocol: 'otlp-http-json',     label: 'OTLP/HTTP JSON',           endpoint: 'POST /v1/logs, :4318' },
  { protocol: 'loki-json',          label: 'Loki push, JSON',          endpoint: 'POST /loki/api/v1/push, :4318' },
  { protocol: 'loki-protobuf',      label: 'Loki push, snappy protobuf', endpoint: 'POST /loki/api/v1/push, :4318' },
  { protocol: 'es-bulk',            label: 'Elasticsearch bulk',       endpoint: 'POST /_bulk, :4318' },
  { protocol: 'json-lines',         label: 'JSON lines',               endpoint: 'POST /jsonlines, :4318' },
]

interface Measured {
  label: string
  endpoint: string
  acceptedLogs: number
  rejectedLogs: number
  requests: number
  seconds: number
  bodyBytes: number
  p50Ms: number
  p99Ms: number
  errors: Record<string, number>
  /** Service CPU (user + system) while this phase was measured, per 1000 logs acknowledged. */
  cpuMsPer1k: number
}

const CLOCK_TICK_MS = 10

/** utime + stime of a process, in milliseconds (Linux clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS
}

/** Runs a generator process; `onLine` sees each stdout line as it comes. Resolves with the last line. */
async function runGenerator(args: string[], onLine: (line: string) => void = () => {}): Promise<string> {
  const child = Bun.spawn([process.execPath, ...args], { stdout: 'pipe', stderr: 'inherit' })
  const decoder = new TextDecoder()
  let buffered = ''
  let last = ''
  for await (const chunk of child.stdout) {
    buffered += decoder.decode(chunk, { stream: true })
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      if (line.trim()) {
        last = line
        onLine(line)
      }
      newline = buffered.indexOf('\n')
    }
  }
  const code = await child.exited
  if (code !== 0) throw new Error(`${args[0]} exited ${code}: ${last}`)
  return last
}

async function nativeGrpc(service: IngestProcess, seconds: number): Promise<Omit<Measured, 'label' | 'endpoint'>> {
  const began = cpuMs(service.pid)
  // sampleEvery so large that no request is re-encoded while measuring (the first one only).
  const options = { target: service.grpc, workers: WORKERS, seconds, rate: 0, entriesPerRequest: ENTRIES_PER_REQUEST, sampleEvery: 1e12 }
  const summary = JSON.parse(await runGenerator([`${import.meta.dir}/load-generator.ts`, JSON.stringify(options)])) as LoadSummary
  const cpu = cpuMs(service.pid) - began
  const errors: Record<string, number> = {}
  // Keys are "STATUS: text"; the status is what the table reports.
  for (const [key, count] of Object.entries(summary.errors)) errors[key.split(':')[0]!] = (errors[key.split(':')[0]!] ?? 0) + count
  return {
    acceptedLogs: summary.acceptedLogs,
    rejectedLogs: summary.rejectedLogs,
    requests: summary.requests,
    seconds: summary.seconds,
    bodyBytes: nativeRequestBytes(ENTRIES_PER_REQUEST),
    p50Ms: summary.latencyMs.p50,
    p99Ms: summary.latencyMs.p99,
    errors,
    cpuMsPer1k: cpu / (summary.acceptedLogs / 1000),
  }
}

async function shipperProtocol(
  service: IngestProcess,
  protocol: Protocol,
  seconds: number,
  warmupSeconds: number,
): Promise<Omit<Measured, 'label' | 'endpoint'>> {
  const target = protocol === 'otlp-grpc' ? service.otlp : service.http
  const options = { protocol, target, workers: WORKERS, seconds, warmupSeconds, entriesPerRequest: ENTRIES_PER_REQUEST }
  // The generator says when its warm-up is over; the service's CPU is sampled from then on.
  let began = cpuMs(service.pid)
  const last = await runGenerator([`${import.meta.dir}/protocol-load.ts`, JSON.stringify(options)], (line) => {
    if (line.includes('"type":"measuring"')) began = cpuMs(service.pid)
  })
  const cpu = cpuMs(service.pid) - began
  const summary = JSON.parse(last) as ProtocolLoadSummary
  return {
    acceptedLogs: summary.acceptedLogs,
    rejectedLogs: summary.rejectedLogs,
    requests: summary.requests,
    seconds: summary.seconds,
    bodyBytes: summary.bodyBytes,
    p50Ms: summary.latencyMs.p50,
    p99Ms: summary.latencyMs.p99,
    errors: summary.errors,
    cpuMsPer1k: cpu / (summary.acceptedLogs / 1000),
  }
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–'

async function run(context: BenchContext): Promise<ScenarioResult> {
  const config = loadConfig()
  const topic = `bench.intake.${process.pid}-${Date.now().toString(36)}`
  const admin = new Admin({ clientId: 'logstream-bench', bootstrapBrokers: config.kafka.brokers })
  const seconds = context.quick ? 3 : 10
  const warmupSeconds = context.quick ? 0.5 : 1
  await admin.createTopics({
    topics: [topic],
    partitions: config.kafka.partitions,
    replicas: -1,
    configs: [
      { name: 'retention.ms', value: '600000' },
      { name: 'retention.bytes', value: String(256 * 2 ** 20) },
      { name: 'max.message.bytes', value: String(8 * 2 ** 20) },
    ],
  })
  const measured: Measured[] = []
  let exitCode = Number.NaN
  try {
    const service = await startIngestProcess({ KAFKA_TOPIC: topic })
    try {
      const steps = PHASES.length + 2
      context.progress('intake: warm-up', 0, steps)
      await nativeGrpc(service, context.quick ? 1 : 2)
      for (const [index, phase] of PHASES.entries()) {
        context.progress(`intake: ${phase.label}`, index + 1, steps)
        const result =
          phase.protocol === 'native-grpc' ? await nativeGrpc(service, seconds) : await shipperProtocol(service, phase.protocol, seconds, warmupSeconds)
        measured.push({ label: phase.label, endpoint: phase.endpoint, ...result })
      }
      // Native again at the end: how much the machine (shared, the topic filling) drifted over the run.
      context.progress('intake: native gRPC again', steps - 1, steps)
      measured.push({ label: 'native gRPC, again at the end', endpoint: PHASES[0]!.endpoint, ...(await nativeGrpc(service, seconds)) })
      context.progress('intake: done', steps, steps)
    } finally {
      exitCode = await service.stop()
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch((error: unknown) => process.stderr.write(`could not delete bench topic: ${(error as Error).message}\n`))
    await admin.close()
  }

  const rate = (item: Measured) => item.acceptedLogs / item.seconds
  const native = rate(measured[0]!)
  const errors = (item: Measured) =>
    Object.entries(item.errors)
      .map(([status, count]) => `${status} ×${fmt(count)}`)
      .join(', ') || 'none'
  const markdown = [
    `Requests of ${ENTRIES_PER_REQUEST} realistic logs (bench/load-generator.ts's content, written in each protocol's own shape by bench/protocol-load.ts: OTLP grouped into one resource per service and host, Loki one stream per service and host with level, ids and fields as structured metadata, Elasticsearch ECS documents behind \`create\` actions, JSON lines with our field names; no compression; Loki protobuf through a literal-only snappy encoder, i.e. uncompressed snappy) from ${WORKERS} concurrent clients, ${seconds} s per protocol after a ${warmupSeconds} s warm-up, one generator process per protocol; the service is one \`bun src/ingest.ts\` with default settings on a topic of its own. A log counts when its request was answered with success (Kafka acknowledged it, acks=all) and it was not refused inside that answer (partial_success, bulk item, JSON-lines rejection). Native gRPC requests carry no timestamp (the service stamps them); the shippers' carry one each, as shippers do.`,
    '',
    '| protocol | endpoint | body per request | logs/s acknowledged | vs native gRPC | ack p50 | ack p99 | requests | refused logs | failed requests | service CPU per 1k logs |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...measured.map(
      (item) =>
        `| ${item.label} | ${item.endpoint} | ${fmt(item.bodyBytes / 1024, 1)} KiB | ${fmt(rate(item))} | ${fmt((rate(item) / native) * 100)} % | ${fmt(item.p50Ms, 1)} ms | ${fmt(item.p99Ms, 1)} ms | ${fmt(item.requests)} | ${fmt(item.rejectedLogs)} | ${errors(item)} | ${fmt(item.cpuMsPer1k, 1)} ms |`,
    ),
    '',
    `Service CPU is the ingest process's user + system time (/proc, 10 ms ticks) while the phase was measured, per 1000 logs acknowledged; 1000 ms per second is one core. Everything (Kafka, the service, the generator${context.quick ? '' : ', and whatever else runs on the machine'}) shares ${navigator.hardwareConcurrency} cores. The service exited ${exitCode} after SIGTERM.`,
  ].join('\n')
  const key = (label: string) =>
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_|_$/g, '')
  const metrics: Record<string, number> = {}
  for (const item of measured) {
    metrics[`intake_${key(item.label)}_logs_per_sec`] = rate(item)
    metrics[`intake_${key(item.label)}_ratio_to_native`] = rate(item) / native
    metrics[`intake_${key(item.label)}_p99_ms`] = item.p99Ms
  }
  return { title: "Intake: shippers' protocols beside native gRPC", markdown, metrics }
}

const scenario: Scenario = { name: 'intake', run }
export default scenario
