/**
 * A separate process that drives one of the shippers' protocols of the ingest service (OTLP over gRPC and
 * HTTP, Loki push, Elasticsearch bulk, JSON lines), so the client's CPU is not charged to the service.
 * Closed loop: each worker sends its next request when the last is answered. Every request body is built
 * once before the clock starts, so the generator spends its time sending. Prints `{"type":"measuring"}` when
 * its warm-up is over, then one JSON summary line.
 *
 *   bun bench/protocol-load.ts '{"protocol":"loki-json","target":"127.0.0.1:4318","workers":8,"seconds":10}'
 */
import * as grpc from '@grpc/grpc-js'
import { ExportLogsRequestType, ExportLogsResponseType, encodeIngestRequest, LokiPushRequestType, OTLP_EXPORT_PATH } from '../src/lib/proto.ts'
import { entry } from './load-generator.ts'
import { percentile } from './percentile.ts'

export const Protocols = ['otlp-grpc', 'otlp-http-protobuf', 'otlp-http-json', 'loki-json', 'loki-protobuf', 'es-bulk', 'json-lines'] as const
export type Protocol = (typeof Protocols)[number]

export interface ProtocolLoadOptions {
  protocol: Protocol
  /** host:port: the OTLP gRPC port for otlp-grpc, the HTTP intake port for the others. */
  target: string
  workers: number
  seconds: number
  /** Sent before the clock starts and not counted (JIT, connections). */
  warmupSeconds: number
  entriesPerRequest: number
}

export interface ProtocolLoadSummary {
  protocol: Protocol
  requests: number
  acceptedLogs: number
  rejectedLogs: number
  seconds: number
  /** Mean request body as sent. */
  bodyBytes: number
  latencyMs: { p50: number; p99: number }
  /** Failed requests by HTTP status or gRPC status name. */
  errors: Record<string, number>
}

interface SampleLog {
  nanos: bigint
  service: string
  level: string
  message: string
  fields: { user_id: string; region: string; duration_ms: number }
  traceId: string
  spanId: string
  host: string
  tags: string[]
}

/** The same log bench/load-generator.ts sends over native gRPC, so every protocol carries the same content in its own shape. */
function sampleLog(i: number, baseNanos: bigint): SampleLog {
  const log = entry(i)
  return {
    nanos: baseNanos + BigInt(i) * 1000n,
    service: log.service!,
    level: log.level!,
    message: log.message,
    fields: JSON.parse(log.metadata),
    traceId: log.trace_id,
    spanId: log.span_id,
    host: log.host,
    tags: log.tags,
  }
}

/** Logs of one resource (OTLP) or one stream (Loki): a shipper batches many sources' logs into one request. */
function groupBy(logs: SampleLog[], key: (log: SampleLog) => string): SampleLog[][] {
  const groups = new Map<string, SampleLog[]>()
  for (const log of logs) {
    const name = key(log)
    const group = groups.get(name)
    if (group) group.push(log)
    else groups.set(name, [log])
  }
  return [...groups.values()]
}

const SEVERITY_NUMBERS: Record<string, number> = { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 }

/** ExportLogsServiceRequest in protobufjs's camelCase object form (also the OTLP/JSON names). */
function otlpRequest(logs: SampleLog[], json: boolean) {
  const string = (value: string) => ({ stringValue: value })
  return {
    resourceLogs: groupBy(logs, (log) => `${log.service}/${log.host}`).map((group) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: string(group[0]!.service) },
          { key: 'host.name', value: string(group[0]!.host) },
          { key: 'deployment.environment', value: string('bench') },
        ],
      },
      scopeLogs: [
        {
          scope: { name: 'bench', version: '1.0.0' },
          logRecords: group.map((log) => ({
            timeUnixNano: String(log.nanos),
            severityNumber: SEVERITY_NUMBERS[log.level],
            severityText: log.level,
            body: string(log.message),
            attributes: [
              { key: 'user_id', value: string(log.fields.user_id) },
              { key: 'region', value: string(log.fields.region) },
              // OTLP/JSON spells 64-bit ints as strings.
              { key: 'duration_ms', value: { intValue: json ? String(log.fields.duration_ms) : log.fields.duration_ms } },
            ],
            traceId: json ? log.traceId : Buffer.from(log.traceId, 'hex'),
            spanId: json ? log.spanId : Buffer.from(log.spanId, 'hex'),
          })),
        },
      ],
    })),
  }
}

