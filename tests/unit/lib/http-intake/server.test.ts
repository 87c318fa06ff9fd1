import { describe, expect, test } from 'bun:test'
import { gzipSync } from 'node:zlib'
import { openAuthenticator } from '../../../../src/lib/auth/key-ring.ts'
import { RateLimits } from '../../../../src/lib/auth/rate-limits.ts'
import type { Config } from '../../../../src/lib/config.ts'
import { ErrorCodes, KafkaUnavailableError } from '../../../../src/lib/errors.ts'
import { createHttpIntakeHandler } from '../../../../src/lib/http-intake/server.ts'
import { createIntake, ENTRY_COST_BYTES, type Intake, RESERVE_WAIT_MS } from '../../../../src/lib/intake.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import type { LogProducer } from '../../../../src/lib/producer.ts'
import { RETRY_AFTER_SECONDS } from '../../../../src/lib/retry-after.ts'
import { testIngestSettings } from '../../../support/intake-settings.ts'

/**
 * The HTTP intake listener's answers when storing is not possible now, for each protocol: Kafka down or slow
 * (503), the ingest budget full (429), both with Retry-After, never 400, which shippers take as "drop the
 * batch"; and a body over the limit, as sent or once decompressed (413, without Retry-After). The handler
 * runs over the real intake with a fake producer: no Kafka, no listener.
 */

const log = createLogger({ service: 'http-intake-test' }, { level: 'error' })

const settings = testIngestSettings

type ProducerBehaviour = 'acks' | 'fails' | 'holds'

/** A producer that acknowledges every send, rejects it as Kafka being unreachable, or never settles it. */
function fakeProducer(behaviour: ProducerBehaviour) {
  const sent: unknown[] = []
  const producer: LogProducer = {
    async send(messages) {
      sent.push(...messages)
      if (behaviour === 'fails') throw new KafkaUnavailableError('broker 127.0.0.1:9092 unreachable')
      if (behaviour === 'holds') await new Promise(() => {})
    },
    close: async () => {},
  }
  return { sent, producer }
}

interface Setup {
  behaviour?: ProducerBehaviour
  ingest?: Partial<Config['ingest']>
  maxBodyBytes?: number
  sendTimeoutMs?: number
}

function handlerWith({ behaviour = 'acks', ingest = {}, maxBodyBytes = 64 * 1024, sendTimeoutMs = 5000 }: Setup = {}) {
  const { sent, producer } = fakeProducer(behaviour)
  const intake = createIntake({ ingest: { ...settings, ...ingest }, retentionDays: 7 }, { producer, log })
  const limits = new RateLimits({ entriesPerSecond: 1000, bytesPerSecond: 1024 * 1024 })
  const handle = createHttpIntakeHandler(intake, log, { maxBodyBytes, sendTimeoutMs, authenticator: openAuthenticator, limits })
  return { intake, handle, sent }
}

const now = Date.now()

/** One valid request per protocol, and how that protocol's failure body names its cause. */
interface Protocol {
  name: string
  request(body?: BodyInit, headers?: Record<string, string>): Request
  validBody: string
  /** The error's code as this protocol's body says it (read from the parsed answer). */
  failure(response: Response): Promise<{ says: string; message: string }>
  ok: number
}

const post =
  (path: string, contentType: string) =>
  (body: BodyInit | undefined, headers: Record<string, string> = {}) =>
    new Request(`http://127.0.0.1${path}`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } })

const ES_TYPES: Record<string, string> = {
  es_rejected_execution_exception: ErrorCodes.INGEST_OVERLOADED,
  unavailable_shards_exception: ErrorCodes.KAFKA_UNAVAILABLE,
  content_too_long_exception: ErrorCodes.REQUEST_TOO_LARGE,
  illegal_argument_exception: ErrorCodes.REQUEST_INVALID,
}
const GRPC_CODES: Record<number, string> = { 8: 'RESOURCE_EXHAUSTED', 14: 'UNAVAILABLE', 3: 'INVALID_ARGUMENT' }

