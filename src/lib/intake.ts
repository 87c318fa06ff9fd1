import { fullGC } from 'bun:jsc'
import { Batcher, type BatcherStats } from './batcher.ts'
import { encodeLogRecord, withServerTimestamp } from './codec.ts'
import type { Config } from './config.ts'
import { IngestOverloadedError, IngestShuttingDownError, RequestInvalidError } from './errors.ts'
import { ByteBudget, type Reservation } from './intake-budget.ts'
import type { Logger } from './log.ts'
import { type LogEntryInput, type LogRecord, validateEntry } from './log-entry.ts'
import type { LogProducer, OutgoingMessage } from './producer.ts'
import { asBuffer, type IngestResponse, type Rejection } from './proto.ts'

/**
 * The intake path, whatever the transport: validate each entry, batch the valid ones with every other
 * caller's into Kafka, and answer only once Kafka has acknowledged all of them. Transports (the gRPC
 * service today) turn their wire format into IntakeEntry values and render the result or the typed error.
 */

/** One log as a transport hands it over. */
export interface IntakeEntry {
  input: LogEntryInput
  /**
   * The entry's logstream.LogEntry encoding exactly as the client sent it, when the transport has one:
   * if it is already canonical it goes to Kafka as it is, without re-encoding.
   */
  bytes?: Uint8Array
}

export interface AcceptOptions {
  /** Longest wait for Kafka's acknowledgement; past it the call fails with KafkaUnavailableError. */
  timeoutMs: number
  /** Aborted when the caller went away: entries not yet sent are dropped. */
  signal?: AbortSignal
}

/** No entry of the request is valid: retrying it unchanged cannot help. `response` describes every entry. */
export class NoValidLogsError extends RequestInvalidError {
  readonly response: IngestResponse
  constructor(response: IngestResponse) {
    super(`no valid logs: ${response.error}`)
    this.response = response
  }
}

export interface IntakeStats extends BatcherStats {
  /** Request bytes held by transports (reserved with `reserve`). */
  reservedBytes: number
  /** Accepted entries awaiting Kafka, at their in-memory cost. */
  heldBytes: number
}

export interface Intake {
  /**
   * Resolves with the per-entry outcome once Kafka has acknowledged every valid entry. Throws
   * RequestInvalidError (NoValidLogsError when entries were given but none is valid), IngestOverloadedError,
   * KafkaUnavailableError, IngestShuttingDownError, or the signal's reason.
   */
  accept(entries: IntakeEntry[], options: AcceptOptions): Promise<IngestResponse>
  /**
   * Takes room for a request of `bytes` from the process-wide budget before the transport reads it, waiting
   * up to RESERVE_WAIT_MS behind earlier requests, or throws IngestOverloadedError (IngestShuttingDownError
   * once closing). The transport releases it once it answered.
   */
  reserve(bytes: number): Promise<Reservation>
  readonly stats: IntakeStats
  /**
   * Told how many entries of a request a protocol's parser refused before they could reach accept; only
   * metered intakes (metered-intake.ts) keep it, for logstream_ingest_entries_total.
   */
  refused?(count: number): void
  /** Refuses new work, sends everything queued at once, and resolves when every send has settled. */
  close(): Promise<void>
}

export interface IntakeDependencies {
  producer: LogProducer
  log: Logger
}

/**
 * Memory an accepted entry takes beyond its bytes while it waits for Kafka: its decoded fields, the
 * validated record, the Kafka message and the batcher's bookkeeping (measured, README ingest section).
 */
export const ENTRY_COST_BYTES = 1024

/** Rejections named in an error message; the full list is in the response. */
const SUMMARY_ITEMS = 3
/**
 * How long a request may queue for room in the read budget before it is refused. A transport reserves the
 * largest request it may receive before reading (the size is not known yet) and then only the real size,
 * so small requests pass through the queue in moments; only a budget held by large requests for this
 * long makes clients back off.
 */
export const RESERVE_WAIT_MS = 1000

function summarise(rejections: Rejection[], total: number): string {
  if (rejections.length === 0) return ''
  const shown = rejections.slice(0, SUMMARY_ITEMS).map((item) => `logs[${item.index}].${item.field} ${item.reason}`)
  const more = rejections.length > SUMMARY_ITEMS ? `; and ${rejections.length - SUMMARY_ITEMS} more` : ''
  return `${rejections.length} of ${total} logs rejected: ${shown.join('; ')}${more}`
}

/**
 * True when re-encoding `record` would give back what the client sent, field for field, but for the
 * server's time on an entry sent without one (appended by toKafkaValue), so the original bytes can go to
 * Kafka. Bytes that claim the server's timestamp (the ingest service's flag for the consumer) are
 * re-encoded without it. A size check keeps unknown fields from smuggling extra bytes past the entry limits.
 */
function isCanonical(input: LogEntryInput, record: LogRecord, recordBytes: number, bytes: Uint8Array): boolean {
  return (
    !input.timestamp_from_server &&
    record.service === input.service &&
    record.level === input.level &&
    record.metadata === input.metadata &&
    record.traceId === input.trace_id &&
    record.spanId === input.span_id &&
    record.host === input.host &&
    bytes.length <= recordBytes + 64 + 4 * record.tags.length
  )
}

