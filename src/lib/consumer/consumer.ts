import { decodeLogRecord } from '../codec.ts'
import type { Config } from '../config.ts'
import { createDeadLetterPublisher } from '../dead-letters.ts'
import { BatchAbandonedError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { createLogWriter } from '../log-writer.ts'
import type { ConsumerMetrics } from '../metrics.ts'
import { backoffMs, sleep } from '../retry.ts'
import { withTimeout } from '../timeout.ts'
import { connectForWrites } from '../write-pool.ts'
import { type BatchParts, type BatchResult, createBatchHandler, WaitingFor } from './batch-handler.ts'
import { type KafkaSession, type OpenSession, openKafkaSession } from './kafka-session.ts'
import { type ConsumedMessage, partitionKey } from './message.ts'
import { meteredBatch } from './metered-batch.ts'
import { type Held, readBatches } from './reader.ts'
import { ConsumerStates, type ConsumerStats, initialStats } from './stats.ts'

export interface LogConsumer {
  stats(): ConsumerStats
  /** Messages not yet committed on this member's partitions; undefined while not in the group. */
  lag(): Promise<number | undefined>
  /** The same per partition number (logstream_consumer_lag); undefined while not in the group. */
  partitionLags(): Promise<ReadonlyMap<number, number> | undefined>
  /**
   * Writes and commits the batches in hand, leaves the group, closes every connection. A batch that cannot
   * be stored (the database is down) or is not done within the shutdown grace is abandoned, not committed.
   */
  stop(): Promise<void>
  /** Settles when the consumer has stopped (after stop(), or never on its own). */
  readonly done: Promise<void>
}

export type ConsumerSettings = Pick<Config['consume'], 'batchMaxRows' | 'batchMaxBytes' | 'lingerMs' | 'maxInFlightBatches' | 'retryMinMs' | 'retryMaxMs'> & {
  /** Longest stop() waits for batches in flight before abandoning them; leaves room in a 10 s stop for closing. */
  shutdownGraceMs?: number
}

/** Everything the consume loop talks to; startConsumer passes the real ones, tests pass fakes. */
export interface ConsumerParts {
  openSession: OpenSession
  batch: Pick<BatchParts, 'decode' | 'write' | 'publishDeadLetters'>
  /** Closes what `batch` uses (write pool, dead-letter producer); called once, after the last session. */
  close(): Promise<void>
  /** Called after each committed batch with its seconds from hand-off; the real consumer hints the garbage collector and times it here. */
  afterBatch?: (seconds: number) => void
}

/** With the bounded closes after it (Kafka ≤ 3.5 s, pool and producer ≤ 2 s), stop() ends within 10 s. */
const DEFAULT_SHUTDOWN_GRACE_MS = 4000

const STATE_WHILE_WAITING = { [WaitingFor.database]: ConsumerStates.waitingForDatabase, [WaitingFor.kafka]: ConsumerStates.reconnecting } as const

/** Reads logs.raw in the consumer group and writes it to PostgreSQL: the real Kafka, pool and dead-letter producer. */
export async function startConsumer({ config, log, metrics }: { config: Config; log: Logger; metrics?: ConsumerMetrics }): Promise<LogConsumer> {
  const sql = connectForWrites(config.databaseUrl, { max: config.dbPoolMax, writeTimeoutMs: config.consume.writeTimeoutMs })
  const writer = createLogWriter(sql)
  const deadLetters = createDeadLetterPublisher(config.kafka)
  const batch: ConsumerParts['batch'] = {
    decode: decodeLogRecord,
    write: (rows) => writer.write(rows),
    publishDeadLetters: (letters) => deadLetters.publish(letters),
  }
  const parts: ConsumerParts = {
    openSession: () => openKafkaSession(config.kafka, log),
    batch: metrics ? meteredBatch(batch, metrics) : batch,
    async close() {
      await withTimeout(deadLetters.close(), 1000, () => new Error('dead-letter producer did not close within 1 s')).catch(() => {})
      // A write abandoned at shutdown may still hold a connection: it is cut after this.
      await sql.end({ timeout: 1 })
    },
    // Each batch leaves megabytes of garbage (fetch buffers, decoded rows, query text); an asynchronous
    // collection hint after each keeps the peak RSS lower at the same speed (README, Consumer).
    afterBatch: (seconds) => {
      metrics?.batch(seconds)
      Bun.gc(false)
    },
  }
  return runConsumer(parts, config.consume, log)
}

/**
 * The consume loop: one Kafka session after another. A session reads batches (reader.ts) and hands them to
 * a batch handler of its own (batch-handler.ts, where the commit guarantees live). When Kafka fails (a
 * stream error, a failed commit) the session is closed and a new one joins after a backoff; messages held
 * and not committed are dropped and come again from the committed offsets, while batches already being
 * written finish first, so nothing is left half-committed.
 */
export function runConsumer(parts: ConsumerParts, settings: ConsumerSettings, log: Logger): LogConsumer {
  const stats = initialStats()
  const held: Held = { messages: 0, bytes: 0 }
  const stopping = new AbortController()
  const abandon = new AbortController()
  const backoff = { minMs: settings.retryMinMs, maxMs: settings.retryMaxMs }
  let current: KafkaSession | undefined

  async function runSession(session: KafkaSession): Promise<void> {
    const handler = createBatchHandler(
      { ...parts.batch, commit: (offsets) => session.commit(offsets), assigned: () => session.assigned() },
      {
        backoff,
        stopping: stopping.signal,
        abandon: abandon.signal,
        log,
        onWaiting: (what) => {
          stats.state = what === undefined ? ConsumerStates.running : STATE_WHILE_WAITING[what]
        },
      },
    )
    const handle = async (messages: ConsumedMessage[]) => {
      const began = performance.now()
      record(stats, await handler.handle(messages))
      parts.afterBatch?.((performance.now() - began) / 1000)
    }
    held.messages = 0
    held.bytes = 0
    await readBatches(session.stream, handle, { ...settings, stopping: stopping.signal, abandon: abandon.signal }, held)
  }

  async function run(): Promise<void> {
    for (let attempt = 0; !stopping.signal.aborted; ) {
      let delay = 0
      try {
        current = await joinUnlessStopped(parts.openSession, stopping.signal)
        stats.state = ConsumerStates.running
        log.info('kafka.consuming', { memberId: current.memberId })
        attempt = 0
        await runSession(current)
      } catch (error) {
        if (stopping.signal.aborted) {
          log.warn('consume.stopped-uncommitted', { error, reason: 'the uncommitted tail will be re-delivered; stored rows are skipped' })
          break
        }
        stats.state = ConsumerStates.reconnecting
        delay = backoffMs(attempt++, backoff)
        log.warn('kafka.reconnect', { error, attempt, delayMs: delay, reason: 'uncommitted messages will be re-delivered; stored ones are skipped' })
      } finally {
        const session = current
        current = undefined
        await session?.close()
      }
      await sleep(delay, stopping.signal)
    }
  }

  const done = run()
    .catch((error: unknown) => log.error('consume.failed', { error }))
    .finally(async () => {
      stats.state = ConsumerStates.stopped
      await parts.close().catch((error: unknown) => log.warn('consume.close-failed', { error }))
    })

  const partitionLags = async () => current?.lag().catch(() => undefined)

  return {
    stats: () => ({ ...stats, messagesInHand: held.messages, bytesInHand: held.bytes, committed: new Map(stats.committed) }),
    async lag() {
      const lags = await partitionLags()
      return lags && [...lags.values()].reduce((sum, lag) => sum + lag, 0)
    },
    partitionLags,
    async stop() {
      stopping.abort()
      const grace = setTimeout(() => abandon.abort(), settings.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS)
      await done
      clearTimeout(grace)
    },
    done,
  }
}

function record(stats: ConsumerStats, result: BatchResult): void {
  for (const { topic, partition, offset } of result.committed) stats.committed.set(partitionKey(topic, partition), offset)
  stats.rowsInserted += result.inserted
  stats.messagesHandled += result.handled
  stats.deadLetters += result.deadLetters
  stats.batches++
}

/** Opens a session; stop() does not wait for a join that hangs (the broker is down): that session is closed when it comes. */
function joinUnlessStopped(open: OpenSession, stopping: AbortSignal): Promise<KafkaSession> {
  const opening = open()
  return new Promise((resolve, reject) => {
    let joined = false
    const onStop = () => {
      if (joined) return
      reject(new BatchAbandonedError())
      opening.then(
        (session) => session.close(),
        () => {},
      )
    }
    stopping.addEventListener('abort', onStop, { once: true })
    opening
      .then((session) => {
        joined = true
        resolve(session)
      }, reject)
      .finally(() => stopping.removeEventListener('abort', onStop))
  })
}
