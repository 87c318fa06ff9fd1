import { describe, expect, test } from 'bun:test'
import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes, type Message } from '@platformatic/kafka'
import type { Config } from '../../src/lib/config.ts'
import { createDeadLetterPublisher, DeadLetterHeaders } from '../../src/lib/dead-letters.ts'
import { freshTopics } from '../support/infra.ts'

/** Reads `count` messages from the start of the DLQ topic with a throwaway group. */
async function readDeadLetters(config: Config, count: number, timeoutMs = 20_000): Promise<Message<Buffer, Buffer, Buffer, Buffer>[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'dlq-reader', groupId: `dlq-reader-${crypto.randomUUID()}`, bootstrapBrokers: config.kafka.brokers, maxWaitTime: 200 })
  const stream = await consumer.consume({ topics: [config.kafka.dlqTopic], mode: MessagesStreamModes.EARLIEST, fallbackMode: MessagesStreamFallbackModes.EARLIEST, autocommit: false })
  const messages: Message<Buffer, Buffer, Buffer, Buffer>[] = []
  const timer = setTimeout(() => stream.destroy(new Error(`timed out after ${timeoutMs} ms with ${messages.length} of ${count} dead letters`)), timeoutMs)
  try {
    for await (const message of stream) {
      messages.push(message)
      if (messages.length >= count) break
    }
  } finally {
    clearTimeout(timer)
    await stream.close().catch(() => {})
    await consumer.close(true)
  }
  return messages
}

const headerText = (message: Message<Buffer, Buffer, Buffer, Buffer>, name: string) => {
  for (const [key, value] of message.headers) if (key.toString() === name) return value.toString()
  return undefined
}

describe('createDeadLetterPublisher', () => {
  test('publishes the original key and value bytes with the reason and source as headers', async () => {
    const config = await freshTopics()
    const publisher = createDeadLetterPublisher(config.kafka)
    const value = Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80])
    try {
      await publisher.publish([{ key: Buffer.from('checkout'), value, topic: config.kafka.topic, partition: 2, offset: 41n, code: 'MESSAGE_UNDECODABLE', reason: 'not a protobuf LogEntry: index out of range' }])
    } finally {
      await publisher.close()
    }

    const [letter] = await readDeadLetters(config, 1)
    expect(letter!.key.toString()).toBe('checkout')
    expect(Buffer.compare(letter!.value, value)).toBe(0)
    expect({
      reason: headerText(letter!, DeadLetterHeaders.reason),
      code: headerText(letter!, DeadLetterHeaders.code),
      topic: headerText(letter!, DeadLetterHeaders.topic),
      partition: headerText(letter!, DeadLetterHeaders.partition),
      offset: headerText(letter!, DeadLetterHeaders.offset),
    }).toEqual({ reason: 'not a protobuf LogEntry: index out of range', code: 'MESSAGE_UNDECODABLE', topic: config.kafka.topic, partition: '2', offset: '41' })
  })

  test('publishing nothing sends nothing and succeeds', async () => {
    const config = await freshTopics()
    const publisher = createDeadLetterPublisher({ ...config.kafka, brokers: ['127.0.0.1:1'] })
    try {
      await publisher.publish([])
    } finally {
      await publisher.close()
    }
  })
})
