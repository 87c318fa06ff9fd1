import { describe, expect, test } from 'bun:test'
import { ProduceAcks, Producer } from '@platformatic/kafka'
import { ErrorCodes, KafkaUnavailableError } from '../../../src/lib/errors.ts'
import { createLogProducer } from '../../../src/lib/producer.ts'
import { freshTopics } from '../../support/infra.ts'
import { readRaw } from '../../support/topic-reader.ts'

const topics = await freshTopics({ partitions: 3 })

describe('createLogProducer', () => {
  test("puts each key on the partition the library's default partitioner would choose", async () => {
    const keys = ['api-gateway', 'billing', 'checkout', 'search', 'auth', 'inventory']
    const ours = createLogProducer({ kafka: topics.kafka, sendTimeoutMs: 10_000 })
    await ours.send(
      keys.map((key) => ({ key, value: Buffer.from(`ours ${key}`) })),
      10_000,
    )
    await ours.close()
    const reference = new Producer({ clientId: 'reference', bootstrapBrokers: topics.kafka.brokers, idempotent: true, acks: ProduceAcks.ALL })
    await reference.send({ messages: keys.map((key) => ({ topic: topics.kafka.topic, key: Buffer.from(key), value: Buffer.from(`reference ${key}`) })) })
    await reference.close()

    const stored = await readRaw(topics, keys.length * 2)
    const partitionOf = (prefix: string) => Object.fromEntries(stored.filter((item) => item.value.startsWith(prefix)).map((item) => [item.key, item.partition]))
    expect(partitionOf('ours ')).toEqual(partitionOf('reference '))
    expect(new Set(Object.values(partitionOf('ours '))).size).toBeGreaterThan(1)
  })

  test.each(['gzip', 'snappy', 'lz4', 'zstd'] as const)('KAFKA_COMPRESSION=%s: what it sends reads back as sent', async (compression) => {
    const fresh = await freshTopics({ partitions: 1 })
    const producer = createLogProducer({ kafka: { ...fresh.kafka, compression }, sendTimeoutMs: 10_000 })
    const values = Array.from({ length: 50 }, (_, i) => `${compression} ${i} ${'repeated text '.repeat(i)}`)
    await producer.send(
      values.map((value) => ({ key: 'svc', value: Buffer.from(value) })),
      10_000,
    )
    await producer.close()
    expect((await readRaw(fresh, values.length)).map((item) => item.value)).toEqual(values)
  })

  test('a send nobody can take fails with KAFKA_UNAVAILABLE instead of hanging', async () => {
    const producer = createLogProducer({ kafka: { ...topics.kafka, brokers: ['127.0.0.1:1'] }, sendTimeoutMs: 1000 })
    const error = await producer.send([{ key: 'svc', value: Buffer.from('lost') }], 1000).catch((caught: unknown) => caught)
    await producer.close()
    expect(error).toBeInstanceOf(KafkaUnavailableError)
    expect((error as KafkaUnavailableError).code).toBe(ErrorCodes.KAFKA_UNAVAILABLE)
  })
})
