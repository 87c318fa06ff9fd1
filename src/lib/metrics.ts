import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { IntakeStats } from './intake.ts'
import { withTimeout } from './timeout.ts'

/**
 * Prometheus metrics (issue 16), through prom-client rather than hand-written exposition. Each service
 * makes one Registry of its own and passes it in, so two services in one process (the tests) never share
 * or double-register a metric. Every name starts with `logstream_`.
 */

/** A registry holding prom-client's default process metrics (CPU, memory, event loop lag, handles) under our prefix. */
export function createRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'logstream_' })
  return registry
}

/** GET /metrics: the registry in Prometheus text format, with prom-client's content type (version included). */
export async function metricsResponse(registry: Registry): Promise<Response> {
  return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } })
}

/** The protocol label of ingest metrics: one value per intake protocol, so the label stays bounded. */
export type IngestProtocol = 'grpc' | 'otlp_grpc' | 'otlp_http' | 'loki' | 'elasticsearch' | 'jsonlines'

/** Seconds from a request's arrival to its OK answer: Kafka's acknowledgement dominates, so up to the send timeout. */
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class IngestMetrics {
  readonly #entries: Counter<'protocol' | 'result'>
  readonly #ack: Histogram<'protocol'>

  /** `stats` is read at each scrape, so the gauge shows the intake as it is then, not as it was last counted. */
  constructor(registry: Registry, stats: () => Pick<IntakeStats, 'pendingBytes'>) {
    this.#entries = new Counter({
      name: 'logstream_ingest_entries_total',
      help: 'Log entries received, by protocol and result: accepted (Kafka acknowledged it), rejected (invalid), failed (the request failed: overload, rate limit, Kafka down, shutdown)',
      labelNames: ['protocol', 'result'],
      registers: [registry],
    })
    this.#ack = new Histogram({
      name: 'logstream_ingest_ack_seconds',
      help: 'Seconds from receiving a request to answering it OK, for requests with accepted entries',
      labelNames: ['protocol'],
      buckets: ACK_BUCKETS,
      registers: [registry],
    })
    new Gauge({
      name: 'logstream_ingest_pending_bytes',
      help: 'Bytes of accepted entries batched and not yet sent to Kafka',
      registers: [registry],
      collect() {
        this.set(stats().pendingBytes)
      },
    })
  }

  count(protocol: IngestProtocol, result: 'accepted' | 'rejected' | 'failed', entries: number): void {
    if (entries > 0) this.#entries.inc({ protocol, result }, entries)
  }

  ack(protocol: IngestProtocol, seconds: number): void {
    this.#ack.observe({ protocol }, seconds)
  }
}

/** Route labels of requests that matched no route: one value, so scanners probing URLs add no series. */
export const UNMATCHED_ROUTE = 'unmatched'

export class QueryMetrics {
  readonly #requests: Counter<'route' | 'status'>
  readonly #seconds: Histogram<'route'>

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: 'logstream_query_requests_total',
      help: 'Query API requests answered, by route pattern and HTTP status',
      labelNames: ['route', 'status'],
      registers: [registry],
    })
    this.#seconds = new Histogram({
      name: 'logstream_query_seconds',
      help: 'Seconds to answer a query API request, by route pattern',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    })
  }

  /** `route` is the router's pattern (/query/:trace_id), never the raw URL; empty means no route matched. */
  answered(route: string, status: number, seconds: number): void {
    const label = route || UNMATCHED_ROUTE
    this.#requests.inc({ route: label, status: String(status) })
    this.#seconds.observe({ route: label }, seconds)
  }
}

/**
 * Why a message was dead-lettered, as a bounded label: a DeadLetter's code is MESSAGE_UNDECODABLE, a PostgreSQL
 * SQLSTATE (five characters) for a row the database refused, or UNKNOWN; the exact code and reason travel in the
 * letter's headers (dead-letters.ts), where an operator looks next.
 */
export const DEAD_LETTER_REASONS = ['undecodable', 'database_refused', 'unknown'] as const
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number]

export function deadLetterReason(code: string): DeadLetterReason {
  if (code === 'MESSAGE_UNDECODABLE') return 'undecodable'
  return /^[0-9A-Z]{5}$/.test(code) ? 'database_refused' : 'unknown'
}

/** Lag per partition number of the partitions this member is assigned; undefined while not in the group. */
export type PartitionLags = () => Promise<ReadonlyMap<number, number> | undefined>

/** A scrape must answer within Prometheus's timeout (10 s by default) even when Kafka does not. */
const LAG_TIMEOUT_MS = 2000

/** A batch goes from a few milliseconds to the write timeout (30 s) while PostgreSQL is slow or retried. */
const BATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export class ConsumerMetrics {
  readonly #rows: Counter<'result'>
  readonly #batch: Histogram
  readonly #deadLetters: Counter<'reason'>

  /** `lags` is asked at each scrape, so the gauge shows Kafka's offsets then, not as last logged. */
  constructor(registry: Registry, lags: PartitionLags) {
    this.#rows = new Counter({
      name: 'logstream_consumer_rows_total',
      help: 'Rows written to PostgreSQL, by result: inserted, or duplicate (a re-delivered row already stored, skipped)',
      labelNames: ['result'],
      registers: [registry],
    })
    this.#batch = new Histogram({
      name: 'logstream_consumer_batch_seconds',
      help: 'Seconds from handing a batch to the writer until its offsets were committed: decode, write (with retries), dead letters, commit, after the batch before it',
      buckets: BATCH_BUCKETS,
      registers: [registry],
    })
    this.#deadLetters = new Counter({
      name: 'logstream_dead_letters_total',
      help: 'Messages published to the dead-letter topic, by reason: undecodable, database_refused (a SQLSTATE), unknown',
      labelNames: ['reason'],
      registers: [registry],
    })
    // Every value exists from the start at 0, so rate() and increase() see the first row or letter.
    for (const result of ['inserted', 'duplicate']) this.#rows.inc({ result }, 0)
    for (const reason of DEAD_LETTER_REASONS) this.#deadLetters.inc({ reason }, 0)
    new Gauge({
      name: 'logstream_consumer_lag',
      help: "Messages not yet committed per partition assigned to this member (high watermark minus the group's committed offset)",
      labelNames: ['partition'],
      registers: [registry],
      async collect() {
        // Unknown (not in the group, Kafka slow or down) shows as no series rather than a stale value.
        const current = await withTimeout(lags(), LAG_TIMEOUT_MS, () => new Error('no lag')).catch(() => undefined)
        this.reset()
        for (const [partition, lag] of current ?? []) this.set({ partition: String(partition) }, lag)
      },
    })
  }

  /** One successful write of `rows` rows: those inserted, those already stored; refused rows become dead letters. */
  written(rows: number, inserted: number, refused: number): void {
    if (inserted > 0) this.#rows.inc({ result: 'inserted' }, inserted)
    const duplicates = rows - inserted - refused
    if (duplicates > 0) this.#rows.inc({ result: 'duplicate' }, duplicates)
  }

  batch(seconds: number): void {
    this.#batch.observe(seconds)
  }

  /** Letters Kafka acknowledged: a batch re-delivered after a failed commit publishes (and counts) them again. */
  deadLettered(letters: readonly { code: string }[]): void {
    for (const { code } of letters) this.#deadLetters.inc({ reason: deadLetterReason(code) })
  }
}
