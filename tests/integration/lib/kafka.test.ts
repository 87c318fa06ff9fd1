import { describe, expect, test } from 'bun:test'
import {
  ConfigResourceTypes,
  Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { createAdmin, ensureTopics, MAX_MESSAGE_BYTES } from '../../../src/lib/kafka.ts'
import { freshTopics } from '../../support/infra.ts'

describe('kafka', () => {
  test('a message produced to the raw topic is consumed back with its key and partition', async () => {
    const config = await freshTopics({ partitions: 3 })
    const producer = new Producer({
      clientId: 'test-producer',
      bootstrapBrokers: config.kafka.brokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    })
    const sent = await producer.send({ messages: [{ topic: config.kafka.topic, key: 'api-gateway', value: 'hello', partition: 2 }] })
    await producer.close()
    expect(sent.offsets?.[0]?.partition).toBe(2)

    const consumer = new Consumer({
      clientId: 'test-consumer',
      groupId: config.kafka.consumerGroup,
      bootstrapBrokers: config.kafka.brokers,
      deserializers: stringDeserializers,
    })
    const stream = await consumer.consume({
      topics: [config.kafka.topic],
      mode: MessagesStreamModes.EARLIEST,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    })
    let first: { key: string; value: string; partition: number } | undefined
    try {
      for await (const message of stream) {
        first = { key: message.key, value: message.value, partition: message.partition }
        break
      }
    } finally {
      await stream.close()
      await consumer.close(true)
    }
    // Outside the loop: a stream that ended without a message must fail, not skip the assertion.
    expect(first).toEqual({ key: 'api-gateway', value: 'hello', partition: 2 })
  })

  test('ensureTopics creates missing topics and keeps the partitions of existing ones', async () => {
    const config = await freshTopics()
    const admin = createAdmin(config.kafka)
    const extra = `${config.kafka.topic}.extra`
    try {
      const first = await ensureTopics(admin, [
        { topic: extra, partitions: 2, retentionMs: 60_000 },
        { topic: config.kafka.topic, partitions: 3, retentionMs: 60_000 },
      ])
      const second = await ensureTopics(admin, [{ topic: extra, partitions: 2, retentionMs: 60_000 }])
      expect(first).toEqual([extra])
      expect(second).toEqual([])
      const metadata = await admin.metadata({ topics: [extra] })
      expect(metadata.topics.get(extra)?.partitionsCount).toBe(2)
    } finally {
      await admin.deleteTopics({ topics: [extra] }).catch(() => {})
      await admin.close()
    }
  })

  test('an existing topic created with Kafka defaults gets the larger max.message.bytes', async () => {
    const config = await freshTopics()
    const admin = createAdmin(config.kafka)
    const plain = `${config.kafka.topic}.plain`
    try {
      await admin.createTopics({ topics: [plain], partitions: 1, replicas: -1 })
      await ensureTopics(admin, [{ topic: plain, partitions: 1, retentionMs: 60_000 }])
      const [described] = await admin.describeConfigs({
        resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: plain, configurationKeys: ['max.message.bytes'] }],
      })
      expect(described!.configs.find((entry) => entry.name === 'max.message.bytes')?.value).toBe(String(MAX_MESSAGE_BYTES))
    } finally {
      await admin.deleteTopics({ topics: [plain] }).catch(() => {})
      await admin.close()
    }
  })
})
