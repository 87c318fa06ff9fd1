import { Consumer, type Message, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import type { Config } from '../../src/lib/config.ts'

/** Reads `count` messages from the start of the DLQ topic with a throwaway group. */
export async function readDeadLetters(config: Config, count: number, timeoutMs = 20_000): Promise<Message<Buffer, Buffer, Buffer, Buffer>[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'dlq-reader',
    groupId: `dlq-reader-${crypto.randomUUID()}`,
    bootstrapBrokers: config.kafka.brokers,
    maxWaitTime: 200,
  })
  const stream = await consumer.consume({
    topics: [config.kafka.dlqTopic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  })
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
