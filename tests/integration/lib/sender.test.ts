import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Config } from '../../../src/lib/config.ts'
import { type IngestServer, startIngestServer } from '../../../src/lib/ingest-server.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { createLogProducer, type LogProducer } from '../../../src/lib/producer.ts'
import { type InputItem, sendLogs, succeeded } from '../../../src/lib/sender.ts'
import { eventually, freshTopics } from '../../support/infra.ts'
import { ingest, ingestClient } from '../../support/ingest-client.ts'
import { readTopic } from '../../support/topic-reader.ts'

/**
 * sendLogs against the real ingest service (in process, on port 0) and a real Kafka topic: batching,
 * per-entry rejections, the refusal of a request with no valid entry (described in the service's response
 * trailer), and retries of the service's overload answer, provoked through its real byte budget.
 */
setDefaultTimeout(30_000)

const topics = await freshTopics()

/** The service's own log events, so a test sees each Ingest call as the service saw it. */
function recordingLogger() {
  const events: Record<string, unknown>[] = []
  const log = createLogger({ service: 'sender-test' }, { level: 'debug', write: (line) => events.push(JSON.parse(line)) })
  const named = (event: string) => events.filter((item) => item.event === event)
  return { log, events, named }
}

/** The real producer, whose sends wait until `release()`: calls then hold the service's budget. */
function gatedProducer(config: Config) {
  const real = createLogProducer({ kafka: config.kafka, sendTimeoutMs: 10_000 })
  let gate = Promise.withResolvers<void>()
  let waiting = 0
  const producer: LogProducer = {
    async send(messages, timeoutMs) {
      waiting += 1
      await gate.promise
      return real.send(messages, timeoutMs)
    },
    close: () => real.close(),
  }
  return {
    producer,
    waiting: () => waiting,
    release: () => gate.resolve(),
    hold: () => {
      gate = Promise.withResolvers<void>()
    },
  }
}

const entry = (message: string, service = 'sender-test'): InputItem => ({ source: message, entry: { service, level: 'INFO', message } })

function withSettings(ingestSettings: Partial<Config['ingest']> = {}, grpcSettings: Partial<Config['grpc']> = {}): Config {
  return {
    ...topics,
    grpc: { ...topics.grpc, host: '127.0.0.1', port: 0, otlpPort: 0, ...grpcSettings },
    intakeHttp: { ...topics.intakeHttp, port: 0 },
    ingest: { ...topics.ingest, ...ingestSettings },
  }
}

