import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api'
import { SeverityNumber } from '@opentelemetry/api-logs'
import { type ExportResult, ExportResultCode } from '@opentelemetry/core'
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs'
import { ExportLogsRequestType, ExportLogsResponseType, otlpLogsService, RpcStatusType } from '../../../src/lib/proto.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'
import { recorded } from '../../support/otel-emit.ts'

/**
 * OTLP intake against the real OpenTelemetry JS SDK exporters (0.223 line: gRPC, HTTP/JSON, HTTP/protobuf),
 * under Bun, through the whole pipeline (ingest → Kafka → consumer → PostgreSQL → /query); and the answers
 * OTLP defines for partial success and malformed payloads, from hand-built requests.
 */

setDefaultTimeout(60_000)
const stack = await startIntakeStack()

// ---------------------------------------------------------------------------------------------------------
// Real exporters

type Compression = 'none' | 'gzip'
const compressionOf = (compression: Compression) => (compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE)

/** Each exporter, pointed at `port` on 127.0.0.1 (the ingest port, or a byte-counting proxy in front of it). */
const exporters = {
  grpc: (port: number, compression: Compression) => new GrpcLogExporter({ url: `http://127.0.0.1:${port}`, compression: compressionOf(compression) }),
  'http/json': (port: number, compression: Compression) =>
    new HttpJsonLogExporter({ url: `http://127.0.0.1:${port}/v1/logs`, compression: compressionOf(compression) }),
  'http/protobuf': (port: number, compression: Compression) =>
    new HttpProtoLogExporter({ url: `http://127.0.0.1:${port}/v1/logs`, compression: compressionOf(compression) }),
} as const
type ExporterName = keyof typeof exporters
const portFor = (name: ExporterName) => (name === 'grpc' ? stack.ingest.otlpPort : stack.ingest.httpPort)

interface Emitted {
  severityNumber?: SeverityNumber
  severityText?: string
  body: unknown
  attributes?: Record<string, string | number | boolean | string[]>
  timestamp?: number
  span?: { traceId: string; spanId: string }
}

/** Emits `records` through a LoggerProvider with a batch processor and `exporter`, flushes, shuts down; returns the export results. */
async function emit(exporter: LogRecordExporter, service: string, records: Emitted[]): Promise<ExportResult[]> {
  const { exporter: spy, results } = recorded(exporter)
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'otel-host-1', 'deployment.environment': 'test' }),
    processors: [new BatchLogRecordProcessor({ exporter: spy })],
  })
  const logger = provider.getLogger('checkout-lib', '1.2.3')
  for (const record of records) {
    const context = record.span ? trace.setSpanContext(ROOT_CONTEXT, { ...record.span, traceFlags: TraceFlags.SAMPLED }) : undefined
    logger.emit({
      severityNumber: record.severityNumber,
      severityText: record.severityText,
      body: record.body as string,
      attributes: record.attributes,
      timestamp: record.timestamp,
      context,
    })
  }
  await provider.forceFlush()
  await provider.shutdown()
  return results
}

