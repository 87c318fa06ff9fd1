import { murmur2, ProduceAcks, Producer } from '@platformatic/kafka'
import type { Config } from './config.ts'
import { KafkaUnavailableError } from './errors.ts'
import { describeKafkaError } from './kafka.ts'
import { withTimeout } from './timeout.ts'

export interface OutgoingMessage {
  /** The message key (the entry's service); it also picks the partition. */
  key: string
  value: Buffer
}

export interface LogProducer {
  /**
   * Resolves once Kafka has acknowledged every message (acks=all, idempotent). Rejects with
   * KafkaUnavailableError on any failure, or when no acknowledgement came within `timeoutMs`: the
   * messages may still be written later by the library's retries, so the caller must treat them as
   * not stored (a client's retry then sends them again: never a loss, and no duplicate when the entries
   * carry their own timestamps, content-key.ts).
   */
  send(messages: OutgoingMessage[], timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export interface LogProducerOptions {
  kafka: Pick<Config['kafka'], 'brokers' | 'clientId' | 'topic' | 'compression'>
  /** How long the library keeps retrying one send; past it the send fails instead of hanging. */
  sendTimeoutMs: number
}

const RETRY_DELAY_MS = 250
/** Distinct keys remembered; a client inventing services cannot grow the cache past this. */
const KEY_CACHE_SIZE = 10_000

/**
 * The key's bytes and partition, computed once per service instead of once per message: every message of
 * a service has the same key, and hashing it each time cost measurable CPU (README, ingest). Same hash as the
 * library's default partitioner (murmur2 >>> 0, taken modulo the partition count by the library), so
 * placement is unchanged.
 */
function keyCache() {
  const cache = new Map<string, { key: Buffer; partition: number }>()
  return (service: string) => {
    let known = cache.get(service)
    if (!known) {
      if (cache.size >= KEY_CACHE_SIZE) cache.clear()
      const key = Buffer.from(service)
      known = { key, partition: murmur2(key) >>> 0 }
      cache.set(service, known)
    }
    return known
  }
}

/**
 * The Kafka side of ingestion. @platformatic/kafka's idempotent producer retries forever by default
 * (retries = MAX_SAFE_INTEGER), so a send made while the broker is down would never settle; we bound
 * its retries to roughly `sendTimeoutMs`, and bound each send with our own timer as well.
 */
export function createLogProducer(options: LogProducerOptions): LogProducer {
  const { kafka, sendTimeoutMs } = options
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `${kafka.clientId}-ingest`,
    bootstrapBrokers: kafka.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    retries: Math.max(2, Math.ceil(sendTimeoutMs / RETRY_DELAY_MS)),
    retryDelay: RETRY_DELAY_MS,
    // Broker-side wait for the in-sync replicas, and our wait for a connection or a reply.
    timeout: Math.min(sendTimeoutMs, 30_000),
    connectTimeout: Math.min(sendTimeoutMs, 5_000),
    requestTimeout: sendTimeoutMs,
    ...(kafka.compression === 'none' ? {} : { compression: kafka.compression }),
    // Never create a topic by producing to it: a typo in KAFKA_TOPIC should fail loudly.
    autocreateTopics: false,
    strict: true,
  })
  const topic = kafka.topic
  const keyed = keyCache()

  return {
    async send(messages, timeoutMs) {
      const sending = producer.send({
        messages: messages.map((message) => {
          const { key, partition } = keyed(message.key)
          return { topic, key, value: message.value, partition }
        }),
      })
      try {
        await withTimeout(sending, timeoutMs, () => new KafkaUnavailableError(`Kafka did not acknowledge within ${timeoutMs} ms`))
      } catch (error) {
        if (error instanceof KafkaUnavailableError) throw error
        throw new KafkaUnavailableError(`Kafka did not accept the batch: ${describeKafkaError(error)}`, error)
      }
    },
    async close() {
      await producer.close()
    },
  }
}
