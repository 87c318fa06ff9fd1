import { describe, expect, test } from 'bun:test'
import { Readable } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import { HealthImplementation } from 'grpc-health-check'
import { ERROR_CODE_METADATA } from '../../../src/lib/proto.ts'
import { checkHealth, entryFromJson, isRetryableRefusal, itemFromLine, itemsFromArgs, itemsFromLines } from '../../../src/lib/sender.ts'

/**
 * The sender's own logic: turning input into LogEntry messages, which refusals it retries, and the health
 * check (against the real grpc.health.v1 implementation on port 0). Sending is tested against the real
 * ingest service in tests/integration/lib/sender.test.ts.
 */

/** A gRPC server with only the standard health service, reporting `statuses`. */
async function healthServer(statuses: Record<string, 'SERVING' | 'NOT_SERVING'>) {
  const server = new grpc.Server()
  new HealthImplementation(statuses).addToServer(server)
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  )
  return { address: `127.0.0.1:${port}`, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) }
}

function refusal(code: grpc.status, errorCode?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata()
  if (errorCode) metadata.set(ERROR_CODE_METADATA, errorCode)
  return Object.assign(new Error('refused'), { code, details: 'refused', metadata })
}

describe('entryFromJson', () => {
  test('maps proto field names and camelCase aliases to a LogEntry', () => {
    const result = entryFromJson({ service: 'api', severity: 'warn', msg: 'hi', traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), hostname: 'h1' })
    expect(result).toEqual({ service: 'api', level: 'warn', message: 'hi', trace_id: 'ab'.repeat(16), span_id: 'cd'.repeat(8), host: 'h1', tags: [] })
  })

  test('sends metadata given as an object as JSON text', () => {
    expect(entryFromJson({ message: 'm', metadata: { user_id: 7 } })).toMatchObject({ metadata: '{"user_id":7}' })
  })

  test('splits tags given as "a,b" and prepends default tags', () => {
    expect(entryFromJson({ message: 'm', tags: 'a, b' }, { tags: ['cli'] })).toMatchObject({ tags: ['cli', 'a', 'b'] })
  })

  test('keeps an RFC 3339 timestamp to the nanosecond', () => {
    expect(entryFromJson({ message: 'm', timestamp: '2024-11-06T12:00:00.123456789Z' })).toMatchObject({
      timestamp: { seconds: String(Date.parse('2024-11-06T12:00:00Z') / 1000), nanos: 123_456_789 },
    })
  })

  test('reads a numeric timestamp as epoch milliseconds', () => {
    expect(entryFromJson({ message: 'm', timestamp: 1_730_894_400_250 })).toMatchObject({ timestamp: { seconds: '1730894400', nanos: 250_000_000 } })
  })

  test('reports an unparsable timestamp as a problem with the timestamp field', () => {
    expect(entryFromJson({ message: 'm', timestamp: 'yesterday' })).toMatchObject({ field: 'timestamp' })
  })

  test('fills service and level from defaults only where the entry has none', () => {
    expect(entryFromJson({ service: 'own', message: 'm' }, { service: 'default', level: 'ERROR' })).toMatchObject({ service: 'own', level: 'ERROR' })
  })

  test('keeps every field it does not map in metadata, so nothing sent is lost', () => {
    expect(entryFromJson({ service: 'web', level: 'error', msg: 'x', user: 'u1' })).toEqual({
      service: 'web',
      level: 'error',
      message: 'x',
      metadata: '{"user":"u1"}',
      tags: [],
    })
    expect(JSON.parse((entryFromJson({ message: 'm', metadata: { a: 1 }, request: { id: 2 } }) as { metadata: string }).metadata)).toEqual({
      a: 1,
      request: { id: 2 },
    })
  })

  test('a log that names no service or level gets the defaults every intake uses', () => {
    expect(entryFromJson({ message: 'm' })).toMatchObject({ service: 'unknown_service', level: 'INFO' })
  })

  test('refuses a JSON value that is not an object', () => {
    expect(entryFromJson([1, 2])).toEqual({ field: 'entry', reason: 'must be a JSON object' })
  })
})

