import { describe, expect, test } from 'bun:test'
import type { Message } from '@platformatic/kafka'
import { createDeadLetterPublisher, DeadLetterHeaders } from '../../../src/lib/dead-letters.ts'
import { readDeadLetters } from '../../support/dead-letters.ts'
import { freshTopics } from '../../support/infra.ts'

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
      await publisher.publish([
        {
          key: Buffer.from('checkout'),
          value,
          topic: config.kafka.topic,
          partition: 2,
          offset: 41n,
          code: 'MESSAGE_UNDECODABLE',
          reason: 'not a protobuf LogEntry: index out of range',
        },
      ])
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
    // Nothing listens on port 1: any attempt to send would fail, so success means nothing was sent.
    const publisher = createDeadLetterPublisher({ ...config.kafka, brokers: ['127.0.0.1:1'] })
    try {
      await expect(publisher.publish([])).resolves.toBeUndefined()
    } finally {
      await publisher.close()
    }
  })
})
