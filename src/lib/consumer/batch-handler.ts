import { type DeadLetter, deadLetterFor } from '../dead-letters.ts'
import { BatchAbandonedError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { LogRecord } from '../log-entry.ts'
import type { PendingRow, WriteResult } from '../log-writer.ts'
import { type Backoff, retry } from '../retry.ts'
import { type ConsumedMessage, type PartitionOffset, partitionKey } from './message.ts'

/** What a batch needs from the outside world, each as one small function so tests can fake it. */
export interface BatchParts {
  /** Throws for a value that can never be stored (it is dead-lettered). */
  decode(value: Buffer): LogRecord
  /** Stores rows once each; throws a retryable error when the database is unavailable (see LogWriter). */
  write<T extends PendingRow>(rows: T[]): Promise<WriteResult<T>>
  publishDeadLetters(letters: DeadLetter[]): Promise<void>
  commit(offsets: PartitionOffset[]): Promise<void>
  /** The partitions assigned to this member right now, as `partitionKey` strings. */
  assigned(): ReadonlySet<string>
}

export const WaitingFor = { database: 'database', kafka: 'kafka' } as const
export type WaitingFor = (typeof WaitingFor)[keyof typeof WaitingFor]

export interface BatchHandlerOptions {
  backoff: Backoff
  /** Aborted when shutdown begins: a failing write or publish is not tried again and its batch is abandoned. */
  stopping: AbortSignal
  /** Aborted when shutdown has waited long enough: every batch not yet committed is abandoned at once. */
  abandon: AbortSignal
  log: Logger
  /** Told when a batch starts waiting for a failing dependency, and (undefined) when it succeeded again. */
  onWaiting?: (what: WaitingFor | undefined) => void
}

export interface BatchResult {
  /** Rows newly inserted (re-deliveries already stored are not counted). */
  inserted: number
  /** Distinct messages handled: stored, skipped as already stored, or dead-lettered. */
  handled: number
  deadLetters: number
  /** Offsets committed for this batch: only partitions still assigned at commit time. */
  committed: PartitionOffset[]
}

export interface BatchHandler {
  handle(messages: readonly ConsumedMessage[]): Promise<BatchResult>
}

interface DecodedRow extends PendingRow {
  message: ConsumedMessage
}

/**
 * Turns batches of Kafka messages into rows in PostgreSQL and commits their offsets. Create one per
 * Kafka consumer session; `handle` may be called again before earlier calls settle.
 *
 * Guarantees, all enforced in `handleBatch` below:
 * - **Stored before committed.** A batch's offsets are committed only after the writer has stored every
 *   row (or it is refused and Kafka holds its dead letter), so a crash at any instant re-delivers at most
 *   the uncommitted tail, and the writer turns re-delivered rows into no-ops.
 * - **Commits in the order read.** Batches are decoded, written and dead-lettered concurrently, but each
 *   commits only after the batch handed in before it has committed; once one fails, every later batch of
 *   this handler fails without committing (their messages come again from the last committed offset).
 * - **Only partitions still ours.** After a rebalance a batch may hold messages of a partition now owned by
 *   another member: they are stored (the new owner's copies are skipped), but their offsets are filtered
 *   out at commit time against the current assignment, so the old owner never moves the new owner's
 *   committed offset back. (A partition that came back to us meanwhile, or a commit the library re-sends
 *   after rejoining, can still move an offset back: that only re-delivers stored rows.)
 * - **Shutdown never commits what is not stored.** Once `stopping` aborts, a write or publish that fails is
 *   not retried: the batch is abandoned (BatchAbandonedError) and nothing is committed, so stopping
 *   while the database is down ends promptly. Once `abandon` aborts, the batch stops waiting for anything
 *   and commits nothing.
 * - **One copy per message.** A message delivered twice within a batch (the stream may re-send after a
 *   rebalance) is written and counted once.
 */
export function createBatchHandler(parts: BatchParts, options: BatchHandlerOptions): BatchHandler {
  const { log, abandon } = options
  let previous: Promise<unknown> = Promise.resolve()

  /** Settles like `promise`, or rejects with BatchAbandonedError as soon as `abandon` aborts. */
  const unlessAbandoned = <T>(promise: Promise<T>): Promise<T> => {
    if (abandon.aborted) return Promise.reject(new BatchAbandonedError())
    promise.catch(() => {})
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new BatchAbandonedError())
      abandon.addEventListener('abort', onAbort, { once: true })
      promise.then(resolve, reject).finally(() => abandon.removeEventListener('abort', onAbort))
    })
  }

  /** Runs `operation` until it succeeds; once stopping, a failure abandons the batch instead. */
  async function retrying<T>(what: string, waitingFor: WaitingFor, operation: () => Promise<T>): Promise<T> {
    let retried = false
    try {
      const result = await retry(operation, {
        ...options.backoff,
        signal: options.stopping,
        onRetry: (error, attempt, delayMs) => {
          retried = true
          options.onWaiting?.(waitingFor)
          log.warn(`${what}.retry`, { error, attempt, delayMs })
        },
      })
      if (retried) {
        log.info(`${what}.recovered`)
        options.onWaiting?.(undefined)
      }
      return result
    } catch (error) {
      if (!options.stopping.aborted) throw error
      log.warn(`${what}.abandoned`, { error, reason: 'shutting down; the batch is not committed and will be re-delivered' })
      throw new BatchAbandonedError(error)
    }
  }

  async function handleBatch(messages: readonly ConsumedMessage[], before: Promise<unknown>): Promise<BatchResult> {
    const { rows, letters, offsets, handled } = sortBatch(messages, parts.decode)

    const written = await unlessAbandoned(retrying('database.write', WaitingFor.database, () => parts.write(rows)))
    for (const { row, error } of written.rejected) letters.push(deadLetterFor(row.message, error))

    if (letters.length > 0) {
      await unlessAbandoned(retrying('dead-letters.publish', WaitingFor.kafka, () => parts.publishDeadLetters(letters)))
      for (const { topic, partition, offset, code, reason } of letters) log.warn('message.dead-lettered', { topic, partition, offset, code, reason })
    }

    // Rejects if the batch before this one failed: then nothing after it may be committed either.
    await unlessAbandoned(before)
    if (abandon.aborted) throw new BatchAbandonedError()
    const assigned = parts.assigned()
    const committed = offsets.filter(({ topic, partition }) => assigned.has(partitionKey(topic, partition)))
    if (committed.length > 0) await unlessAbandoned(parts.commit(committed))
    return { inserted: written.inserted, handled, deadLetters: letters.length, committed }
  }

  return {
    handle(messages) {
      const task = handleBatch(messages, previous)
      previous = task
      // The caller sees a failure through `task`; the next batch through `previous`.
      task.catch(() => {})
      return task
    },
  }
}