const lokiLabels = (log: SampleLog) => ({ service_name: log.service, host: log.host, env: 'bench' })
const lokiStructured = (log: SampleLog) => ({
  level: log.level,
  trace_id: log.traceId,
  span_id: log.spanId,
  user_id: log.fields.user_id,
  region: log.fields.region,
  duration_ms: String(log.fields.duration_ms),
})

function lokiJson(logs: SampleLog[]) {
  return {
    streams: groupBy(logs, (log) => `${log.service}/${log.host}`).map((group) => ({
      stream: lokiLabels(group[0]!),
      values: group.map((log) => [String(log.nanos), log.message, lokiStructured(log)]),
    })),
  }
}

function lokiProtobuf(logs: SampleLog[]) {
  return {
    streams: groupBy(logs, (log) => `${log.service}/${log.host}`).map((group) => ({
      labels: `{${Object.entries(lokiLabels(group[0]!))
        .map(([name, value]) => `${name}="${value}"`)
        .join(', ')}}`,
      entries: group.map((log) => ({
        timestamp: { seconds: String(log.nanos / 1_000_000_000n), nanos: Number(log.nanos % 1_000_000_000n) },
        line: log.message,
        structuredMetadata: Object.entries(lokiStructured(log)).map(([name, value]) => ({ name, value })),
      })),
    })),
  }
}

/**
 * Snappy block format with literals only: the decoded length as a varint, then chunks of at most 64 KiB
 * each tagged as a literal with a 2-byte length. Valid snappy that any decoder reads (it compresses
 * nothing), so Loki's protobuf push can be driven without a snappy dependency.
 */
export function snappyLiteral(input: Uint8Array): Buffer {
  const header: number[] = []
  for (let rest = input.length; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) {
      header.push(rest)
      break
    }
    header.push((rest % 128) | 0x80)
  }
  const parts: Uint8Array[] = [Uint8Array.from(header)]
  for (let at = 0; at < input.length; at += 65_536) {
    const chunk = input.subarray(at, Math.min(at + 65_536, input.length))
    const n = chunk.length - 1
    parts.push(Uint8Array.from([61 << 2, n & 0xff, n >>> 8]), chunk)
  }
  return Buffer.concat(parts)
}

const isoNanos = (nanos: bigint) => {
  const iso = new Date(Number(nanos / 1_000_000n)).toISOString()
  return `${iso.slice(0, 19)}.${String(nanos % 1_000_000_000n).padStart(9, '0')}Z`
}

/** An ECS document as Filebeat or Fluent Bit's es output would send it. */
const ecsDocument = (log: SampleLog) => ({
  '@timestamp': isoNanos(log.nanos),
  message: log.message,
  log: { level: log.level.toLowerCase() },
  service: { name: log.service },
  host: { name: log.host },
  trace: { id: log.traceId },
  span: { id: log.spanId },
  tags: log.tags,
  ...log.fields,
})

/** A JSON line as an application's logger would write it. */
const jsonLine = (log: SampleLog) => ({
  timestamp: isoNanos(log.nanos),
  service: log.service,
  level: log.level,
  message: log.message,
  trace_id: log.traceId,
  span_id: log.spanId,
  host: log.host,
  tags: log.tags,
  ...log.fields,
})

interface Body {
  bytes: Uint8Array<ArrayBuffer>
  count: number
}