/** A TCP proxy to 127.0.0.1:`port` that counts the bytes clients send through it: whether a body went compressed. */
async function countingProxy(port: number) {
  let sent = 0
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket
        .on('error', () => {})
        .on('close', () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(socket)
        })
    }
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length
    })
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    get sent() {
      return sent
    },
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`
const hex = (bytes: number) => randomBytes(bytes).toString('hex')

describe.each(Object.keys(exporters) as ExporterName[])('the %s exporter', (name) => {
  test('records round-trip to /query: service, host, level, body, trace and span ids, time, attributes, resource and scope', async () => {
    const service = unique(`otel-${name.replace('/', '-')}`)
    const span = { traceId: hex(16), spanId: hex(8) }
    const at = Date.now() - 60_000
    const results = await emit(exporters[name](portFor(name), 'none'), service, [
      {
        severityNumber: SeverityNumber.WARN,
        severityText: 'careful',
        body: 'payment retried',
        attributes: { 'user.id': 'u-42', 'http.status_code': 503, retried: true, 'cart.items': ['a', 'b'] },
        timestamp: at,
        span,
      },
      // A structured body is kept as JSON text; severity_number 18 is ERROR2; no span context means no ids.
      { severityNumber: 18 as SeverityNumber, body: { event: 'checkout', total: 12.5, lines: [1, 2] }, timestamp: at + 1 },
      // No severity_number: the text decides.
      { severityText: 'debug', body: 'from text', timestamp: at + 2 },
    ])
    expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])

    const logs = await stack.storedLogs(3, `/query?service=${service}&limit=10`)
    expect(logs).toHaveLength(3)
    const byMessage = Object.fromEntries(logs.map((log) => [log.message, log]))
    const resource = { 'service.name': service, 'host.name': 'otel-host-1', 'deployment.environment': 'test' }
    const scope = { name: 'checkout-lib', version: '1.2.3' }
    expect(byMessage['payment retried']).toMatchObject({
      service,
      host: 'otel-host-1',
      level: 'WARN',
      trace_id: span.traceId,
      span_id: span.spanId,
      metadata: { 'user.id': 'u-42', 'http.status_code': 503, retried: true, 'cart.items': ['a', 'b'], resource, scope },
    })
    expect(Date.parse(byMessage['payment retried']!.timestamp)).toBe(at)
    const structured = logs.find((log) => log.level === 'ERROR')!
    expect(JSON.parse(structured.message)).toEqual({ event: 'checkout', total: 12.5, lines: [1, 2] })
    expect(structured).toMatchObject({ trace_id: null, span_id: null, metadata: { resource, scope } })
    expect(byMessage['from text']).toMatchObject({ level: 'DEBUG' })
  })

  test('compression gzip: the body crosses the wire compressed and is stored intact', async () => {
    const service = unique(`otel-gzip-${name.replace('/', '-')}`)
    const message = `gzip ${'abcdefgh'.repeat(40_000)}`
    const sentWith = async (compression: Compression) => {
      const proxy = await countingProxy(portFor(name))
      try {
        const results = await emit(exporters[name](proxy.port, compression), service, [{ severityNumber: SeverityNumber.INFO, body: message }])
        expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])
        return proxy.sent
      } finally {
        await proxy.close()
      }
    }
    // The same 320 kB record sent plain, then gzipped: the proxy sees the difference, the store does not.
    expect(await sentWith('none')).toBeGreaterThan(message.length)
    expect(await sentWith('gzip')).toBeLessThan(message.length / 20)
    const logs = await stack.storedLogs(2, `/query?service=${service}&limit=10`)
    expect(logs.map((log) => log.message)).toEqual([message, message])
  })
})

// ---------------------------------------------------------------------------------------------------------
// Partial success

const stringValue = (value: string) => ({ stringValue: value })
const resourceOf = (service: string) => ({ attributes: [{ key: 'service.name', value: stringValue(service) }] })

/** One valid record, one the OTLP mapping refuses (a 3-byte trace id), one the intake refuses (no message). */
function mixedRecords(encoding: 'json' | 'protobuf') {
  const shortTraceId = encoding === 'json' ? 'abcdef' : Buffer.from('abcdef', 'hex')
  return [
    { timeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`, severityNumber: 9, body: stringValue('the valid one') },
    { severityNumber: 9, body: stringValue('bad trace id'), traceId: shortTraceId },
    { severityNumber: 9, body: stringValue('   ') },
  ]
}

const exportRequest = (service: string, logRecords: object[]) => ({ resourceLogs: [{ resource: resourceOf(service), scopeLogs: [{ logRecords }] }] })

function otlpClient(port: number) {
  const Client = grpc.makeGenericClientConstructor(otlpLogsService, 'LogsService')
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Export(request: object, callback: (error: grpc.ServiceError | null, response: Record<string, unknown>) => void): void
  }
}

// LogsService is served on OTLP_GRPC_PORT, where exporters look by default, and on GRPC_PORT too.
const grpcClient = otlpClient(stack.ingest.otlpPort)
const nativePortClient = otlpClient(stack.ingest.port)
afterAll(() => {
  grpcClient.close()
  nativePortClient.close()
})

function grpcExport(request: object, client = grpcClient) {
  return new Promise<{ error: grpc.ServiceError | null; response?: Record<string, unknown> }>((resolve) =>
    client.Export(request, (error, response) => resolve({ error, response })),
  )
}

