export const ConsumerStates = {
  starting: 'starting',
  running: 'running',
  /** PostgreSQL is failing: nothing is read or committed until a retry succeeds. */
  waitingForDatabase: 'waiting-for-database',
  /** Kafka failed: the consumer is being recreated after a backoff (or dead letters cannot be published). */
  reconnecting: 'reconnecting',
  stopped: 'stopped',
} as const
export type ConsumerState = (typeof ConsumerStates)[keyof typeof ConsumerStates]

export interface ConsumerStats {
  state: ConsumerState
  /** Rows newly inserted since start (re-deliveries already stored are not counted). */
  rowsInserted: number
  /** Messages read from Kafka and handled (stored, skipped as already stored, or dead-lettered). */
  messagesHandled: number
  deadLetters: number
  batches: number
  /** Messages read from Kafka and not yet handled: the batches being written plus the one filling. */
  messagesInHand: number
  /** Their bytes (value + key), bounded by about (CONSUME_MAX_IN_FLIGHT_BATCHES + 1) × CONSUME_BATCH_MAX_BYTES. */
  bytesInHand: number
  /** Next offset to read per partition, as committed by this process ("topic:partition" -> offset). */
  committed: Map<string, bigint>
}

export const initialStats = (): ConsumerStats => ({
  state: ConsumerStates.starting,
  rowsInserted: 0,
  messagesHandled: 0,
  deadLetters: 0,
  batches: 0,
  messagesInHand: 0,
  bytesInHand: 0,
  committed: new Map(),
})