function body(protocol: Protocol, logs: SampleLog[]): Body {
  const encode = (type: typeof ExportLogsRequestType, value: object) => type.encode(type.fromObject(value)).finish()
  const text = (value: string) => Buffer.from(value)
  const bytes = (() => {
    switch (protocol) {
      case 'otlp-grpc':
      case 'otlp-http-protobuf':
        return encode(ExportLogsRequestType, otlpRequest(logs, false))
      case 'otlp-http-json':
        return text(JSON.stringify(otlpRequest(logs, true)))
      case 'loki-json':
        return text(JSON.stringify(lokiJson(logs)))
      case 'loki-protobuf':
        return snappyLiteral(encode(LokiPushRequestType, lokiProtobuf(logs)))
      case 'es-bulk':
        return text(logs.map((log) => `{"create":{"_index":"logs-bench"}}\n${JSON.stringify(ecsDocument(log))}\n`).join(''))
      case 'json-lines':
        return text(logs.map((log) => `${JSON.stringify(jsonLine(log))}\n`).join(''))
    }
  })()
  // A copy of its own (not a view into protobufjs's or Buffer's pool), as fetch's body types want.
  return { bytes: new Uint8Array(bytes), count: logs.length }
}

/**
 * Mean size of a native IngestRequest of the same logs as load-generator.ts sends them (no timestamp,
 * metadata as JSON text), for the report's body-size column.
 */
export function nativeRequestBytes(entriesPerRequest: number, requests = 8): number {
  let total = 0
  for (let r = 0; r < requests; r++) {
    const logs = Array.from({ length: entriesPerRequest }, (_, i) => sampleLog(r * entriesPerRequest + i, 0n)).map((log) => ({
      service: log.service,
      level: log.level,
      message: log.message,
      metadata: JSON.stringify(log.fields),
      trace_id: log.traceId,
      span_id: log.spanId,
      host: log.host,
      tags: log.tags,
    }))
    total += encodeIngestRequest({ logs }).byteLength
  }
  return Math.round(total / requests)
}

const HTTP: Record<Exclude<Protocol, 'otlp-grpc'>, { path: string; contentType: string }> = {
  'otlp-http-protobuf': { path: '/v1/logs', contentType: 'application/x-protobuf' },
  'otlp-http-json': { path: '/v1/logs', contentType: 'application/json' },
  'loki-json': { path: '/loki/api/v1/push', contentType: 'application/json' },
  'loki-protobuf': { path: '/loki/api/v1/push', contentType: 'application/x-protobuf' },
  'es-bulk': { path: '/_bulk', contentType: 'application/x-ndjson' },
  'json-lines': { path: '/jsonlines', contentType: 'application/x-ndjson' },
}

/** How many of a request's logs the service says it refused, from a successful answer. */
type Send = (body: Body) => Promise<{ rejected: number } | { failure: string }>

async function httpSender(protocol: Exclude<Protocol, 'otlp-grpc'>, target: string): Promise<Send> {
  const { path, contentType } = HTTP[protocol]
  const url = `http://${target}${path}`
  return async (request) => {
    const response = await fetch(url, { method: 'POST', body: request.bytes, headers: { 'content-type': contentType } })
    const answer = new Uint8Array(await response.arrayBuffer())
    if (protocol.startsWith('loki')) return response.status === 204 ? { rejected: 0 } : { failure: `HTTP ${response.status}` }
    if (response.status !== 200) return { failure: `HTTP ${response.status}` }
    if (protocol === 'otlp-http-protobuf') {
      const decoded = ExportLogsResponseType.toObject(ExportLogsResponseType.decode(answer), { longs: Number }) as {
        partialSuccess?: { rejectedLogRecords?: number }
      }
      return { rejected: decoded.partialSuccess?.rejectedLogRecords ?? 0 }
    }
    const json = JSON.parse(Buffer.from(answer).toString('utf8'))
    if (protocol === 'otlp-http-json') return { rejected: Number(json.partialSuccess?.rejectedLogRecords ?? 0) }
    if (protocol === 'json-lines') return { rejected: json.rejected }
    const items = json.items as Record<string, { status: number }>[]
    return { rejected: items.filter((item) => Object.values(item)[0]!.status !== 201).length }
  }
}

