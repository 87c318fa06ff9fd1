import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Readable } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { HealthImplementation } from 'grpc-health-check'
import { validateEntry, type LogEntryInput } from '../../../src/lib/log-entry.ts'
import { checkHealth, entryFromJson, itemFromLine, itemsFromArgs, itemsFromLines, sendLogs, succeeded, type InputItem, type WireEntry } from '../../../src/lib/sender.ts'

/**
 * A stand-in for the ingest service on port 0, implementing the same proto and the same validation rules,
 * so the sender's parsing, batching and tallying are checked without Kafka.
 */
interface FakeIngest {
  address: string
  requests: WireEntry[][]
  /** Calls still to be refused as a whole with this status before the server answers normally. */
  refuse: { code: grpc.status; remaining: number }
  stop(): Promise<void>
}

async function startFakeIngest(options: { health?: HealthImplementation } = {}): Promise<FakeIngest> {
  const definition = protoLoader.loadSync(new URL('../../proto/logs.proto', import.meta.url).pathname, { keepCase: true, longs: String, enums: String, defaults: true })
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { logstream: { LogIngestion: grpc.ServiceClientConstructor } }
  const server = new grpc.Server()
  const fake: FakeIngest = {
    address: '',
    requests: [],
    refuse: { code: grpc.status.OK, remaining: 0 },
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  }
  server.addService(pkg.logstream.LogIngestion.service, {
    Ingest: (call: grpc.ServerUnaryCall<{ logs: LogEntryInput[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (fake.refuse.remaining > 0) {
        fake.refuse.remaining -= 1
        callback({ code: fake.refuse.code, details: 'busy' })
        return
      }
      fake.requests.push(call.request.logs as WireEntry[])
      const rejections = call.request.logs.flatMap((entry, index) => {
        const result = validateEntry(entry)
        return result.ok ? [] : [{ index, ...result.violation }]
      })
      const response = {
        accepted: call.request.logs.length - rejections.length,
        rejected: rejections.length,
        error: rejections.length ? `${rejections.length} rejected` : '',
        rejections,
      }
      if (response.accepted > 0) return callback(null, response)
      // As the ingest service does: a batch with no valid entry is refused, described in a binary trailer.
      const metadata = new grpc.Metadata()
      metadata.set('logstream-ingest-response-bin', pkg.logstream.LogIngestion.service.Ingest!.responseSerialize(response))
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'no valid logs', metadata })
    },
  })
  options.health?.addToServer(server)
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  )
  fake.address = `127.0.0.1:${port}`
  return fake
}

const entry = (message: string): InputItem => ({ source: message, entry: { service: 'api', level: 'INFO', message } })

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

