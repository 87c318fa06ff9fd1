import { describe, expect, test } from 'bun:test'
import { decodeLogRecord, encodeLogRecord } from '../../../src/lib/codec.ts'
import type { Config } from '../../../src/lib/config.ts'
import { ErrorCodes, IngestOverloadedError, IngestShuttingDownError, KafkaUnavailableError, RequestInvalidError } from '../../../src/lib/errors.ts'
import { createIntake, ENTRY_COST_BYTES, type IntakeEntry, NoValidLogsError, RESERVE_WAIT_MS } from '../../../src/lib/intake.ts'
import { createLogger } from '../../../src/lib/log.ts'
import type { LogProducer, OutgoingMessage } from '../../../src/lib/producer.ts'
import { decodeIngestRequest, encodeIngestRequest } from '../../../src/lib/proto.ts'
import { testIngestSettings } from '../../support/intake-settings.ts'

const log = createLogger({ service: 'intake-test' }, { level: 'error' })

const settings = testIngestSettings

/** A producer the test controls: each send is recorded and settles only when the test says so. */
function heldProducer() {
  const sends: { messages: OutgoingMessage[]; resolve(): void; reject(error: unknown): void }[] = []
  const producer: LogProducer = {
    send(messages) {
      const { promise, resolve, reject } = Promise.withResolvers<void>()
      sends.push({ messages, resolve, reject })
      return promise
    },
    close: async () => {},
  }
  return { sends, producer }
}

function intakeWith(overrides: Partial<Config['ingest']> = {}) {
  const { sends, producer } = heldProducer()
  const intake = createIntake({ ingest: { ...settings, ...overrides }, retentionDays: 7 }, { producer, log })
  return { sends, intake }
}

// A minute ago: recent enough for the retention window and the future skew whatever day the tests run.
const RECENT_SECONDS = Math.floor(Date.now() / 1000) - 60
const valid = { timestamp: { seconds: RECENT_SECONDS, nanos: 0 }, service: 'api', level: 'INFO', message: 'hello' }
const entry = (changes: Record<string, unknown> = {}): IntakeEntry => ({ input: { ...valid, ...changes } })
const LONG = { timeoutMs: 60_000 }

/** 'pending' unless the promise settled once pending callbacks have run. */
async function state(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  await new Promise((resolve) => setImmediate(resolve))
  return await Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    Promise.resolve().then(() => 'pending' as const),
  ])
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(2)
  }
}

