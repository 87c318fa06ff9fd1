import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { withTimeout } from '../timeout.ts'
import { type PartitionOffset, partitionKey } from './message.ts'
import type { MessageSource } from './reader.ts'

/** One membership in the consumer group: a Kafka consumer and its stream, from join to close. */
export interface KafkaSession {
  readonly stream: MessageSource
  readonly memberId: string | null
  commit(offsets: PartitionOffset[]): Promise<void>
  /** The partitions assigned to this member now, as `partitionKey` strings. */
  assigned(): ReadonlySet<string>
  /** Messages not yet committed per partition number, for the partitions assigned to this member. */
  lag(): Promise<Map<number, number>>
  /** Leaves the group and closes every connection; never throws, never takes more than about 3.5 s. */
  close(): Promise<void>
}

export type OpenSession = () => Promise<KafkaSession>

/** A clean close (LeaveGroup) lets the other members take our partitions at once; past this, it is forced. */
const CLOSE_TIMEOUT_MS = 1500

/** Joins the group on `kafka.topic` and starts reading from the committed offsets (the earliest when none). */
export async function openKafkaSession(kafka: Config['kafka'], log: Logger): Promise<KafkaSession> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: `${kafka.clientId}-consumer`,
    groupId: kafka.consumerGroup,
    bootstrapBrokers: kafka.brokers,
    // A killed member is noticed after sessionTimeout; 10 s keeps restarts quick without flapping.
    sessionTimeout: 10_000,
    rebalanceTimeout: 20_000,
    heartbeatInterval: 1_000,
    autocommit: false,
    maxWaitTime: 500,
    // Per fetch. Kafka still returns a first record batch larger than this whole, so it only bounds how
    // much arrives at once; what the process holds is bounded by CONSUME_BATCH_MAX_BYTES (reader.ts).
    maxBytes: 1024 * 1024,
  })
  const close = async () => {
    // Not forced first: a clean LeaveGroup lets the remaining members take our partitions at once.
    await withTimeout(consumer.close(), CLOSE_TIMEOUT_MS, () => new Error(`no clean close within ${CLOSE_TIMEOUT_MS} ms`)).catch(async (error: unknown) => {
      log.warn('kafka.consumer.close-failed', { error })
      await withTimeout(consumer.close(true), 1000, () => new Error('forced close timed out')).catch(() => {})
    })
  }
  try {
    const stream = await consumer.consume({
      topics: [kafka.topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    })
    return {
      stream,
      get memberId() {
        return consumer.memberId
      },
      commit: (offsets) => consumer.commit({ offsets }),
      assigned: () => new Set((consumer.assignments ?? []).flatMap(({ topic, partitions }) => partitions.map((partition) => partitionKey(topic, partition)))),
      async lag() {
        // Indexed by partition; negative for a partition not assigned to this member.
        const lags = await consumer.getLag({ topics: [kafka.topic] })
        return new Map((lags.get(kafka.topic) ?? []).flatMap((value, partition) => (value >= 0n ? [[partition, Number(value)] as const] : [])))
      },
      async close() {
        await withTimeout(stream.close(), 1000, () => new Error('stream not closed within 1 s')).catch((error: unknown) =>
          log.debug('kafka.stream.close-failed', { error }),
        )
        await close()
      },
    }
  } catch (error) {
    await close()
    throw error
  }
}