describe('sendLogs', () => {
  let fake: FakeIngest
  beforeAll(async () => {
    fake = await startFakeIngest()
  })
  afterAll(() => fake.stop())

  test('splits the input into batches of batchSize', async () => {
    fake.requests = []
    const items = Array.from({ length: 7 }, (_, index) => entry(`m${index}`))
    const summary = await sendLogs(items, { address: fake.address, batchSize: 3 })
    expect(fake.requests.map((request) => request.length).sort()).toEqual([1, 3, 3])
    expect(summary).toMatchObject({ sent: 7, accepted: 7, rejected: 0, failed: 0, batches: 3 })
    expect(succeeded(summary)).toBe(true)
  })

  test('starts a new batch before batchMaxBytes would be exceeded', async () => {
    fake.requests = []
    const items = Array.from({ length: 4 }, (_, index) => entry(`${index}`.padEnd(600, 'x')))
    await sendLogs(items, { address: fake.address, batchSize: 100, batchMaxBytes: 1400 })
    expect(fake.requests.map((request) => request.length)).toEqual([2, 2])
  })

  test('reports each server rejection with the source of the rejected entry', async () => {
    const items: InputItem[] = [entry('fine'), { source: 'file:2', entry: { service: 'api', level: 'LOUD', message: 'x' } }]
    const summary = await sendLogs(items, { address: fake.address })
    expect(summary).toMatchObject({ sent: 2, accepted: 1, rejected: 1, failed: 0 })
    expect(summary.rejections).toEqual([{ source: 'file:2', field: 'level', reason: expect.stringContaining('LOUD') }])
    expect(succeeded(summary)).toBe(false)
  })

  test('reports each entry of a batch the server refuses as a whole for having no valid entry', async () => {
    const items: InputItem[] = [
      { source: 'stdin:1', entry: { service: 'api', level: 'INFO', message: '' } },
      { source: 'stdin:2', entry: { level: 'INFO', message: 'no service' } },
    ]
    const summary = await sendLogs(items, { address: fake.address })
    expect(summary).toMatchObject({ sent: 2, accepted: 0, rejected: 2, failed: 0 })
    expect(summary.rejections).toEqual([
      { source: 'stdin:1', field: 'message', reason: 'is required' },
      { source: 'stdin:2', field: 'service', reason: 'is required' },
    ])
  })

  test('counts unparsable input as rejected without sending it', async () => {
    fake.requests = []
    const summary = await sendLogs([entry('ok'), { source: 'stdin:2', problem: { field: 'entry', reason: 'not valid JSON' } }], { address: fake.address })
    expect(summary).toMatchObject({ sent: 1, accepted: 1, rejected: 1 })
    expect(fake.requests.flat()).toHaveLength(1)
  })

  test('retries a batch refused with RESOURCE_EXHAUSTED', async () => {
    fake.refuse = { code: grpc.status.RESOURCE_EXHAUSTED, remaining: 2 }
    const summary = await sendLogs([entry('patient')], { address: fake.address, retries: 3 })
    expect(summary).toMatchObject({ accepted: 1, failed: 0 })
  })

  test('counts a batch as failed once retries are exhausted', async () => {
    fake.refuse = { code: grpc.status.UNAVAILABLE, remaining: 2 }
    const summary = await sendLogs([entry('a'), entry('b')], { address: fake.address, retries: 1 })
    fake.refuse.remaining = 0
    expect(summary).toMatchObject({ sent: 2, accepted: 0, failed: 2 })
    expect(summary.errors).toEqual([expect.stringContaining('UNAVAILABLE')])
  })

  test('counts every entry as failed when no server listens', async () => {
    const summary = await sendLogs([entry('lost')], { address: '127.0.0.1:1', retries: 0, timeoutMs: 2000 })
    expect(summary).toMatchObject({ sent: 1, accepted: 0, failed: 1 })
    expect(succeeded(summary)).toBe(false)
  })
})

describe('checkHealth', () => {
  test('is ok when the health service reports SERVING', async () => {
    const fake = await startFakeIngest({ health: new HealthImplementation({ '': 'SERVING' }) })
    try {
      expect(await checkHealth(fake.address)).toEqual({ ok: true, status: 'SERVING' })
    } finally {
      await fake.stop()
    }
  })

  test('is not ok when the health service reports NOT_SERVING', async () => {
    const fake = await startFakeIngest({ health: new HealthImplementation({ '': 'NOT_SERVING' }) })
    try {
      expect(await checkHealth(fake.address)).toEqual({ ok: false, status: 'NOT_SERVING' })
    } finally {
      await fake.stop()
    }
  })

  test('asks for logstream.LogIngestion when the server reports no overall status', async () => {
    const fake = await startFakeIngest({ health: new HealthImplementation({ 'logstream.LogIngestion': 'SERVING' }) })
    try {
      expect(await checkHealth(fake.address)).toEqual({ ok: true, status: 'SERVING' })
    } finally {
      await fake.stop()
    }
  })

  test('is not ok when nothing listens', async () => {
    expect((await checkHealth('127.0.0.1:1', { timeoutMs: 2000 })).ok).toBe(false)
  })
})
