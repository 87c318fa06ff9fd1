/**
 * The mean size of the values a run actually put on a topic, read back from Kafka: what a benchmark reports as
 * its record size (and what the ProducerPerformance ceiling is run with), instead of a size assumed in a comment.
 */
import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'

export interface ValueSizes {
  /** Messages read (fewer than asked when the topic holds fewer, or when `timeoutMs` passed first). */
  messages: number
  meanBytes: number
}

/** Reads up to `count` messages from the start of `topic` with a throwaway consumer group. */
export async function sampleValueSizes(brokers: string[], topic: string, count = 2000, timeoutMs = 15_000): Promise<ValueSizes> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'bench-sizes',
    groupId: `bench-sizes-${crypto.randomUUID()}`,
    bootstrapBrokers: brokers,
    maxWaitTime: 200,
  })
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  })
  let messages = 0
  let bytes = 0
  const timer = setTimeout(() => stream.destroy(), timeoutMs)
  try {
    for await (const message of stream) {
      messages += 1
      bytes += message.value?.length ?? 0
      if (messages >= count) break
    }
  } catch {
    // Destroyed by the timer: report what was read.
  } finally {
    clearTimeout(timer)
    await stream.close().catch(() => {})
    await consumer.close(true)
  }
  return { messages, meanBytes: messages > 0 ? Math.round(bytes / messages) : 0 }
}