/** Decodes a batch into rows and dead letters, one copy per message, with each partition's next offset. */
function sortBatch(messages: readonly ConsumedMessage[], decode: BatchParts['decode']) {
  const rows: DecodedRow[] = []
  const letters: DeadLetter[] = []
  const partitions = new Map<string, PartitionTaken>()
  let handled = 0
  // A batch holds runs of one partition's messages: the partition is looked up only when it changes.
  let current: PartitionTaken | undefined
  for (const message of messages) {
    if (current === undefined || current.partition !== message.partition || current.topic !== message.topic) {
      const key = partitionKey(message.topic, message.partition)
      current = partitions.get(key)
      if (current === undefined) {
        current = new PartitionTaken(message.topic, message.partition)
        partitions.set(key, current)
      }
    }
    if (!current.take(message)) continue
    handled++
    try {
      rows.push({ partition: message.partition, offset: message.offset, record: decode(message.value ?? EMPTY), message })
    } catch (error) {
      letters.push(deadLetterFor(message, error))
    }
  }
  return { rows, letters, offsets: [...partitions.values()].map((taken) => taken.next()), handled }
}

/** One partition's messages taken into a batch: each offset once, and the offset to commit after them. */
class PartitionTaken {
  private top = -1n
  private leaderEpoch = 0
  /** The offsets taken, until one comes that is not above all of them; from then on, `seen`. */
  private taken: bigint[] = []
  private seen: Set<bigint> | undefined

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** False for an offset already taken. Kafka hands on a partition in order: a message above every offset so far is new without a look-up. */
  take({ offset, leaderEpoch }: Pick<ConsumedMessage, 'offset' | 'leaderEpoch'>): boolean {
    if (offset <= this.top) {
      // Only a re-delivery (after a rebalance) comes back below the top.
      this.seen ??= new Set(this.taken)
      if (this.seen.has(offset)) return false
    } else {
      this.top = offset
      this.leaderEpoch = leaderEpoch
    }
    if (this.seen) this.seen.add(offset)
    else this.taken.push(offset)
    return true
  }

  /** The next offset to read: after the highest taken, with that message's leader epoch. */
  next(): PartitionOffset {
    return { topic: this.topic, partition: this.partition, offset: this.top + 1n, leaderEpoch: this.leaderEpoch }
  }
}

const EMPTY = Buffer.alloc(0)
