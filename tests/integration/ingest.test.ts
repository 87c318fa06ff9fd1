import { describe, expect, test } from 'bun:test'
import * as grpc from '@grpc/grpc-js'
import { spawnService } from '../../scripts/services.ts'
import { eventually, freshTopics } from '../support/infra.ts'
import { type IngestOutcome, ingest, ingestClient } from '../support/ingest-client.ts'
import { readTopicToEnd } from '../support/topic-reader.ts'

/** Runs `bun src/ingest.ts` with `env`, collecting its JSON log lines. */
function spawnIngest(env: Record<string, string>) {
  const events: Record<string, unknown>[] = []
  const child = spawnService('ingest', {
    env,
    onLine: (line, stream) => (stream === 'stdout' && line.trim() ? events.push(JSON.parse(line)) : process.stderr.write(`${line}\n`)),
  })
  const count = (event: string) => events.filter((item) => item.event === event).length
  return { child, events, count }
}

describe('bun src/ingest.ts', () => {
  test('on SIGTERM with calls in flight, it answers them, every acknowledged entry is in Kafka, and it exits 0', async () => {
    const config = await freshTopics()
    // Batches go out only on shutdown (huge count, long linger), so every call is surely in flight at SIGTERM.
    const service = spawnIngest({
      KAFKA_BROKERS: config.kafka.brokers.join(','),
      KAFKA_TOPIC: config.kafka.topic,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      OTLP_GRPC_PORT: '0',
      INGEST_HTTP_PORT: '0',
      INGEST_BATCH_MAX_COUNT: '1000000',
      INGEST_LINGER_MS: '60000',
      LOG_LEVEL: 'debug',
    })
    try {
      const listening = await eventually(() => service.events.find((item) => item.event === 'ingest.listening'), 20_000, 'the service to listen')
      const port = Number(String(listening.address).split(':').pop())
      const client = ingestClient(port)
      const calls = 20
      const perCall = 10
      const sent = Array.from({ length: calls }, (_, call) =>
        Array.from({ length: perCall }, (_, index) => ({ service: `svc-${index % 3}`, level: 'info', message: `call ${call} entry ${index}` })),
      )
      const outcomes: Promise<IngestOutcome>[] = sent.map((logs) => ingest(client, logs, 30_000))
      await eventually(() => (service.count('ingest.queued') === calls ? true : undefined), 20_000, 'every call to be queued')

      const exiting = service.child.stop('SIGTERM')
      const results = await Promise.all(outcomes)
      const exitCode = await exiting
      client.close()

      expect(exitCode).toBe(0)
      expect(results.map((result) => result.error?.code ?? grpc.status.OK)).toEqual(Array(calls).fill(grpc.status.OK))
      const acknowledged = results.flatMap((result, call) => (result.response ? sent[call]!.map((entry) => entry.message) : []))
      // The whole topic, compared as sorted lists: a lost, extra or duplicated entry fails.
      const stored = await readTopicToEnd(config)
      expect(stored.map((item) => item.record.message).sort()).toEqual(acknowledged.sort())
    } finally {
      if (service.child.exitCode === null) await service.child.stop('SIGKILL')
    }
  }, 90_000)

  test('exits 1 with a startup.failed line naming the variable when the config is invalid', async () => {
    const service = spawnIngest({ GRPC_PORT: 'not-a-port' })
    expect(await service.child.exited).toBe(1)
    await eventually(() => (service.count('startup.failed') === 1 ? true : undefined), 5000, 'the startup.failed line')
    const failed = service.events.find((item) => item.event === 'startup.failed') as { error: { message: string } }
    expect(failed.error.message).toContain('GRPC_PORT')
  })
})