const protocols: Protocol[] = [
  {
    name: 'OTLP/HTTP JSON',
    request: (body = protocols[0]!.validBody, headers) => post('/v1/logs', 'application/json')(body, headers),
    validBody: JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'otlp-svc' } }] },
          scopeLogs: [{ logRecords: [{ timeUnixNano: `${now}000000`, severityNumber: 9, body: { stringValue: 'otlp line' } }] }],
        },
      ],
    }),
    // google.rpc.Status in OTLP/JSON: the gRPC code and the message.
    async failure(response) {
      const body = (await response.json()) as { code: number; message: string }
      return { says: GRPC_CODES[body.code] ?? `code ${body.code}`, message: body.message }
    },
    ok: 200,
  },
  {
    name: 'Loki push (JSON)',
    request: (body = protocols[1]!.validBody, headers) => post('/loki/api/v1/push', 'application/json')(body, headers),
    validBody: JSON.stringify({ streams: [{ stream: { service_name: 'loki-svc' }, values: [[`${now}000000`, 'loki line']] }] }),
    // Loki answers failures as plain text.
    async failure(response) {
      expect(response.headers.get('content-type')).toStartWith('text/plain')
      const text = await response.text()
      return { says: 'text', message: text }
    },
    ok: 204,
  },
  {
    name: 'Elasticsearch bulk',
    request: (body = protocols[2]!.validBody, headers) => post('/_bulk', 'application/x-ndjson')(body, headers),
    validBody: `${JSON.stringify({ create: { _index: 'logs' } })}\n${JSON.stringify({ message: 'es line', 'service.name': 'es-svc' })}\n`,
    // Elasticsearch's error shape: {error:{root_cause,type,reason},status}, with the product header.
    async failure(response) {
      expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch')
      const body = (await response.json()) as { error: { type: string; reason: string; root_cause: unknown[] }; status: number }
      expect(body.status).toBe(response.status)
      expect(body.error.root_cause).toEqual([{ type: body.error.type, reason: body.error.reason }])
      return { says: ES_TYPES[body.error.type] ?? body.error.type, message: body.error.reason }
    },
    ok: 200,
  },
  {
    name: 'JSON lines',
    request: (body = protocols[3]!.validBody, headers) => post('/jsonlines', 'application/x-ndjson')(body, headers),
    validBody: `${JSON.stringify({ message: 'json line', service: 'jl-svc' })}\n`,
    async failure(response) {
      const body = (await response.json()) as { error: string; message: string }
      return { says: body.error, message: body.message }
    },
    ok: 200,
  },
]

/** What each protocol's body says for each of our error codes (Loki's plain text says only the message). */
function expected(protocol: Protocol, code: string): string {
  if (protocol.name.startsWith('Loki')) return 'text'
  if (protocol.name.startsWith('OTLP')) {
    const grpc: Record<string, string> = {
      [ErrorCodes.KAFKA_UNAVAILABLE]: 'UNAVAILABLE',
      [ErrorCodes.INGEST_OVERLOADED]: 'RESOURCE_EXHAUSTED',
      [ErrorCodes.REQUEST_TOO_LARGE]: 'RESOURCE_EXHAUSTED',
    }
    return grpc[code]!
  }
  return code
}

/** Holds the intake's budget of accepted entries: one accept that the producer never acknowledges. */
async function holdAcceptedBudget(intake: Intake) {
  const entry = { input: { timestamp: { seconds: Math.floor(now / 1000), nanos: 0 }, service: 'holder', level: 'INFO', message: 'held' } }
  void intake.accept([entry], { timeoutMs: 60_000 }).catch(() => {})
  const deadline = Date.now() + 2000
  while (intake.stats.heldBytes === 0) {
    if (Date.now() > deadline) throw new Error('the holding request never reached the budget')
    await Bun.sleep(1)
  }
}

