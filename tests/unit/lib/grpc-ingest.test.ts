import { describe, expect, test } from 'bun:test'
import * as grpc from '@grpc/grpc-js'
import { type Config, loadConfig } from '../../../src/lib/config.ts'
import { IngestOverloadedError, KafkaUnavailableError, RequestInvalidError } from '../../../src/lib/errors.ts'
import { statusFor } from '../../../src/lib/grpc-status.ts'
import { startIngestServer } from '../../../src/lib/ingest-server.ts'
import { NoValidLogsError } from '../../../src/lib/intake.ts'
import { createLogger } from '../../../src/lib/log.ts'
import type { LogProducer } from '../../../src/lib/producer.ts'
import { decodeIngestResponse, ERROR_CODE_METADATA, type IngestResponse, RESPONSE_TRAILER } from '../../../src/lib/proto.ts'
import { ingest, ingestClient } from '../../support/ingest-client.ts'

/** The gRPC adapter in process on port 0, with a producer the test holds: no Kafka. */

const base = loadConfig({})

function configWith(ingestSettings: Partial<Config['ingest']> = {}, grpcSettings: Partial<Config['grpc']> = {}): Config {
  return {
    ...base,
    grpc: { ...base.grpc, host: '127.0.0.1', port: 0, otlpPort: 0, ...grpcSettings },
    intakeHttp: { ...base.intakeHttp, port: 0 },
    ingest: { ...base.ingest, ...ingestSettings },
  }
}

/** Sends wait until `release()`; `sent` counts the messages the producer was given. */
function heldProducer() {
  const { promise: released, resolve: release } = Promise.withResolvers<void>()
  let waiting = 0
  let sent = 0
  const producer: LogProducer = {
    async send(messages) {
      waiting += 1
      await released
      sent += messages.length
    },
    close: async () => {},
  }
  return { producer, release: () => release(), waiting: () => waiting, sent: () => sent }
}

function recordingLogger() {
  const events: Record<string, unknown>[] = []
  return { events, log: createLogger({ service: 'grpc-ingest-test' }, { level: 'debug', write: (line) => events.push(JSON.parse(line)) }) }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(5)
  }
}

const log = (message: string) => ({ service: 'api', level: 'INFO', message })

describe('statusFor', () => {
  test('renders an error from its gRPC status and stable code alone', () => {
    const overloaded = statusFor(new IngestOverloadedError('busy'))
    expect(overloaded).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'busy' })
    expect(overloaded.metadata?.get(ERROR_CODE_METADATA)).toEqual(['INGEST_OVERLOADED'])
    expect(statusFor(new KafkaUnavailableError('down')).code).toBe(grpc.status.UNAVAILABLE)
    expect(statusFor(new RequestInvalidError('the request has no logs')).metadata?.get(RESPONSE_TRAILER)).toEqual([])
  })

  test('a refusal for having no valid entry carries the full response in the binary trailer', () => {
    const response: IngestResponse = { accepted: 0, rejected: 1, error: '1 of 1 logs rejected', rejections: [{ index: 0, field: 'level', reason: 'bad' }] }
    const status = statusFor(new NoValidLogsError(response))
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(status.metadata?.get(ERROR_CODE_METADATA)).toEqual(['REQUEST_INVALID'])
    expect(decodeIngestResponse(status.metadata?.get(RESPONSE_TRAILER)[0] as Buffer)).toEqual(response)
  })

  test('anything else is INTERNAL', () => {
    const status = statusFor(new TypeError('oops'))
    expect(status.code).toBe(grpc.status.INTERNAL)
    expect(status.metadata?.get(ERROR_CODE_METADATA)).toEqual(['INTERNAL'])
  })
})

describe('the gRPC adapter', () => {
  test('a request over GRPC_MAX_REQUEST_BYTES is refused by grpc-js, and gives back its room in the budget', async () => {
    // A budget of exactly one largest request: a leaked reservation would refuse every later call.
    const config = configWith({ maxPendingBytes: 8 * 1024 }, { maxRequestBytes: 8 * 1024 })
    const held = heldProducer()
    held.release()
    const service = await startIngestServer(config, { log: createLogger({}, { level: 'error' }), producer: held.producer })
    const client = ingestClient(service.port)
    try {
      const { error } = await ingest(client, [log('x'.repeat(20_000))])
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
      expect(error?.details).toMatch(/larger than max \(\d+ vs\.? 8192\)/)
      expect(error?.metadata.get(ERROR_CODE_METADATA)).toEqual([])
      expect((await ingest(client, [log('small')])).response?.accepted).toBe(1)
    } finally {
      client.close()
      await service.close()
    }
  })

  test('a call arriving while calls awaiting Kafka hold the budget is refused at once with RESOURCE_EXHAUSTED / INGEST_OVERLOADED, and never reaches the intake', async () => {
    const config = configWith({ maxPendingBytes: 64 * 1024 }, { maxRequestBytes: 64 * 1024 })
    const held = heldProducer()
    const { events, log: recording } = recordingLogger()
    const service = await startIngestServer(config, { log: recording, producer: held.producer })
    const client = ingestClient(service.port)
    try {
      const first = ingest(client, [log('first')])
      await until(() => held.waiting() === 1, 'the first call to reach the producer')
      const refused = await ingest(client, [log('second')])
      expect(refused.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
      expect(refused.error?.metadata.get(ERROR_CODE_METADATA)).toEqual(['INGEST_OVERLOADED'])
      expect(events.filter((event) => event.event === 'ingest.queued')).toHaveLength(1)
      held.release()
      expect((await first).response?.accepted).toBe(1)
      expect((await ingest(client, [log('third')])).response?.accepted).toBe(1)
      expect(held.sent()).toBe(2)
    } finally {
      held.release()
      client.close()
      await service.close()
    }
  })

  test('a client cannot have more than GRPC_MAX_CONCURRENT_STREAMS calls in the service at once; the rest wait', async () => {
    const config = configWith({}, { maxConcurrentStreams: 2 })
    const held = heldProducer()
    const { events, log: recording } = recordingLogger()
    const service = await startIngestServer(config, { log: recording, producer: held.producer })
    const client = ingestClient(service.port)
    const queued = () => events.filter((event) => event.event === 'ingest.queued').length
    try {
      const calls = [ingest(client, [log('call 0')]), ingest(client, [log('call 1')])]
      await until(() => queued() === 2, 'two calls in the service')
      // The third waits in the client for a free stream until its deadline, without reaching the service.
      const third = await ingest(client, [log('call 2')], 300)
      expect(third.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED)
      expect(queued()).toBe(2)
      held.release()
      const results = await Promise.all(calls)
      expect(results.map((result) => result.response?.accepted)).toEqual([1, 1])
    } finally {
      held.release()
      client.close()
      await service.close()
    }
  })
})
