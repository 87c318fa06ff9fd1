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

export interface TopicReplication {
  /** Copies of each partition; -1: the broker's default.replication.factor. */
  factor: number
  minInsyncReplicas: number
}

/** Brokers from which topics get three copies: fewer cannot lose one broker and still hold two copies. */
export const REPLICATED_CLUSTER_BROKERS = 3

/**
 * How many copies our topics get. With acks=all, min.insync.replicas=2 of 3 means an acknowledged batch
 * is on at least two brokers' disks, so losing any one loses nothing, and a produce keeps succeeding
 * while one broker is down. Below three brokers the broker's own default stands (1 on our local broker:
 * its disk is the only copy). KAFKA_REPLICATION_FACTOR overrides the count (min ISR 2 from 3 copies up,
 * else 1), for a cluster partly down when topics are first created or one that wants more copies.
 */
export function topicReplication(brokerCount: number, configured?: number): TopicReplication {
  const factor = configured ?? (brokerCount >= REPLICATED_CLUSTER_BROKERS ? 3 : -1)
  return { factor, minInsyncReplicas: factor >= 3 ? 2 : 1 }
}

/** Brokers the cluster has registered now (a broker that is down and fenced is not among them). */
export async function clusterBrokerCount(admin: Admin): Promise<number> {
  return (await admin.metadata({ topics: [], forceUpdate: true })).brokers.size
}

/**
 * Creates each topic unless it exists; returns the names it created. An existing topic keeps its
 * partitions, retention and replication (an operator may have tuned them; raising min.insync.replicas
 * above its copies would refuse every produce) but gets MAX_MESSAGE_BYTES, without which ingest batches
 * can be refused whole. Without `replication` a topic gets the broker's default.replication.factor.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[], replication?: TopicReplication): Promise<string[]> {
  const created: string[] = []
  for (const spec of specs) {
    try {
      await admin.createTopics({
        topics: [spec.topic],
        partitions: spec.partitions,
        replicas: replication?.factor ?? -1,
        configs: [
          { name: 'retention.ms', value: String(spec.retentionMs) },
          { name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) },
          ...(replication && replication.minInsyncReplicas > 1 ? [{ name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) }] : []),
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

/**
 * Resolves once the cluster answers a Metadata request, the only real sign that a broker is ready, naming
 * at least `minBrokers` brokers: a cluster's first answer may come before its other nodes registered, and
 * topics created then would get fewer copies.
 */
export async function waitForKafka(kafka: Pick<KafkaConfig, 'brokers' | 'clientId'>, timeoutMs: number, minBrokers = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    const admin = createAdmin(kafka, { retries: 0, timeout: 2000 })
    try {
      const { brokers } = await admin.metadata({ topics: [] })
      if (brokers.size >= minBrokers) return
      lastError = new Error(`${brokers.size} of ${minBrokers} brokers registered`)
    } catch (error) {
      lastError = error
    } finally {
      await admin.close().catch(() => {})
    }
    await Bun.sleep(200)
  }
  throw new KafkaUnavailableError(`no Kafka broker answered at ${kafka.brokers.join(',')} within ${timeoutMs} ms`, lastError)
}