for (const protocol of protocols) {
  describe(`${protocol.name}: transient failures are retryable answers, never 400`, () => {
    test('a valid request is stored and answered as the protocol says success', async () => {
      const { handle, sent } = handlerWith()
      const response = await handle(protocol.request())
      expect(response.status).toBe(protocol.ok)
      expect(sent).toHaveLength(1)
    })

    test('Kafka unreachable (the send fails): 503 with Retry-After, in the protocol’s own error body', async () => {
      const { handle, sent } = handlerWith({ behaviour: 'fails' })
      const response = await handle(protocol.request())
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      const { says, message } = await protocol.failure(response)
      expect(says).toBe(expected(protocol, ErrorCodes.KAFKA_UNAVAILABLE))
      expect(message).toContain('unreachable')
      expect(sent).toHaveLength(1)
    })

    test('Kafka does not acknowledge within the send timeout: 503 with Retry-After', async () => {
      const { handle } = handlerWith({ behaviour: 'holds', sendTimeoutMs: 30 })
      const response = await handle(protocol.request())
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      expect((await protocol.failure(response)).says).toBe(expected(protocol, ErrorCodes.KAFKA_UNAVAILABLE))
    })

    test('the budget of accepted logs awaiting Kafka is full: 429 with Retry-After, and nothing more is sent', async () => {
      // Room for one entry awaiting Kafka; the held one leaves none for this request.
      const { intake, handle, sent } = handlerWith({ behaviour: 'holds', ingest: { maxPendingBytes: ENTRY_COST_BYTES + 200 } })
      await holdAcceptedBudget(intake)
      const response = await handle(protocol.request())
      expect(response.status).toBe(429)
      expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      const { says, message } = await protocol.failure(response)
      expect(says).toBe(expected(protocol, ErrorCodes.INGEST_OVERLOADED))
      expect(message).toContain('retry')
      expect(sent).toHaveLength(1)
    })

    test('a body over maxBodyBytes, declared or streamed: 413 without Retry-After', async () => {
      const { handle, sent } = handlerWith({ maxBodyBytes: 4096 })
      const big = 'x'.repeat(10_000)
      const declared = await handle(protocol.request(big, { 'content-length': String(big.length) }))
      expect(declared.status).toBe(413)
      expect(declared.headers.get('retry-after')).toBeNull()
      expect((await protocol.failure(declared)).says).toBe(expected(protocol, ErrorCodes.REQUEST_TOO_LARGE))

      const chunks = [new TextEncoder().encode(big.slice(0, 3000)), new TextEncoder().encode(big.slice(3000))]
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const chunk = chunks.shift()
          if (chunk) controller.enqueue(chunk)
          else controller.close()
        },
      })
      const streamed = await handle(protocol.request(stream))
      expect(streamed.status).toBe(413)
      expect((await protocol.failure(streamed)).says).toBe(expected(protocol, ErrorCodes.REQUEST_TOO_LARGE))
      expect(sent).toHaveLength(0)
    })

    test('a small gzip body that expands past maxBodyBytes: 413, not decoded whole', async () => {
      const { handle, sent } = handlerWith({ maxBodyBytes: 64 * 1024 })
      const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, ' '))
      expect(bomb.byteLength).toBeLessThan(64 * 1024)
      const response = await handle(protocol.request(bomb, { 'content-encoding': 'gzip' }))
      expect(response.status).toBe(413)
      const { says, message } = await protocol.failure(response)
      expect(says).toBe(expected(protocol, ErrorCodes.REQUEST_TOO_LARGE))
      expect(message).toContain('gzip')
      expect(sent).toHaveLength(0)
    })

    test('after each failure the same handler serves the next request', async () => {
      const { handle } = handlerWith({ maxBodyBytes: 4096 })
      expect((await handle(protocol.request('y'.repeat(5000)))).status).toBe(413)
      expect((await handle(protocol.request())).status).toBe(protocol.ok)
    })
  })
}