/** The Kafka value of a valid entry: the client's bytes when canonical (with the server's time when it gave none), else `record` encoded. */
function toKafkaValue(input: LogEntryInput, record: LogRecord, recordBytes: number, bytes: Uint8Array | undefined): Buffer {
  if (bytes && isCanonical(input, record, recordBytes, bytes)) {
    return input.timestamp == null ? withServerTimestamp(bytes, record.timestampMicros) : asBuffer(bytes)
  }
  return asBuffer(encodeLogRecord(record))
}

export function createIntake(config: Pick<Config, 'ingest' | 'retentionDays'>, { producer, log }: IntakeDependencies): Intake {
  const ingest = config.ingest
  const window = { retentionDays: config.retentionDays, maxFutureSeconds: ingest.maxFutureSeconds }
  // Two budgets of the same size, so that requests being read can never starve those already accepted:
  // `reading` holds each request's wire bytes from before it is read until it is answered (transports
  // reserve it); `held` holds accepted entries from validation until Kafka acknowledged them.
  const reading = new ByteBudget(ingest.maxPendingBytes)
  const held = new ByteBudget(ingest.maxPendingBytes)
  const batcher = new Batcher<OutgoingMessage>(
    {
      maxCount: ingest.batchMaxCount,
      maxBytes: ingest.batchMaxBytes,
      lingerMs: ingest.lingerMs,
      maxPendingBytes: ingest.maxPendingBytes,
      maxInFlight: ingest.maxInFlightBatches,
    },
    async (messages) => {
      const began = performance.now()
      try {
        await producer.send(messages, ingest.sendTimeoutMs)
        log.debug('ingest.batch.acked', { count: messages.length, ms: Math.round(performance.now() - began) })
      } catch (error) {
        log.warn('ingest.batch.failed', { count: messages.length, ms: Math.round(performance.now() - began), error, detail: (error as Error).message })
        throw error
      }
    },
  )
  let closing = false
  // Answered requests leave their buffers and decoded strings as garbage, which Bun's collector let pile up
  // to several times the budget under large requests; a synchronous collection per quarter budget of
  // answered request bytes keeps the process near its bound (measured in README, ingest: an asynchronous
  // hint did not). JavaScriptCore's full collection, not Bun.gc(true): that one also hands mimalloc's free
  // memory back to the system, and the requests after it spend more CPU, in the kernel (faulting memory back
  // in) and in JavaScript, than the collection itself.
  let answeredBytes = 0
  const collectAfter = (bytes: number) => {
    answeredBytes += bytes
    if (answeredBytes < reading.limit / 4) return
    answeredBytes = 0
    fullGC()
  }

  const validateAndStore = async (entries: IntakeEntry[], options: AcceptOptions, holding: Reservation): Promise<IngestResponse> => {
    const rejections: Rejection[] = []
    const items: { value: OutgoingMessage; bytes: number }[] = []
    for (const [index, { input, bytes }] of entries.entries()) {
      const result = validateEntry(input, undefined, window)
      if (!result.ok) {
        rejections.push({ index, field: result.violation.field, reason: result.violation.reason })
        continue
      }
      const value = toKafkaValue(input, result.record, result.bytes, bytes)
      const key = result.record.service
      items.push({ value: { key, value }, bytes: value.length + key.length })
    }
    const response: IngestResponse = { accepted: items.length, rejected: rejections.length, error: summarise(rejections, entries.length), rejections }
    if (items.length === 0) throw new NoValidLogsError(response)
    holding.resize(items.reduce((sum, item) => sum + item.bytes, 0) + items.length * ENTRY_COST_BYTES)

    const stored = batcher.submit(items, options)
    log.debug('ingest.queued', { accepted: items.length, rejected: rejections.length })
    await stored
    return response
  }

  return {
    async accept(entries, options) {
      if (closing) throw new IngestShuttingDownError()
      if (entries.length === 0) throw new RequestInvalidError('the request has no logs')

      // Counted before validation, so an overloaded service spends no CPU on work it is about to refuse.
      const estimate = entries.reduce((sum, entry) => sum + (entry.bytes?.length ?? 0), 0) + entries.length * ENTRY_COST_BYTES
      const holding = held.tryReserve(estimate)
      if (!holding)
        throw new IngestOverloadedError(`ingest is holding ${held.used} bytes of accepted logs not yet in Kafka (limit ${held.limit}); retry with backoff`)
      try {
        return await validateAndStore(entries, options, holding)
      } finally {
        holding.release()
      }
    },

    async reserve(bytes) {
      if (closing) throw new IngestShuttingDownError()
      // Reading a request that would find no room among the accepted entries only makes garbage.
      if (held.used > 0 && held.used + bytes > held.limit) {
        throw new IngestOverloadedError(`ingest is holding ${held.used} bytes of accepted logs not yet in Kafka (limit ${held.limit}); retry with backoff`)
      }
      const reservation = await reading.reserve(
        bytes,
        RESERVE_WAIT_MS,
        () => new IngestOverloadedError(`ingest is holding ${reading.used} bytes of requests (limit ${reading.limit}); retry with backoff`),
      )
      return {
        get bytes() {
          return reservation.bytes
        },
        resize: (next) => reservation.resize(next),
        release: () => {
          const bytes = reservation.bytes
          reservation.release()
          collectAfter(bytes)
        },
      }
    },

    get stats() {
      return { ...batcher.stats, reservedBytes: reading.used, heldBytes: held.used }
    },

    async close() {
      closing = true
      await batcher.close()
    },
  }
}
