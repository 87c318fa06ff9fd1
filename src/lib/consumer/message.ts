/**
 * What the consumer needs of a Kafka message. @platformatic/kafka's `Message<Buffer, …>` has this shape;
 * tests build plain objects.
 */
export interface ConsumedMessage {
  topic: string
  partition: number
  offset: bigint
  leaderEpoch: number
  key: Buffer | null | undefined
  value: Buffer | null | undefined
}

/** The bytes a message holds in memory once fetched: its value and key (headers are small and ignored). */
export function messageBytes(message: Pick<ConsumedMessage, 'key' | 'value'>): number {
  return (message.value?.length ?? 0) + (message.key?.length ?? 0)
}

export const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`

/** A partition's next offset to read, as committed to the group. */
export interface PartitionOffset {
  topic: string
  partition: number
  offset: bigint
  leaderEpoch: number
}