describe('an entry older than the retention window beside a good one: the good one is stored, the old one refused naming RETENTION_DAYS', () => {
  const oldMs = now - 8 * 86_400_000 // RETENTION_DAYS=7
  const oldIso = new Date(oldMs).toISOString()
  const cases: { name: string; request: Request; status: number }[] = [
    {
      name: 'OTLP/HTTP JSON (partial_success)',
      request: post(
        '/v1/logs',
        'application/json',
      )(
        JSON.stringify({
          resourceLogs: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'otlp-svc' } }] },
              scopeLogs: [
                {
                  logRecords: [
                    { timeUnixNano: `${oldMs}000000`, body: { stringValue: 'old' } },
                    { timeUnixNano: `${now}000000`, body: { stringValue: 'new' } },
                  ],
                },
              ],
            },
          ],
        }),
      ),
      status: 200,
    },
    {
      name: 'Loki push (JSON): 400 naming the entry, the good one stored',
      request: post(
        '/loki/api/v1/push',
        'application/json',
      )(
        JSON.stringify({
          streams: [
            {
              stream: { service_name: 'loki-svc' },
              values: [
                [`${oldMs}000000`, 'old'],
                [`${now}000000`, 'new'],
              ],
            },
          ],
        }),
      ),
      status: 400,
    },
    {
      name: 'Elasticsearch bulk (the item 400)',
      request: post(
        '/_bulk',
        'application/x-ndjson',
      )(
        `${[{ create: {} }, { message: 'old', 'service.name': 'es-svc', '@timestamp': oldIso }, { create: {} }, { message: 'new', 'service.name': 'es-svc' }].map((line) => JSON.stringify(line)).join('\n')}\n`,
      ),
      status: 200,
    },
    {
      name: 'JSON lines (the rejected line)',
      request: post(
        '/jsonlines',
        'application/x-ndjson',
      )(`${JSON.stringify({ message: 'old', service: 'jl-svc', timestamp: oldIso })}\n${JSON.stringify({ message: 'new', service: 'jl-svc' })}\n`),
      status: 200,
    },
  ]
  for (const { name, request, status } of cases) {
    test(name, async () => {
      const { handle, sent } = handlerWith()
      const response = await handle(request)
      expect(response.status).toBe(status)
      expect(await response.text()).toContain('(RETENTION_DAYS=7); the next retention pass would delete it')
      expect(sent).toHaveLength(1)
    })
  }
})

describe('the read budget', () => {
  test(`a request that finds no room within ${RESERVE_WAIT_MS} ms is refused with 429 and Retry-After, unread; room back, the next is served`, async () => {
    const { intake, handle } = handlerWith({ ingest: { maxPendingBytes: 1024 * 1024 } })
    const held = await intake.reserve(1024 * 1024)
    const loki = protocols[1]!
    const began = performance.now()
    const response = await handle(loki.request())
    expect(performance.now() - began).toBeGreaterThanOrEqual(RESERVE_WAIT_MS - 50)
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
    expect(await response.text()).toContain('holding')
    held.release()
    expect((await handle(loki.request())).status).toBe(204)
    expect(intake.stats.reservedBytes).toBe(0)
  })
})

describe('snappy decoding within the read budget', () => {
  /** A snappy block of `length` zero bytes: one literal, then 64-byte back-references (small on the wire). */
  function zerosSnappy(length: number): Uint8Array {
    const header: number[] = []
    for (let n = length; ; n = Math.floor(n / 128)) {
      if (n < 128) {
        header.push(n)
        break
      }
      header.push((n % 128) | 128)
    }
    const body: number[] = [0, 0] // a 1-byte literal: 0
    for (let left = length - 1; left > 0; left -= 64) body.push(((Math.min(64, left) - 1) << 2) | 2, 1, 0)
    return new Uint8Array([...header, ...body])
  }

  test('a push that would decode past the room left is refused with 429 before it is decoded', async () => {
    // A 2 MiB budget with 1.2 MiB held: the compressed body fits, its 900 kB decoded form does not.
    const { intake, handle } = handlerWith({ ingest: { maxPendingBytes: 2 * 1024 * 1024 }, maxBodyBytes: 1024 * 1024 })
    const held = await intake.reserve(1.2 * 1024 * 1024)
    const body = Buffer.from(zerosSnappy(900 * 1024))
    expect(body.byteLength).toBeLessThan(64 * 1024)
    const headers = { 'content-type': 'application/x-protobuf', 'content-length': String(body.byteLength) }
    const response = await handle(new Request('http://127.0.0.1/loki/api/v1/push', { method: 'POST', body, headers }))
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
    expect(await response.text()).toContain('holding as many request bytes')
    held.release()
    expect(intake.stats.reservedBytes).toBe(0)
  })
})
