import { percentile } from './percentile.ts'
import type { QueryShape } from './query-shapes.ts'

/**
 * Timing HTTP requests against a query server: one shape one request at a time, or one shape from many
 * concurrent clients for a fixed time. Latency is as the client sees it (request sent to body read). A
 * non-200 answer is counted, never thrown: on the busy hour a 503 is a finding.
 */
export interface Latencies {
  /** Requests answered (any status) or failed. */
  count: number
  /** Non-200 answers plus requests that got no answer (network error, client timeout). */
  failures: number
  /** 503 answers (QUERY_TIMEOUT, DATABASE_UNAVAILABLE): part of failures. */
  unavailable: number
  /** Answers by status, and `error <code>` for requests without one. */
  statuses: Record<string, number>
  /** Requests sent again after a reset of a stale kept-alive connection (counted once, by their second outcome). */
  staleRetries: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface SequentialTiming extends Latencies {
  shape: QueryShape
  /** Logs returned per request (/query, context), or counted (histogram, facets: `total`), on average. */
  rowsAvg: number
  /** True when the time budget ended the run before its iterations. */
  cut: boolean
}

export interface ConcurrentTiming extends Latencies {
  shape: QueryShape
  clients: number
  seconds: number
}

interface Outcome {
  ms: number
  /** The HTTP status, or `error <code>` for a request that got no answer (e.g. the connection closed, the client's timeout). */
  status: number | string
  body?: string
  /** Sent again after a reset of a stale kept-alive connection (STALE_RESET_MS). */
  staleRetry?: boolean
}

/**
 * A reset this soon after sending comes from a kept-alive connection the server had already closed (Bun.serve
 * closes connections idle for 10 s, and the bench pauses between shapes while earlier statements end), not
 * from the request: browsers and most HTTP clients resend an idempotent GET then, and so does the bench, once.
 */
const STALE_RESET_MS = 20

async function attempt(url: string, timeoutMs: number, keepBody: boolean): Promise<Outcome> {
  const began = performance.now()
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    const body = await response.text()
    return { ms: performance.now() - began, status: response.status, body: keepBody ? body : undefined }
  } catch (error) {
    const { code, name } = error as { code?: string | number; name?: string }
    const status = name === 'TimeoutError' ? `error: no answer in ${timeoutMs / 1000} s` : `error ${code ?? name ?? 'unknown'}`
    return { ms: performance.now() - began, status }
  }
}

async function request(url: string, timeoutMs: number, keepBody: boolean): Promise<Outcome> {
  const first = await attempt(url, timeoutMs, keepBody)
  if (first.status !== 'error ECONNRESET' || first.ms >= STALE_RESET_MS) return first
  return { ...(await attempt(url, timeoutMs, keepBody)), staleRetry: true }
}

function summarise(outcomes: Outcome[]): Latencies {
  const times = outcomes.map((outcome) => outcome.ms).sort((a, b) => a - b)
  const statuses: Record<string, number> = {}
  for (const { status } of outcomes) statuses[status] = (statuses[status] ?? 0) + 1
  return {
    count: outcomes.length,
    failures: outcomes.filter((outcome) => outcome.status !== 200).length,
    unavailable: statuses['503'] ?? 0,
    statuses,
    staleRetries: outcomes.filter((outcome) => outcome.staleRetry).length,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    max: times.at(-1) ?? Number.NaN,
  }
}

/** Rows in one answer: logs returned, or the total a histogram or facets counted. */
function rowsOf(body: string | undefined): number {
  if (body === undefined) return 0
  try {
    const parsed = JSON.parse(body) as { logs?: unknown[]; total?: number; before?: unknown[]; after?: unknown[]; log?: unknown }
    if (parsed.logs) return parsed.logs.length
    if (parsed.log) return 1 + (parsed.before?.length ?? 0) + (parsed.after?.length ?? 0)
    return parsed.total ?? 0
  } catch {
    return 0
  }
}

export interface SequentialOptions {
  iterations: number
  /** Stop measuring after this long even if `iterations` are not done (a shape at the 10 s timeout would take ages). */
  budgetMs: number
  warmups: number
  timeoutMs: number
}

/** `shape` `iterations` times, one request at a time, after `warmups` untimed ones (cut short when slow). */
export async function timeSequential(origin: string, shape: QueryShape, options: SequentialOptions): Promise<SequentialTiming> {
  const warmStart = performance.now()
  for (let warm = 0; warm < options.warmups && performance.now() - warmStart < 5_000; warm++) {
    await request(origin + shape.path(), options.timeoutMs, false)
  }
  const outcomes: Outcome[] = []
  const began = performance.now()
  let rows = 0
  while (outcomes.length < options.iterations && performance.now() - began < options.budgetMs) {
    const outcome = await request(origin + shape.path(), options.timeoutMs, true)
    rows += outcome.status === 200 ? rowsOf(outcome.body) : 0
    outcome.body = undefined
    outcomes.push(outcome)
  }
  const ok = outcomes.filter((outcome) => outcome.status === 200).length
  return { shape, ...summarise(outcomes), rowsAvg: ok ? rows / ok : 0, cut: outcomes.length < options.iterations }
}

export interface ConcurrentOptions {
  clients: number
  durationMs: number
  timeoutMs: number
}

/**
 * `clients` loops, each sending `shape` requests one after another (a new random path each) until
 * `durationMs` has passed; requests in flight then are awaited and counted.
 */
export async function timeConcurrent(origin: string, shape: QueryShape, options: ConcurrentOptions): Promise<ConcurrentTiming> {
  const outcomes: Outcome[] = []
  const began = performance.now()
  const deadline = began + options.durationMs
  const loop = async () => {
    while (performance.now() < deadline) outcomes.push(await request(origin + shape.path(), options.timeoutMs, false))
  }
  await Promise.all(Array.from({ length: options.clients }, loop))
  return { shape, clients: options.clients, seconds: (performance.now() - began) / 1000, ...summarise(outcomes) }
}