/** A client whose request is sent as the bytes given, unencoded: garbage reaches the server as garbage. */
function rawExport(bytes: Buffer) {
  const Client = grpc.makeGenericClientConstructor(
    { Export: { ...otlpLogsService.Export, requestSerialize: (buffer: Buffer) => buffer, responseDeserialize: (buffer: Buffer) => buffer } },
    'LogsService',
  )
  const client = new Client(`127.0.0.1:${stack.ingest.otlpPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  }) as unknown as grpc.Client & {
    Export(request: Buffer, callback: (error: grpc.ServiceError | null) => void): void
  }
  return new Promise<grpc.ServiceError | null>((resolve) => client.Export(bytes, (error) => resolve(error))).finally(() => client.close())
}

describe('partial success', () => {
  test('OTLP/HTTP JSON: 200 with partialSuccess counting the refused records, each named; the valid one is stored', async () => {
    const service = unique('partial-json')
    const response = await fetch(`${stack.httpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(exportRequest(service, mixedRecords('json'))),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('application/json')
    const answer = (await response.json()) as { partialSuccess: { rejectedLogRecords: string; errorMessage: string } }
    // OTLP/JSON spells int64 as a string.
    expect(answer.partialSuccess.rejectedLogRecords).toBe('2')
    expect(answer.partialSuccess.errorMessage).toContain('logRecords[1].trace_id')
    expect(answer.partialSuccess.errorMessage).toContain('logRecords[2].message')
    const logs = await stack.storedLogs(1, `/query?service=${service}`)
    expect(logs.map((log) => log.message)).toEqual(['the valid one'])
  })

  test('OTLP/HTTP protobuf: the same answer as an encoded ExportLogsServiceResponse', async () => {
    const service = unique('partial-proto')
    const body = new Uint8Array(ExportLogsRequestType.encode(ExportLogsRequestType.fromObject(exportRequest(service, mixedRecords('protobuf')))).finish())
    const response = await fetch(`${stack.httpUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/x-protobuf')
    const answer = ExportLogsResponseType.toObject(ExportLogsResponseType.decode(new Uint8Array(await response.arrayBuffer())), { longs: Number })
    expect(answer.partialSuccess).toMatchObject({ rejectedLogRecords: 2 })
    expect((await stack.storedLogs(1, `/query?service=${service}`)).map((log) => log.message)).toEqual(['the valid one'])
  })

  test('OTLP/gRPC: OK with partial_success; a full success (sent to GRPC_PORT) leaves partial_success unset', async () => {
    const service = unique('partial-grpc')
    const mixed = await grpcExport(exportRequest(service, mixedRecords('protobuf')))
    expect(mixed.error).toBeNull()
    expect(mixed.response?.partialSuccess).toMatchObject({ rejectedLogRecords: 2 })
    expect((mixed.response?.partialSuccess as { errorMessage?: string } | undefined)?.errorMessage).toContain('logRecords[1].trace_id')

    const clean = await grpcExport(exportRequest(service, [{ severityNumber: 13, body: stringValue('all good') }]), nativePortClient)
    expect(clean.error).toBeNull()
    expect(clean.response?.partialSuccess).toBeUndefined()
    const logs = await stack.storedLogs(2, `/query?service=${service}`)
    expect(logs.map((log) => log.message).sort()).toEqual(['all good', 'the valid one'])
  })

  test('nothing valid: INVALID_ARGUMENT over gRPC, 400 with a google.rpc.Status over HTTP, naming the problem', async () => {
    const records = [{ severityNumber: 9, body: stringValue('x'), spanId: 'abc' }]
    const refused = await grpcExport(exportRequest('nothing-valid', [{ ...records[0], spanId: Buffer.from('abc') }]))
    expect(refused.error?.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(refused.error?.details).toContain('span_id')
    const response = await fetch(`${stack.httpUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(exportRequest('nothing-valid', records)),
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringContaining('span_id') })
  })
})

// ---------------------------------------------------------------------------------------------------------
// Malformed payloads

const validJson = (service: string, message: string) => JSON.stringify(exportRequest(service, [{ severityNumber: 9, body: stringValue(message) }]))

