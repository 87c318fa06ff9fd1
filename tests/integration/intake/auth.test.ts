import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { Client, HttpConnection } from '@elastic/elasticsearch'
import * as grpc from '@grpc/grpc-js'
import { DiagLogLevel, diag } from '@opentelemetry/api'
import { ExportResultCode } from '@opentelemetry/core'
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import pino from 'pino'
import winston from 'winston'
import LokiTransport from 'winston-loki'
import { createKey, revokeKey } from '../../../src/lib/auth/key-store.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { ERROR_CODE_METADATA, type IngestResponse, ingestService, RetryInfoType, RpcStatusType, type WireLogEntry } from '../../../src/lib/proto.ts'
import { eventually } from '../../support/infra.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'
import { emitNumbered } from '../../support/otel-emit.ts'
import { throughPinoLoki } from '../../support/pino-loki-stream.ts'
import { readTopicToEnd } from '../../support/topic-reader.ts'

/**
 * API keys and rate limits on every intake, with LOGSTREAM_AUTH=required and keys created in the stack's
 * database (createKey), through the real clients: grpc-js (native Ingest), the OpenTelemetry exporters (gRPC
 * with metadata, HTTP with headers), pino-loki and winston-loki (Basic, key as the password),
 * @elastic/elasticsearch (ApiKey and Basic). A rate-limited key gets each protocol's retry answer and a real
 * exporter retries until everything is stored exactly once. No key appears in the services' log lines nor in
 * any Kafka record of the test's topic.
 */

setDefaultTimeout(60_000)
const lines: string[] = []
const log = createLogger({ service: 'intake-auth-test' }, { level: 'debug', write: (line) => lines.push(line) })
const stack = await startIntakeStack((config) => ({ ...config, auth: { ...config.auth, mode: 'required', refreshMs: 100 } }), { log })
const sql = stack.db.sql

const writer = await createKey(sql, { name: 'writer', scope: 'ingest' })
const reader = await createKey(sql, { name: 'reader', scope: 'read' })
const revoked = await createKey(sql, { name: 'revoked', scope: 'ingest' })
const slow = await createKey(sql, { name: 'slow', scope: 'ingest', entriesPerSecond: 20 })
const keys = [writer, reader, revoked, slow].map((created) => created.key)
const basic = (key: string) => `Basic ${Buffer.from(`shipper:${key}`).toString('base64')}`

// ---------------------------------------------------------------------------------------------------------
// grpc-js, native logstream.LogIngestion/Ingest