describe('intake.accept', () => {
  test('resolves only once the producer has acknowledged the batch holding its entries', async () => {
    const { sends, intake } = intakeWith()
    const accepted = intake.accept([entry({ message: 'a' }), entry({ message: 'b' })], LONG)
    await until(() => sends.length === 1, 'the send')
    expect(await state(accepted)).toBe('pending')
    expect(sends[0]!.messages.map((message) => decodeLogRecord(message.value).message)).toEqual(['a', 'b'])
    sends[0]!.resolve()
    expect(await accepted).toEqual({ accepted: 2, rejected: 0, error: '', rejections: [] })
  })

  test('a mixed request: valid entries are sent, each invalid one is reported by index and field', async () => {
    const { sends, intake } = intakeWith()
    const accepted = intake.accept([entry(), entry({ level: 'LOUD' }), entry({ message: 'kept' }), entry({ service: '' })], LONG)
    await until(() => sends.length === 1, 'the send')
    expect(sends[0]!.messages).toHaveLength(2)
    sends[0]!.resolve()
    const response = await accepted
    expect(response).toMatchObject({ accepted: 2, rejected: 2 })
    expect(response.rejections.map(({ index, field }) => ({ index, field }))).toEqual([
      { index: 1, field: 'level' },
      { index: 3, field: 'service' },
    ])
    expect(response.error).toStartWith('2 of 4 logs rejected: logs[1].level')
  })

  test('an entry older than the retention window or too far ahead is refused by index with the limit named; the rest are sent', async () => {
    const { sends, intake } = intakeWith()
    // From the time of this test, not of the file's loading: under load that can be seconds earlier.
    const nowSeconds = Math.floor(Date.now() / 1000)
    const old = { seconds: nowSeconds - 8 * 86_400, nanos: 0 } // RETENTION_DAYS=7
    const ahead = { seconds: nowSeconds + 600 + 60, nanos: 0 } // INGEST_MAX_FUTURE_SECONDS=600, a minute past it
    const accepted = intake.accept([entry({ timestamp: old }), entry(), entry({ timestamp: ahead }), entry({ timestamp: null })], LONG)
    await until(() => sends.length === 1, 'the send')
    expect(sends[0]!.messages).toHaveLength(2)
    sends[0]!.resolve()
    const response = await accepted
    expect(response).toMatchObject({ accepted: 2, rejected: 2 })
    expect(response.rejections.map(({ index, field }) => ({ index, field }))).toEqual([
      { index: 0, field: 'timestamp' },
      { index: 2, field: 'timestamp' },
    ])
    expect(response.rejections[0]!.reason).toContain('RETENTION_DAYS=7')
    expect(response.rejections[1]!.reason).toContain('INGEST_MAX_FUTURE_SECONDS=600')
  })

  test('no valid entry: RequestInvalidError carrying the full response, and nothing is sent', async () => {
    const { sends, intake } = intakeWith()
    const error = await intake
      .accept([entry({ service: '' }), entry({ metadata: '[1]' }), entry({ trace_id: 'x' }), entry({ message: '' })], LONG)
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(NoValidLogsError)
    expect(error).toBeInstanceOf(RequestInvalidError)
    const refused = error as NoValidLogsError
    expect(refused.code).toBe(ErrorCodes.REQUEST_INVALID)
    expect(refused.message).toContain('logs[0].service is required')
    expect(refused.message).toContain('and 1 more')
    expect(refused.response).toMatchObject({ accepted: 0, rejected: 4 })
    expect(refused.response.rejections.map((item) => item.field)).toEqual(['service', 'metadata', 'trace_id', 'message'])
    expect(sends).toHaveLength(0)
  })

  test('no entries at all: RequestInvalidError', async () => {
    const { intake } = intakeWith()
    const error = await intake.accept([], LONG).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(RequestInvalidError)
    expect(error).not.toBeInstanceOf(NoValidLogsError)
  })

  test('a failed send rejects the caller with KafkaUnavailableError', async () => {
    const { sends, intake } = intakeWith()
    const accepted = intake.accept([entry()], LONG)
    await until(() => sends.length === 1, 'the send')
    sends[0]!.reject(new KafkaUnavailableError('broker down'))
    const error = await accepted.catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(KafkaUnavailableError)
    expect((error as KafkaUnavailableError).retryable).toBe(true)
  })

  test('no acknowledgement within timeoutMs: KafkaUnavailableError', async () => {
    const { intake } = intakeWith()
    const error = await intake.accept([entry()], { timeoutMs: 20 }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(KafkaUnavailableError)
  })

  test('past maxPendingBytes of accepted entries awaiting Kafka, a call fails at once with IngestOverloadedError, before validation', async () => {
    const { sends, intake } = intakeWith({ maxPendingBytes: 4 * ENTRY_COST_BYTES })
    const first = intake.accept([entry(), entry(), entry()], LONG)
    await until(() => sends.length === 1, 'the send')
    // An invalid entry would be RequestInvalidError if it were validated: overload is decided first.
    const error = await intake.accept([entry(), entry({ service: '' })], LONG).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(IngestOverloadedError)
    expect((error as IngestOverloadedError).retryable).toBe(true)
    sends[0]!.resolve()
    await first
    expect(intake.stats.heldBytes).toBe(0)
    const later = intake.accept([entry(), entry()], LONG)
    await until(() => sends.length === 2, 'the second send')
    sends[1]!.resolve()
    expect((await later).accepted).toBe(2)
  })

  test('one request larger than maxPendingBytes is still taken when nothing else is held', async () => {
    const { sends, intake } = intakeWith({ maxPendingBytes: 1024 })
    const accepted = intake.accept([entry(), entry(), entry()], LONG)
    await until(() => sends.length === 1, 'the send')
    sends[0]!.resolve()
    expect((await accepted).accepted).toBe(3)
  })

  test('an entry sent canonical goes to Kafka as its original bytes; another is re-encoded normalised', async () => {
    const { sends, intake } = intakeWith()
    const canonical = { timestamp: { seconds: RECENT_SECONDS, nanos: 5000 }, service: 'api', level: 'WARN', message: 'as sent', metadata: '{}' }
    const loose = { ...canonical, level: 'warning', metadata: '' }
    const request = decodeIngestRequest(encodeIngestRequest({ logs: [canonical, loose] }))
    const accepted = intake.accept(request.logs, LONG)
    await until(() => sends.length === 1, 'the send')
    const [first, second] = sends[0]!.messages
    expect(first!.value.buffer).toBe(request.logs[0]!.bytes.buffer)
    expect(second!.value.buffer).not.toBe(request.logs[1]!.bytes.buffer)
    expect(decodeLogRecord(second!.value)).toMatchObject({ level: 'WARN', metadata: '{}' })
    expect(Buffer.from(second!.value)).toEqual(Buffer.from(encodeLogRecord(decodeLogRecord(second!.value))))
    sends[0]!.resolve()
    await accepted
  })

  test("a client's bytes claiming the server's timestamp are re-encoded without the claim, so its entry keeps its content key", async () => {
    const { sends, intake } = intakeWith()
    const claiming = {
      timestamp: { seconds: RECENT_SECONDS, nanos: 5000 },
      service: 'api',
      level: 'WARN',
      message: 'as sent',
      metadata: '{}',
      timestamp_from_server: true,
    }
    const request = decodeIngestRequest(encodeIngestRequest({ logs: [claiming] }))
    const accepted = intake.accept(request.logs, LONG)
    await until(() => sends.length === 1, 'the send')
    const [sent] = sends[0]!.messages
    expect(sent!.value.buffer).not.toBe(request.logs[0]!.bytes.buffer)
    expect(decodeLogRecord(sent!.value).timestampFromServer).toBeUndefined()
    sends[0]!.resolve()
    await accepted
  })

  test('an entry without a timestamp reaches Kafka flagged as timestamped by the server', async () => {
    const { sends, intake } = intakeWith()
    const accepted = intake.accept([entry({ timestamp: undefined })], LONG)
    await until(() => sends.length === 1, 'the send')
    expect(decodeLogRecord(sends[0]!.messages[0]!.value).timestampFromServer).toBe(true)
    sends[0]!.resolve()
    await accepted
  })

  test("an entry sent canonical without a timestamp goes to Kafka as its original bytes followed by the server's time", async () => {
    const { sends, intake } = intakeWith()
    const untimed = { service: 'api', level: 'WARN', message: 'as sent', metadata: '{}' }
    const request = decodeIngestRequest(encodeIngestRequest({ logs: [untimed, { ...untimed, level: 'warning' }] }))
    const before = Date.now() * 1000
    const accepted = intake.accept(request.logs, LONG)
    await until(() => sends.length === 1, 'the send')
    const [canonical, loose] = sends[0]!.messages
    const sent = request.logs[0]!.bytes
    expect(Buffer.from(canonical!.value.subarray(0, sent.length))).toEqual(Buffer.from(sent))
    const record = decodeLogRecord(canonical!.value)
    expect(record).toMatchObject({ service: 'api', level: 'WARN', message: 'as sent', timestampFromServer: true })
    expect(record.timestampMicros).toBeGreaterThanOrEqual(before)
    expect(record.timestampMicros).toBeLessThanOrEqual(Date.now() * 1000)
    expect(decodeLogRecord(loose!.value)).toMatchObject({ level: 'WARN', timestampFromServer: true })
    sends[0]!.resolve()
    await accepted
  })

  test('an aborted caller is rejected with the signal reason', async () => {
    const { intake } = intakeWith({ lingerMs: 60_000, batchMaxCount: 100 })
    const controller = new AbortController()
    const accepted = intake.accept([entry()], { timeoutMs: 60_000, signal: controller.signal })
    controller.abort(new Error('client went away'))
    await expect(accepted).rejects.toThrow('client went away')
  })

  test('close sends what is queued, answers its callers, then refuses new work with IngestShuttingDownError', async () => {
    const { sends, intake } = intakeWith({ lingerMs: 60_000, batchMaxCount: 100 })
    const queued = intake.accept([entry()], LONG)
    const closed = intake.close()
    await until(() => sends.length === 1, 'the flush')
    sends[0]!.resolve()
    await closed
    expect((await queued).accepted).toBe(1)
    await expect(intake.accept([entry()], LONG)).rejects.toBeInstanceOf(IngestShuttingDownError)
    await expect(intake.reserve(10)).rejects.toBeInstanceOf(IngestShuttingDownError)
  })
})

describe('intake.reserve', () => {
  test('a request that does not fit waits for room, first come first served, and gets it when room comes back', async () => {
    const { intake } = intakeWith({ maxPendingBytes: 100 })
    const first = await intake.reserve(60)
    const order: string[] = []
    const second = intake.reserve(60).then((reservation) => {
      order.push('second')
      return reservation
    })
    const third = intake.reserve(30).then((reservation) => {
      order.push('third')
      return reservation
    })
    await Bun.sleep(0)
    expect(order).toEqual([])
    first.resize(10)
    const [b, c] = await Promise.all([second, third])
    expect(order).toEqual(['second', 'third'])
    expect(intake.stats.reservedBytes).toBe(100)
    first.release()
    first.release()
    b.release()
    c.release()
    expect(intake.stats.reservedBytes).toBe(0)
  })

  test(`refuses a request that found no room within ${RESERVE_WAIT_MS} ms with IngestOverloadedError`, async () => {
    const { intake } = intakeWith({ maxPendingBytes: 100 })
    const first = await intake.reserve(100)
    await expect(intake.reserve(1)).rejects.toBeInstanceOf(IngestOverloadedError)
    first.release()
    ;(await intake.reserve(100)).release()
  })

  test('refuses to start reading a request while accepted entries leave no room for it', async () => {
    const { sends, intake } = intakeWith({ maxPendingBytes: 4 * ENTRY_COST_BYTES })
    const held = intake.accept([entry(), entry(), entry()], LONG)
    await until(() => sends.length === 1, 'the send')
    await expect(intake.reserve(2 * ENTRY_COST_BYTES)).rejects.toBeInstanceOf(IngestOverloadedError)
    sends[0]!.resolve()
    await held
    ;(await intake.reserve(2 * ENTRY_COST_BYTES)).release()
  })
})