/** After each bad request the server still takes a good one. */
async function stillServes(service: string, message: string) {
  const response = await fetch(`${stack.httpUrl}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: validJson(service, message),
  })
  expect(response.status).toBe(200)
  expect(await response.json()).toEqual({})
}

/** The body as a google.rpc.Status, decoded in the encoding the response declares. */
async function rpcStatus(response: Response): Promise<{ code: number; message: string }> {
  const type = response.headers.get('content-type') ?? ''
  if (type.startsWith('application/json')) return (await response.json()) as { code: number; message: string }
  expect(type).toBe('application/x-protobuf')
  return RpcStatusType.toObject(RpcStatusType.decode(new Uint8Array(await response.arrayBuffer())), { defaults: true }) as { code: number; message: string }
}

describe('malformed payloads get a specific error, and the server serves the next request', () => {
  const service = unique('after-malformed')
  const post = (body: Uint8Array<ArrayBuffer> | string, headers: Record<string, string>) => fetch(`${stack.httpUrl}/v1/logs`, { method: 'POST', headers, body })
  const valid = new Uint8Array(ExportLogsRequestType.encode(ExportLogsRequestType.fromObject(exportRequest(service, mixedRecords('protobuf')))).finish())

  test('truncated protobuf: 400, a protobuf google.rpc.Status INVALID_ARGUMENT', async () => {
    const response = await post(valid.subarray(0, valid.length - 5), { 'content-type': 'application/x-protobuf' })
    expect(response.status).toBe(400)
    expect(await rpcStatus(response)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringContaining('not a protobuf') })
    await stillServes(service, 'after truncated')
  })

  test('invalid JSON: 400, a JSON google.rpc.Status', async () => {
    const response = await post('{"resourceLogs": [', { 'content-type': 'application/json' })
    expect(response.status).toBe(400)
    expect(response.headers.get('content-type')).toStartWith('application/json')
    expect(await rpcStatus(response)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringContaining('not OTLP/JSON') })
    await stillServes(service, 'after invalid json')
  })

  test('JSON that is not an ExportLogsServiceRequest (null, an array, fields of the wrong type): 400, not 500', async () => {
    const record = (fields: object) => JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: stringValue('x'), ...fields }] }] }] })
    const bodies = [
      'null',
      '[1]',
      '{"resourceLogs": 5}',
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": 7}]}]}',
      record({ traceId: 123 }),
      record({ severityText: 5 }),
      record({ attributes: 5 }),
      record({ body: { kvlistValue: { values: 5 } } }),
    ]
    const answers = []
    for (const body of bodies) {
      const response = await post(body, { 'content-type': 'application/json' })
      answers.push({ body, status: response.status, code: (await rpcStatus(response)).code })
    }
    expect(answers).toEqual(bodies.map((body) => ({ body, status: 400, code: grpc.status.INVALID_ARGUMENT })))
    await stillServes(service, 'after wrong shapes')
  })

  test('wrong content type: 400 naming the two accepted', async () => {
    const response = await post(validJson(service, 'never stored'), { 'content-type': 'text/plain' })
    expect(response.status).toBe(400)
    const status = await rpcStatus(response)
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(status.message).toContain('application/x-protobuf')
    expect(status.message).toContain('text/plain')
    await stillServes(service, 'after wrong type')
  })

  test('content-encoding gzip over garbage: 400 saying the body is not gzip', async () => {
    const response = await post(randomBytes(200), { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    expect(response.status).toBe(400)
    expect(await rpcStatus(response)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: expect.stringContaining('not valid gzip') })
    await stillServes(service, 'after bad gzip')
  })

  test('10 MB of random bytes: 413 with a google.rpc.Status', async () => {
    const response = await post(randomBytes(10 * 1024 * 1024), { 'content-type': 'application/x-protobuf' })
    expect(response.status).toBe(413)
    expect(await rpcStatus(response)).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED })
    await stillServes(service, 'after 10 MB')
  })

  test('gRPC: garbage bytes are INVALID_ARGUMENT (not INTERNAL); a message over the limit is RESOURCE_EXHAUSTED', async () => {
    // 'n' is field 13 with wire type 6, which does not exist.
    const garbage = await rawExport(Buffer.from('not a protobuf at all'))
    expect(garbage?.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(garbage?.details).toContain('not a protobuf')
    const truncated = await rawExport(Buffer.from(valid.subarray(0, valid.length - 5)))
    expect(truncated?.code).toBe(grpc.status.INVALID_ARGUMENT)
    const large = await rawExport(randomBytes(stack.config.grpc.maxRequestBytes + 1024))
    expect(large?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    const after = await grpcExport(exportRequest(service, [{ severityNumber: 9, body: stringValue('after grpc garbage') }]))
    expect(after.error).toBeNull()
  })

  test('every good request sent between the bad ones is stored, and nothing of the bad ones', async () => {
    const logs = await stack.storedLogs(7, `/query?service=${service}&limit=100`)
    expect(logs.map((log) => log.message).sort()).toEqual(
      ['after 10 MB', 'after bad gzip', 'after grpc garbage', 'after invalid json', 'after truncated', 'after wrong shapes', 'after wrong type'].sort(),
    )
  })
})
