import { Admin, ConfigResourceTypes, type GenericError, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka'
import type { Config } from './config.ts'
import { KafkaUnavailableError } from './errors.ts'

export type KafkaConfig = Config['kafka']

const HOUR_MS = 3_600_000

export function createAdmin(kafka: Pick<KafkaConfig, 'brokers' | 'clientId'>, options: { retries?: number; timeout?: number } = {}): Admin {
  return new Admin({
    clientId: `${kafka.clientId}-admin`,
    bootstrapBrokers: kafka.brokers,
    retries: options.retries ?? 3,
    timeout: options.timeout ?? 5000,
  })
}

/**
 * Every error of a @platformatic/kafka error tree (MultipleErrors nest ResponseErrors nest ProtocolErrors),
 * depth first, the error itself first.
 */
export function kafkaErrors(error: unknown): GenericError[] {
  if (!(error instanceof Error)) return []
  const nested = (error as { errors?: unknown }).errors
  const children = Array.isArray(nested) ? nested.flatMap(kafkaErrors) : []
  return [error as GenericError, ...children]
}

export function findKafkaError(error: unknown, predicate: (error: GenericError) => boolean): GenericError | undefined {
  return kafkaErrors(error).find(predicate)
}

/** The innermost messages of an error tree, which name the real cause (the outer ones say "multiple errors"). */
export function describeKafkaError(error: unknown): string {
  const leaves = kafkaErrors(error).filter((item) => {
    const nested = (item as { errors?: unknown }).errors
    return !Array.isArray(nested) || nested.length === 0
  })
  const unique = [...new Set(leaves.map((item) => item.message))]
  return unique.length > 0 ? unique.slice(-3).join('; ') : String(error)
}

export function isTopicAlreadyExists(error: unknown): boolean {
  return findKafkaError(error, (item) => item.apiId === 'TOPIC_ALREADY_EXISTS') !== undefined
}

export interface TopicSpec {
  topic: string
  partitions: number
  retentionMs: number
}

/**
 * The broker refuses a record batch larger than max.message.bytes (1 MB by default), and refuses it whole:
 * one partition's share of an ingest batch, or a single log near the 1 MiB entry limit, would then fail
 * every caller in that batch, again on every retry. Our topics allow 8 MiB, well above the largest batch
 * ingest builds (INGEST_BATCH_MAX_BYTES, capped below this) plus protocol overhead.
 */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024

export function topicSpecs(kafka: KafkaConfig): TopicSpec[] {
  const retentionMs = kafka.retentionHours * HOUR_MS
  return [
    { topic: kafka.topic, partitions: kafka.partitions, retentionMs },
    // Dead letters wait for a human, so they are kept longer than the raw stream.
    { topic: kafka.dlqTopic, partitions: 1, retentionMs: Math.max(retentionMs, 7 * 24 * HOUR_MS) },
  ]
}

/**
 * Creates each topic unless it exists; returns the names it created. An existing topic keeps its
 * partitions and retention (an operator may have tuned them) but gets MAX_MESSAGE_BYTES, without which
 * ingest batches can be refused whole.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const created: string[] = []
  for (const spec of specs) {
    try {
      await admin.createTopics({
        topics: [spec.topic],
        partitions: spec.partitions,
        replicas: -1,
        configs: [
          { name: 'retention.ms', value: String(spec.retentionMs) },
          { name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) },
        ],
      })
      created.push(spec.topic)
    } catch (error) {
      if (!isTopicAlreadyExists(error)) throw new KafkaUnavailableError(`cannot create topic ${spec.topic}: ${(error as Error).message}`, error)
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: spec.topic,
            configs: [{ name: 'max.message.bytes', configOperation: IncrementalAlterConfigOperationTypes.SET, value: String(MAX_MESSAGE_BYTES) }],
          },
        ],
      })
    }
  }
  return created
}

/** Resolves once the cluster answers a Metadata request, the only real sign that a broker is ready. */
export async function waitForKafka(kafka: Pick<KafkaConfig, 'brokers' | 'clientId'>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    const admin = createAdmin(kafka, { retries: 0, timeout: 2000 })
    try {
      await admin.metadata({ topics: [] })
      return
    } catch (error) {
      lastError = error
    } finally {
      await admin.close().catch(() => {})
    }
    await Bun.sleep(200)
  }
  throw new KafkaUnavailableError(`no Kafka broker answered at ${kafka.brokers.join(',')} within ${timeoutMs} ms`, lastError)
}