describe('input', () => {
  test('a line that is not JSON becomes a problem naming its source', () => {
    expect(itemFromLine('{oops', 'file:3')).toMatchObject({ source: 'file:3', problem: { field: 'entry' } })
  })

  test('blank lines yield nothing', () => {
    expect(itemFromLine('   ', 'file:1')).toBeUndefined()
  })

  test('text arguments become messages and JSON arguments become entries', () => {
    const items = [...itemsFromArgs(['plain text', '{"service":"web","level":"ERROR","message":"boom"}'], { service: 'cli', level: 'INFO' })]
    expect(items).toEqual([
      { source: 'argument 1', entry: { message: 'plain text', service: 'cli', level: 'INFO', host: undefined, tags: [] } },
      { source: 'argument 2', entry: { service: 'web', level: 'ERROR', message: 'boom', host: undefined, tags: [] } },
    ])
  })

  test('JSON lines from a stream are numbered from 1, skipping nothing but blank lines in the count', async () => {
    const stream = Readable.from(['{"message":"a"}\n', '\n', '{"message":"b"}\n'])
    const items = await Array.fromAsync(itemsFromLines(stream, 'stdin'))
    expect(items.map((item) => item.source)).toEqual(['stdin:1', 'stdin:3'])
  })
})

describe('which refusals are retried', () => {
  test('UNAVAILABLE (server down, Kafka down, shutting down) and RESOURCE_EXHAUSTED for overload are retried', () => {
    expect(isRetryableRefusal(refusal(grpc.status.UNAVAILABLE))).toBe(true)
    expect(isRetryableRefusal(refusal(grpc.status.UNAVAILABLE, 'KAFKA_UNAVAILABLE'))).toBe(true)
    expect(isRetryableRefusal(refusal(grpc.status.RESOURCE_EXHAUSTED, 'INGEST_OVERLOADED'))).toBe(true)
    expect(isRetryableRefusal(refusal(grpc.status.RESOURCE_EXHAUSTED, 'RATE_LIMITED'))).toBe(true)
  })

  test('a refused key is not retried', () => {
    expect(isRetryableRefusal(refusal(grpc.status.UNAUTHENTICATED, 'AUTH_REQUIRED'))).toBe(false)
    expect(isRetryableRefusal(refusal(grpc.status.PERMISSION_DENIED, 'AUTH_FORBIDDEN'))).toBe(false)
  })

  test("RESOURCE_EXHAUSTED without INGEST_OVERLOADED (grpc-js's request size limit) and INVALID_ARGUMENT are not", () => {
    expect(isRetryableRefusal(refusal(grpc.status.RESOURCE_EXHAUSTED))).toBe(false)
    expect(isRetryableRefusal(refusal(grpc.status.INVALID_ARGUMENT, 'REQUEST_INVALID'))).toBe(false)
    expect(isRetryableRefusal(refusal(grpc.status.INTERNAL, 'INTERNAL'))).toBe(false)
  })
})

describe('checkHealth', () => {
  test('is ok when the health service reports SERVING', async () => {
    const server = await healthServer({ '': 'SERVING' })
    try {
      expect(await checkHealth(server.address)).toEqual({ ok: true, status: 'SERVING' })
    } finally {
      await server.stop()
    }
  })

  test('is not ok when the health service reports NOT_SERVING', async () => {
    const server = await healthServer({ '': 'NOT_SERVING' })
    try {
      expect(await checkHealth(server.address)).toEqual({ ok: false, status: 'NOT_SERVING' })
    } finally {
      await server.stop()
    }
  })

  test('asks for logstream.LogIngestion when the server reports no overall status', async () => {
    const server = await healthServer({ 'logstream.LogIngestion': 'SERVING' })
    try {
      expect(await checkHealth(server.address)).toEqual({ ok: true, status: 'SERVING' })
    } finally {
      await server.stop()
    }
  })

  test('is not ok when nothing listens', async () => {
    expect((await checkHealth('127.0.0.1:1', { timeoutMs: 2000 })).ok).toBe(false)
  })
})