describe('sendLogs to the ingest service', () => {
  const recorded = recordingLogger()
  let service: IngestServer
  let address: string
  /** Entries of each Ingest call the service queued for Kafka, in the order they came. */
  const callSizes = () => recorded.named('ingest.queued').map((item) => item.accepted as number)

  beforeAll(async () => {
    service = await startIngestServer(withSettings(), { log: recorded.log })
    address = `127.0.0.1:${service.port}`
  })
  afterAll(() => service?.close())

  test('splits the input into Ingest calls of batchSize entries, and every entry reaches Kafka', async () => {
    recorded.events.length = 0
    const service = `batches-${crypto.randomUUID()}`
    const summary = await sendLogs(
      Array.from({ length: 7 }, (_, index) => entry(`m${index}`, service)),
      { address, batchSize: 3 },
    )
    expect(summary).toMatchObject({ sent: 7, accepted: 7, rejected: 0, failed: 0, batches: 3 })
    expect(succeeded(summary)).toBe(true)
    expect(callSizes().sort()).toEqual([1, 3, 3])
    const stored = await eventually(
      async () => {
        const mine = (await readTopic(topics, 7)).filter((item) => item.key === service)
        return mine.length >= 7 ? mine : undefined
      },
      20_000,
      'the 7 entries in Kafka',
    )
    expect(stored.map((item) => item.record.message).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'])
  })

  test('starts a new call before batchMaxBytes would be exceeded', async () => {
    recorded.events.length = 0
    const items = Array.from({ length: 4 }, (_, index) => entry(`${index}`.padEnd(600, 'x')))
    const summary = await sendLogs(items, { address, batchSize: 100, batchMaxBytes: 1400 })
    expect(summary).toMatchObject({ accepted: 4, batches: 2 })
    expect(callSizes()).toEqual([2, 2])
  })

  test("reports each of the service's rejections with the source of the rejected entry", async () => {
    const items: InputItem[] = [entry('fine'), { source: 'file:2', entry: { service: 'api', level: 'LOUD', message: 'x' } }]
    const summary = await sendLogs(items, { address })
    expect(summary).toMatchObject({ sent: 2, accepted: 1, rejected: 1, failed: 0 })
    expect(summary.rejections).toEqual([{ source: 'file:2', field: 'level', reason: expect.stringContaining('LOUD') }])
    expect(succeeded(summary)).toBe(false)
  })

  test("a call with no valid entry is refused with INVALID_ARGUMENT; each entry is reported from the service's response trailer", async () => {
    const items: InputItem[] = [
      { source: 'stdin:1', entry: { service: 'api', level: 'INFO', message: '' } },
      { source: 'stdin:2', entry: { level: 'INFO', message: 'no service' } },
    ]
    const summary = await sendLogs(items, { address, retries: 3 })
    expect(summary).toMatchObject({ sent: 2, accepted: 0, rejected: 2, failed: 0 })
    // Field and reason per entry exist only in the trailer; without it each entry would be reported as 'request'.
    expect(summary.rejections).toEqual([
      { source: 'stdin:1', field: 'message', reason: 'is required' },
      { source: 'stdin:2', field: 'service', reason: 'is required' },
    ])
  })

  test('counts unparsable input as rejected without sending it', async () => {
    recorded.events.length = 0
    const summary = await sendLogs([entry('ok'), { source: 'stdin:2', problem: { field: 'entry', reason: 'not valid JSON' } }], { address })
    expect(summary).toMatchObject({ sent: 1, accepted: 1, rejected: 1 })
    expect(callSizes()).toEqual([1])
  })

  test('counts every entry as failed when no server listens', async () => {
    const summary = await sendLogs([entry('lost')], { address: '127.0.0.1:1', retries: 0, timeoutMs: 2000 })
    expect(summary).toMatchObject({ sent: 1, accepted: 0, failed: 1 })
    expect(succeeded(summary)).toBe(false)
  })
})

describe('sendLogs against an overloaded ingest service', () => {
  // A budget of one small request: while one call waits for Kafka, the service refuses the next at once.
  const config = withSettings({ maxPendingBytes: 64 * 1024 }, { maxRequestBytes: 64 * 1024 })
  const recorded = recordingLogger()
  const gated = gatedProducer(config)
  let service: IngestServer
  let address: string
  const overloadRefusals = () => recorded.named('ingest.refused').filter((item) => item.code === 'INGEST_OVERLOADED').length

  beforeAll(async () => {
    service = await startIngestServer(config, { log: recorded.log, producer: gated.producer })
    address = `127.0.0.1:${service.port}`
  })
  afterAll(async () => {
    gated.release()
    await service?.close()
  })

  /** Holds the budget with one call that waits for Kafka until `gated.release()`. */
  async function holdBudget(message: string) {
    gated.hold()
    const client = ingestClient(service.port)
    const before = gated.waiting()
    const call = ingest(client, [{ service: 'holder', level: 'INFO', message }], 20_000).finally(() => client.close())
    await eventually(() => (gated.waiting() > before ? true : undefined), 10_000, 'the holding call to reach the producer')
    // Wrapped: an async function returning the promise itself would wait for the call to end.
    return { call }
  }

  test('a batch refused with RESOURCE_EXHAUSTED (INGEST_OVERLOADED) is retried and stored once the service has room', async () => {
    const holder = await holdBudget('holder 1')
    const refusalsBefore = overloadRefusals()
    const sending = sendLogs([entry('patient', 'overload-retry')], { address, retries: 10 })
    await eventually(() => (overloadRefusals() > refusalsBefore ? true : undefined), 10_000, 'the sender to be refused')
    gated.release()
    const summary = await sending
    expect(summary).toMatchObject({ sent: 1, accepted: 1, failed: 0 })
    expect((await holder.call).response?.accepted).toBe(1)
    const stored = await eventually(async () => (await readTopic(config, 1)).find((item) => item.key === 'overload-retry'), 20_000, 'the retried entry')
    expect(stored.record.message).toBe('patient')
  })

  test('a batch still refused when its retries are used up is counted as failed, with the status in the error', async () => {
    const holder = await holdBudget('holder 2')
    const refusalsBefore = overloadRefusals()
    const summary = await sendLogs([entry('a'), entry('b')], { address, retries: 1 })
    gated.release()
    expect(summary).toMatchObject({ sent: 2, accepted: 0, failed: 2 })
    expect(summary.errors).toEqual([expect.stringContaining('RESOURCE_EXHAUSTED')])
    expect(overloadRefusals() - refusalsBefore).toBe(2)
    expect((await holder.call).response?.accepted).toBe(1)
  })

  test("a batch over the service's request size limit fails, reported with grpc-js's reason", async () => {
    const summary = await sendLogs([entry('x'.repeat(70 * 1024))], { address, retries: 5 })
    expect(summary).toMatchObject({ sent: 1, accepted: 0, failed: 1 })
    expect(summary.errors).toEqual([expect.stringMatching(/RESOURCE_EXHAUSTED: .*larger than max/)])
  })
})