const IngestClient = grpc.makeClientConstructor(ingestService, 'logstream.LogIngestion')
const nativeClient = new IngestClient(`127.0.0.1:${stack.ingest.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
  Ingest(
    request: { logs: WireLogEntry[] },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: IngestResponse) => void,
  ): void
}

function nativeIngest(authorization: string | undefined, logs: WireLogEntry[]): Promise<{ response?: IngestResponse; error?: grpc.ServiceError }> {
  const metadata = new grpc.Metadata()
  if (authorization) metadata.set('authorization', authorization)
  return new Promise((resolve) =>
    nativeClient.Ingest({ logs }, metadata, { deadline: Date.now() + 15_000 }, (error, response) => resolve(error ? { error } : { response })),
  )
}

// Keys created after the service started count from its next reload (AUTH_REFRESH_MS, 100 ms here).
await eventually(
  async () => ((await nativeIngest(`Bearer ${reader.key}`, [])).error?.code === grpc.status.PERMISSION_DENIED ? true : undefined),
  10_000,
  'the keys created to be loaded',
)

const entry = (service: string, message: string, seq = 0): WireLogEntry => ({
  service,
  level: 'INFO',
  message,
  timestamp: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
  metadata: JSON.stringify({ seq }),
})

/** RetryInfo's delay in ms from a status's grpc-status-details-bin, and the status code it carries. */
function retryInfo(error: grpc.ServiceError): { code: number; delayMs: number } {
  const [details] = error.metadata.get('grpc-status-details-bin') as Buffer[]
  const status = RpcStatusType.toObject(RpcStatusType.decode(details!)) as { code: number; details: { type_url: string; value: Uint8Array }[] }
  expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo')
  const { retryDelay } = RetryInfoType.toObject(RetryInfoType.decode(status.details[0]!.value), { longs: Number }) as {
    retryDelay: { seconds?: number; nanos?: number }
  }
  return { code: status.code, delayMs: (retryDelay.seconds ?? 0) * 1000 + (retryDelay.nanos ?? 0) / 1e6 }
}

describe('grpc-js, native Ingest', () => {
  test('no key: UNAUTHENTICATED; a malformed or unknown key: UNAUTHENTICATED without echoing it; a read key: PERMISSION_DENIED', async () => {
    const none = await nativeIngest(undefined, [entry('grpc-auth', 'no key')])
    expect(none.error?.code).toBe(grpc.status.UNAUTHENTICATED)
    expect(none.error?.details).toContain('API key is required')
    const wrong = `${writer.key.slice(0, -4)}AAAA`
    const unknown = await nativeIngest(`Bearer ${wrong}`, [entry('grpc-auth', 'wrong key')])
    expect(unknown.error?.code).toBe(grpc.status.UNAUTHENTICATED)
    expect(unknown.error?.details).not.toContain(wrong)
    const forbidden = await nativeIngest(`Bearer ${reader.key}`, [entry('grpc-auth', 'read key')])
    expect(forbidden.error?.code).toBe(grpc.status.PERMISSION_DENIED)
    expect(forbidden.error?.details).toContain('scope ingest')
  })

  test('an ingest key (Bearer or Basic) is accepted and its logs stored; health stays open', async () => {
    expect((await nativeIngest(`Bearer ${writer.key}`, [entry('grpc-auth', 'bearer')])).response?.accepted).toBe(1)
    expect((await nativeIngest(basic(writer.key), [entry('grpc-auth', 'basic')])).response?.accepted).toBe(1)
    const stored = await stack.storedLogs(2, '/query?service=grpc-auth')
    expect(stored.map((log) => log.message).sort()).toEqual(['basic', 'bearer'])
    const health = Bun.spawn([process.execPath, 'src/send.ts', '--health', '--addr', `127.0.0.1:${stack.ingest.port}`], {
      cwd: `${import.meta.dir}/../../..`,
      stdout: 'pipe',
    })
    expect(await health.exited).toBe(0)
  })

  test('a revoked key stops working within the reload interval', async () => {
    expect((await nativeIngest(`Bearer ${revoked.key}`, [entry('grpc-revoked', 'before')])).response?.accepted).toBe(1)
    await revokeKey(sql, 'revoked')
    await eventually(
      async () =>
        (await nativeIngest(`Bearer ${revoked.key}`, [entry('grpc-revoked', 'after')])).error?.code === grpc.status.UNAUTHENTICATED ? true : undefined,
      10_000,
      'the revoked key to be refused',
    )
  })
})

// ---------------------------------------------------------------------------------------------------------
// OpenTelemetry exporters

const grpcMetadata = (authorization: string) => {
  const metadata = new grpc.Metadata()
  metadata.set('authorization', authorization)
  return metadata
}

describe('OpenTelemetry exporters', () => {
  test('HTTP/protobuf and HTTP/JSON with headers: { Authorization: Bearer … } are stored; without: the export fails (401)', async () => {
    const url = `${stack.httpUrl}/v1/logs`
    const headers = { Authorization: `Bearer ${writer.key}` }
    expect((await emitNumbered(new HttpProtoLogExporter({ url, headers }), 'otel-http-proto', 3)).map((r) => r.code)).toEqual([ExportResultCode.SUCCESS])
    expect((await emitNumbered(new HttpJsonLogExporter({ url, headers }), 'otel-http-json', 3)).map((r) => r.code)).toEqual([ExportResultCode.SUCCESS])
    const [refused] = await emitNumbered(new HttpProtoLogExporter({ url }), 'otel-http-anonymous', 1)
    expect(refused?.code).toBe(ExportResultCode.FAILED)
    expect((refused!.error as { code?: number }).code).toBe(401)
    expect(await stack.storedLogs(3, '/query?service=otel-http-proto')).toHaveLength(3)
    expect(await stack.storedLogs(3, '/query?service=otel-http-json')).toHaveLength(3)
  })

  test('gRPC with metadata is stored; without a key the export fails UNAUTHENTICATED', async () => {
    const url = `http://127.0.0.1:${stack.ingest.otlpPort}`
    const ok = await emitNumbered(new GrpcLogExporter({ url, metadata: grpcMetadata(`Bearer ${writer.key}`) }), 'otel-grpc', 3)
    expect(ok.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS])
    const [refused] = await emitNumbered(new GrpcLogExporter({ url }), 'otel-grpc-anonymous', 1)
    expect((refused!.error as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED)
    expect(await stack.storedLogs(3, '/query?service=otel-grpc')).toHaveLength(3)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Loki and Elasticsearch clients

describe('Loki clients, Basic auth with the key as the password', () => {
  test('pino-loki', async () => {
    const failures = await throughPinoLoki(
      {
        host: stack.httpUrl,
        basicAuth: { username: 'pino', password: writer.key },
        batching: { interval: 600 },
        labels: { service_name: 'pino-auth' },
        logFormat: '{msg}',
      },
      (stream) => pino(stream).info('pino with a key'),
    )
    expect((await stack.storedLogs(1, '/query?service=pino-auth'))[0]!.message).toBe('pino with a key')
    expect(failures).toEqual([])
  })

  test('winston-loki; without credentials its push is refused (401) and nothing is stored', async () => {
    const errors: unknown[] = []
    const send = async (service: string, basicAuth?: string) => {
      const transport = new LokiTransport({
        host: stack.httpUrl,
        json: true,
        interval: 600,
        labels: { service_name: service },
        gracefulShutdown: false,
        ...(basicAuth ? { basicAuth } : {}),
        onConnectionError: (error) => errors.push(error),
      })
      winston.createLogger({ transports: [transport] }).info(`winston ${service}`)
      await transport.close()
    }
    await send('winston-auth', `winston:${writer.key}`)
    expect(errors).toEqual([])
    expect((await stack.storedLogs(1, '/query?service=winston-auth'))[0]!.message).toStartWith('winston winston-auth')
    await send('winston-anonymous')
    expect(String(errors[0])).toContain('401')
  })
})

/** The client as Node users run it (default undici connection) with `auth: { apiKey }`: info(), then one bulk. */
const NODE_CLIENT = `
const { Client } = await import('@elastic/elasticsearch')
const client = new Client({ node: process.argv[1], auth: { apiKey: process.env.LOGSTREAM_KEY } })
const info = await client.info()
const bulk = await client.bulk({ operations: [{ create: { _index: 'logs' } }, { message: 'from node', 'service.name': 'es-auth-node' }] })
console.log(JSON.stringify({ version: info.version.number, errors: bulk.errors }))
await client.close()
`

describe('@elastic/elasticsearch', () => {
  test('auth: { apiKey } and basic auth (under Bun, and apiKey under Node with its default connection): info() and bulk pass; without auth info() is a 401 security_exception', async () => {
    for (const [name, auth] of [
      ['apikey', { apiKey: writer.key }],
      ['basic', { username: 'elastic', password: writer.key }],
    ] as const) {
      const client = new Client({ node: stack.httpUrl, Connection: HttpConnection, auth })
      expect((await client.info()).version.number).toStartWith('8.')
      const bulk = await client.bulk({ operations: [{ create: { _index: 'logs' } }, { message: `es ${name}`, 'service.name': `es-auth-${name}` }] })
      expect(bulk.errors).toBe(false)
      expect((await stack.storedLogs(1, `/query?service=es-auth-${name}`))[0]!.message).toBe(`es ${name}`)
      await client.close()
    }
    const anonymous = new Client({ node: stack.httpUrl, Connection: HttpConnection })
    // The client's default (undici) connection fails under Bun before any request (see elasticsearch.test.ts): under Node here.
    const node = Bun.which('node')
    if (!node) throw new Error('this test runs the Elasticsearch client under Node: install Node (>= 18) on the PATH')
    const child = Bun.spawn([node, '--input-type=module', '-e', NODE_CLIENT, stack.httpUrl], {
      cwd: `${import.meta.dir}/../../..`,
      env: { ...process.env, LOGSTREAM_KEY: writer.key },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    expect({ code, err }).toEqual({ code: 0, err: '' })
    expect(JSON.parse(out)).toEqual({ version: expect.stringMatching(/^8\./), errors: false })
    expect((await stack.storedLogs(1, '/query?service=es-auth-node'))[0]!.message).toBe('from node')
    const error = (await anonymous.info().catch((caught: unknown) => caught)) as { meta: { statusCode: number; body: { error: { type: string } } } }
    expect(error.meta.statusCode).toBe(401)
    expect(error.meta.body.error.type).toBe('security_exception')
    await anonymous.close()
  })
})

// ---------------------------------------------------------------------------------------------------------
// Rate limits (the slow key: 20 logs per second, a burst of 20)

/** Rows per `seq` for a service, straight from PostgreSQL: duplicates show up as a count above 1. */
async function rowsBySeq(service: string): Promise<Map<number, number>> {
  const rows = await sql<{ seq: number; n: number }[]>`
    select (metadata->>'seq')::int as seq, count(*)::int as n from logs where service = ${service} group by 1`
  return new Map(rows.map((row) => [row.seq, row.n]))
}
const exactlyOnce = (count: number) => new Map(Array.from({ length: count }, (_, seq) => [seq, 1]))
const twenty = (service: string) => Array.from({ length: 20 }, (_, seq) => entry(service, `filler ${seq}`, seq))

describe('a rate-limited key', () => {
  test('HTTP: 429 with Retry-After in whole seconds, in each protocol', async () => {
    const jsonl = (n: number) => `${Array.from({ length: n }, (_, i) => JSON.stringify({ message: `jl ${i}`, service: 'limited-http' })).join('\n')}\n`
    const post = (path: string, body: string, type: string) =>
      fetch(`${stack.httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': type, authorization: `Bearer ${slow.key}` } })
    expect((await post('/jsonlines', jsonl(20), 'application/x-ndjson')).status).toBe(200)
    for (const [path, body, type] of [
      ['/jsonlines', jsonl(5), 'application/x-ndjson'],
      [
        '/loki/api/v1/push',
        JSON.stringify({ streams: [{ stream: { service_name: 'limited-http' }, values: [[`${Date.now()}000000`, 'x']] }] }),
        'application/json',
      ],
      ['/_bulk', `${JSON.stringify({ create: { _index: 'logs' } })}\n${JSON.stringify({ message: 'x' })}\n`, 'application/x-ndjson'],
    ] as const) {
      const response = await post(path, body, type)
      expect({ path, status: response.status, retryAfter: response.headers.get('retry-after') }).toEqual({ path, status: 429, retryAfter: '1' })
    }
  })

  test('native gRPC: RESOURCE_EXHAUSTED with a RetryInfo of the wait; OTLP gRPC: UNAVAILABLE with a RetryInfo', async () => {
    await eventually(async () => ((await nativeIngest(`Bearer ${slow.key}`, twenty('limited-grpc'))).response ? true : undefined), 5000, 'a full bucket')
    const native = await nativeIngest(`Bearer ${slow.key}`, [entry('limited-grpc', 'one more')])
    expect(native.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    expect(native.error?.metadata.get(ERROR_CODE_METADATA)).toEqual(['RATE_LIMITED'])
    const nativeRetry = retryInfo(native.error!)
    expect(nativeRetry.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    expect(nativeRetry.delayMs).toBeGreaterThan(0)
    expect(nativeRetry.delayMs).toBeLessThanOrEqual(1000)

    const [refused] = await emitNumbered(
      new GrpcLogExporter({ url: `http://127.0.0.1:${stack.ingest.otlpPort}`, metadata: grpcMetadata(`Bearer ${slow.key}`) }),
      'limited-otlp-grpc',
      1,
    )
    const error = refused?.error as grpc.ServiceError
    expect(error.code).toBe(grpc.status.UNAVAILABLE)
    const otlpRetry = retryInfo(error)
    expect(otlpRetry.code).toBe(grpc.status.UNAVAILABLE)
    expect(otlpRetry.delayMs).toBeGreaterThan(0)
  })

  test('the OTLP/HTTP exporter is answered 429, waits Retry-After, retries, and every record is stored exactly once', async () => {
    const diagnostics: string[] = []
    const note = (message: string, ...args: unknown[]) => diagnostics.push([message, ...args.map(String)].join(' '))
    diag.setLogger({ verbose: note, debug: note, info: note, warn: note, error: note }, DiagLogLevel.VERBOSE)
    try {
      // Empty the bucket first, so the exporter's first attempt is refused.
      await eventually(async () => ((await nativeIngest(`Bearer ${slow.key}`, twenty('limited-filler'))).response ? true : undefined), 5000, 'a full bucket')
      const results = await emitNumbered(
        new HttpProtoLogExporter({ url: `${stack.httpUrl}/v1/logs`, headers: { Authorization: `Bearer ${slow.key}` }, timeoutMillis: 30_000 }),
        'limited-otlp-http',
        15,
      )
      expect(results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])
      expect(diagnostics.some((line) => line.includes('Scheduling export retry'))).toBe(true)
    } finally {
      diag.disable()
    }
    await stack.storedLogs(15, '/query?service=limited-otlp-http&limit=1000')
    expect(await rowsBySeq('limited-otlp-http')).toEqual(exactlyOnce(15))
    expect(lines.some((line) => line.includes('"RATE_LIMITED"'))).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------------------

test('no key appears in the services’ log lines nor in any record of the topic', async () => {
  await stack.storedLogs(1)
  const records = await readTopicToEnd(stack.config)
  expect(records.length).toBeGreaterThan(10)
  const topic = records.map((record) => JSON.stringify(record)).join('\n')
  const logged = lines.join('\n')
  expect(logged).toContain('ingest.unauthorized')
  for (const key of keys) {
    expect(topic).not.toContain(key)
    expect(logged).not.toContain(key)
    // Nor its secret part alone, nor the Basic header that carried it.
    expect(logged).not.toContain(key.slice(17))
    expect(logged).not.toContain(basic(key).slice(6))
  }
  nativeClient.close()
})
