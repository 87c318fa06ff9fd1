import { Consumer, type Message, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import { decodeLogRecord } from '../../src/lib/codec.ts'
import type { Config } from '../../src/lib/config.ts'
import type { LogRecord } from '../../src/lib/log-entry.ts'
import { eventually } from './infra.ts'

/** Reading a test's topic back: what ingest stored, and when everything produced so far has been read or committed. */

export interface StoredLog {
  key: string
  partition: number
  record: LogRecord
}

/** Reads a topic from the beginning until `count` messages arrived, decoding each value as a LogEntry. */
export async function readTopic(config: Config, count: number, timeoutMs = 30_000): Promise<StoredLog[]> {
  const raw = await readRaw(config, count, timeoutMs)
  return raw.map((item) => ({ key: item.key, partition: item.partition, record: decodeLogRecord(item.bytes) }))
}

export interface RawMessage {
  key: string
  partition: number
  value: string
  bytes: Buffer
}

/** Reads a topic from the beginning until `count` messages arrived (fails after `timeoutMs`). */
export async function readRaw(config: Config, count: number, timeoutMs = 30_000): Promise<RawMessage[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'ingest-test-reader',
    groupId: `${config.kafka.consumerGroup}-reader-${Math.random().toString(36).slice(2, 8)}`,
    bootstrapBrokers: config.kafka.brokers,
  })
  const stored: RawMessage[] = []
  const stream = await consumer.consume({
    topics: [config.kafka.topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  })
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
    stored.push({ key: message.key.toString(), partition: message.partition, value: message.value.toString(), bytes: message.value })
  })
  try {
    return await eventually(
      () => (stored.length >= count ? stored : undefined),
      timeoutMs,
      `${count} messages on ${config.kafka.topic} (have ${stored.length})`,
    )
  } finally {
    await stream.close()
    await consumer.close(true)
  }
}

/** The topic's end offset per partition (the offset the next message will get). */
export async function endOffsets(config: Config): Promise<bigint[]> {
  const consumer = new Consumer({ clientId: 'offset-reader', groupId: `end-offsets-${crypto.randomUUID()}`, bootstrapBrokers: config.kafka.brokers })
  try {
    return (await consumer.listOffsets({ topics: [config.kafka.topic] })).get(config.kafka.topic) ?? []
  } finally {
    await consumer.close(true)
  }
}

/**
 * Every message on the topic up to its end offsets taken now: reads until each partition's last one has
 * arrived, so the result is complete (a duplicate or an extra message is in it) rather than cut at a count.
 */
export async function readTopicToEnd(config: Config, timeoutMs = 30_000): Promise<StoredLog[]> {
  const ends = await endOffsets(config)
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'ingest-test-reader',
    groupId: `${config.kafka.consumerGroup}-reader-${crypto.randomUUID()}`,
    bootstrapBrokers: config.kafka.brokers,
  })
  const stored: StoredLog[] = []
  const next = ends.map(() => 0n)
  const stream = await consumer.consume({
    topics: [config.kafka.topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  })
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
    next[message.partition] = message.offset + 1n
    if (message.offset < (ends[message.partition] ?? 0n))
      stored.push({ key: message.key.toString(), partition: message.partition, record: decodeLogRecord(message.value) })
  })
  try {
    return await eventually(
      () => (ends.every((end, partition) => next[partition]! >= end) ? stored : undefined),
      timeoutMs,
      `${config.kafka.topic} read to its end offsets ${ends.join(',')}`,
    )
  } finally {
    await stream.close()
    await consumer.close(true)
  }
}

/**
 * Resolves once the topic's consumer group has committed every partition up to the end offsets taken now:
 * everything produced so far has been stored, so what a query finds afterwards is final.
 */
export async function committedToEnd(config: Config, timeoutMs = 30_000): Promise<void> {
  const ends = await endOffsets(config)
  const consumer = new Consumer({ clientId: 'offset-reader', groupId: config.kafka.consumerGroup, bootstrapBrokers: config.kafka.brokers })
  try {
    await eventually(
      async () => {
        const committed =
          (await consumer.listCommittedOffsets({ topics: [{ topic: config.kafka.topic, partitions: ends.map((_, i) => i) }] })).get(config.kafka.topic) ?? []
        return ends.every((end, i) => end === 0n || (committed[i] ?? -1n) >= end) ? true : undefined
      },
      timeoutMs,
      `group ${config.kafka.consumerGroup} to commit ${config.kafka.topic} to its end offsets ${ends.join(',')}`,
    )
  } finally {
    await consumer.close(true)
  }
}