function grpcSender(target: string): { send: Send; close(): void; ready: Promise<void> } {
  const client = new grpc.Client(target, grpc.credentials.createInsecure())
  const ready = new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())))
  const send: Send = (request) =>
    new Promise((resolve) => {
      client.makeUnaryRequest(
        OTLP_EXPORT_PATH,
        (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        (bytes: Buffer) =>
          ExportLogsResponseType.toObject(ExportLogsResponseType.decode(bytes), { longs: Number }) as { partialSuccess?: { rejectedLogRecords?: number } },
        request.bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + 30_000 },
        (error, response) =>
          resolve(
            error || !response
              ? { failure: grpc.status[error?.code ?? grpc.status.UNKNOWN] ?? 'ERROR' }
              : { rejected: response.partialSuccess?.rejectedLogRecords ?? 0 },
          ),
      )
    })
  return { send, close: () => client.close(), ready }
}

/** `onMeasuring` is called when the warm-up is over and the clock starts. */
export async function runProtocolLoad(options: ProtocolLoadOptions, onMeasuring: () => void = () => {}): Promise<ProtocolLoadSummary> {
  // Eight distinct bodies per worker, built before the clock starts; timestamps spread over the last minute.
  const base = BigInt(Date.now() - 60_000) * 1_000_000n
  const bodies = Array.from({ length: options.workers }, (_, worker) =>
    Array.from({ length: 8 }, (_, k) => {
      const first = (worker * 8 + k) * options.entriesPerRequest
      return body(
        options.protocol,
        Array.from({ length: options.entriesPerRequest }, (_, i) => sampleLog(first + i, base)),
      )
    }),
  )
  const all = bodies.flat()
  const bodyBytes = all.reduce((sum, item) => sum + item.bytes.byteLength, 0) / all.length

  let close = () => {}
  let send: Send
  if (options.protocol === 'otlp-grpc') {
    const sender = grpcSender(options.target)
    await sender.ready
    send = sender.send
    close = sender.close
  } else send = await httpSender(options.protocol, options.target)

  let counting = false
  const latencies: number[] = []
  const errors: Record<string, number> = {}
  let requests = 0
  let accepted = 0
  let rejected = 0
  const worker = async (id: number, until: number) => {
    const own = bodies[id]!
    for (let n = 0; performance.now() < until; n++) {
      const request = own[n % own.length]!
      const start = performance.now()
      let result: Awaited<ReturnType<Send>>
      try {
        result = await send(request)
      } catch (error) {
        result = { failure: (error as Error).name || 'ERROR' }
      }
      if (!counting) continue
      requests += 1
      if ('failure' in result) {
        errors[result.failure] = (errors[result.failure] ?? 0) + 1
        continue
      }
      latencies.push(performance.now() - start)
      accepted += request.count - result.rejected
      rejected += result.rejected
    }
  }
  const run = (seconds: number) => {
    const until = performance.now() + seconds * 1000
    return Promise.all(Array.from({ length: options.workers }, (_, id) => worker(id, until)))
  }
  await run(options.warmupSeconds)
  onMeasuring()
  counting = true
  const began = performance.now()
  await run(options.seconds)
  const seconds = (performance.now() - began) / 1000
  close()

  latencies.sort((a, b) => a - b)
  const round = (value: number) => Math.round(value * 10) / 10
  return {
    protocol: options.protocol,
    requests,
    acceptedLogs: accepted,
    rejectedLogs: rejected,
    seconds,
    bodyBytes: Math.round(bodyBytes),
    latencyMs: { p50: round(percentile(latencies, 50, 0)), p99: round(percentile(latencies, 99, 0)) },
    errors,
  }
}

if (import.meta.main) {
  const options: ProtocolLoadOptions = {
    protocol: 'otlp-http-protobuf',
    target: '127.0.0.1:4318',
    workers: 8,
    seconds: 10,
    warmupSeconds: 1,
    entriesPerRequest: 100,
    ...JSON.parse(process.argv[2] ?? '{}'),
  }
  if (!Protocols.includes(options.protocol)) {
    process.stderr.write(`unknown protocol ${options.protocol}; one of ${Protocols.join(', ')}\n`)
    process.exit(2)
  }
  const summary = await runProtocolLoad(options, () => process.stdout.write('{"type":"measuring"}\n'))
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.exit(0)
}
