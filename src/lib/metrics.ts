import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { IntakeStats } from './intake.ts'

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
