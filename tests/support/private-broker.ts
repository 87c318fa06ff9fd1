import { afterAll } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { type BrokerOptions, startKafka, stopKafka } from '../../scripts/infra/kafka-broker.ts'
import { freePort } from '../../scripts/services.ts'
import { createAdmin, ensureTopics } from '../../src/lib/kafka.ts'

/**
 * A Kafka broker of the test file's own, on free ports, for tests that stop, kill or freeze it: doing that to
 * the shared broker would break every other test running at the time. Registers its own afterAll, so call it
 * before anything that should stop first (services using it register theirs later and run earlier).
 */
export interface PrivateBroker {
  options: BrokerOptions
  brokers: string[]
  /** The process started first; a restart (startKafka(options)) writes a new PID file. */
  pid: number
  /** Fresh raw and DLQ topics and consumer group on this broker, as Config's kafka fields name them. */
  topics: { topic: string; dlqTopic: string; consumerGroup: string }
}

export async function startPrivateBroker(name: string): Promise<PrivateBroker> {
  const options: BrokerOptions = { dir: mkdtempSync(`${tmpdir()}/logstream-${name}-broker-`), port: freePort(), controllerPort: freePort(), heapMb: 256 }
  const { pid } = await startKafka(options)
  afterAll(async () => {
    await stopKafka(options)
    rmSync(options.dir, { recursive: true, force: true })
  }, 60_000)
  const brokers = [`127.0.0.1:${options.port}`]
  const id = Math.random().toString(36).slice(2, 8)
  const topics = { topic: `${name}.raw.${id}`, dlqTopic: `${name}.dlq.${id}`, consumerGroup: `${name}-${id}` }
  const admin = createAdmin({ brokers, clientId: `${name}-test` })
  await ensureTopics(admin, [
    { topic: topics.topic, partitions: 3, retentionMs: 3_600_000 },
    { topic: topics.dlqTopic, partitions: 1, retentionMs: 3_600_000 },
  ]).finally(() => admin.close())
  return { options, brokers, pid: pid!, topics }
}
