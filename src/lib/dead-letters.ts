import { ProduceAcks, Producer } from '@platformatic/kafka'
import type { Config } from './config.ts'
import { KafkaUnavailableError } from './errors.ts'

/** A message that can never be stored as it is, with where it came from and why it was refused. */
export interface DeadLetter {
  key: Buffer | undefined
  value: Buffer | undefined
  topic: string
  partition: number
  offset: bigint
  /** A stable error code (e.g. MESSAGE_UNDECODABLE, or a PostgreSQL SQLSTATE for a refused row). */
  code: string
  reason: string
}

/** Header names on every dead letter; the key and value are the original bytes, untouched. */
export const DeadLetterHeaders = {
  reason: 'logstream-reason',
  code: 'logstream-error-code',
  topic: 'logstream-source-topic',
  partition: 'logstream-source-partition',
  offset: 'logstream-source-offset',
} as const

export interface DeadLetterPublisher {
  /**
   * Resolves once Kafka holds every letter (acks=all, idempotent). The consumer commits a message's
   * offset only after this, so a crash in between re-publishes it: dead letters are at least once.
   */
  publish(letters: DeadLetter[]): Promise<void>
  close(): Promise<void>
}

const REASON_MAX_CHARS = 1000

/** The dead letter for a message that failed with `error`: its `code` if it has a string one, else UNKNOWN. */
export function deadLetterFor(
  message: { key?: Buffer | null; value?: Buffer | null; topic: string; partition: number; offset: bigint },
  error: unknown,
): DeadLetter {
  const code = (error as { code?: unknown })?.code
  return {
    key: message.key ?? undefined,
    value: message.value ?? undefined,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    code: typeof code === 'string' ? code : 'UNKNOWN',
    reason: error instanceof Error ? error.message : String(error),
  }
}

export function deadLetterHeaders(letter: DeadLetter): Map<Buffer, Buffer> {
  return new Map(
    [
      [DeadLetterHeaders.reason, letter.reason.slice(0, REASON_MAX_CHARS)],
      [DeadLetterHeaders.code, letter.code],
      [DeadLetterHeaders.topic, letter.topic],
      [DeadLetterHeaders.partition, String(letter.partition)],
      [DeadLetterHeaders.offset, String(letter.offset)],
    ].map(([name, value]) => [Buffer.from(name!), Buffer.from(value!)]),
  )
}

export function createDeadLetterPublisher(kafka: Pick<Config['kafka'], 'brokers' | 'clientId' | 'dlqTopic'>): DeadLetterPublisher {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `${kafka.clientId}-dlq`,
    bootstrapBrokers: kafka.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // Bounded, so a broker outage surfaces as an error the consumer retries with its own backoff.
    retries: 5,
    retryDelay: 250,
    autocreateTopics: false,
  })

  return {
    async publish(letters) {
      if (letters.length === 0) return
      try {
        await producer.send({
          messages: letters.map((letter) => ({
            topic: kafka.dlqTopic,
            // Keep the original key so letters from one service stay together and in order.
            key: letter.key,
            value: letter.value ?? Buffer.alloc(0),
            headers: deadLetterHeaders(letter),
          })),
        })
      } catch (error) {
        throw new KafkaUnavailableError(`cannot publish ${letters.length} dead letter(s) to ${kafka.dlqTopic}: ${(error as Error).message}`, error)
      }
    },
    close: () => producer.close(),
  }
}
