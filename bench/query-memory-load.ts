/**
 * A separate process of HTTP clients for the query API's memory benchmark (bench/query-memory.bench.ts): each
 * client reads its answers as they stream in (bench/json-scan.ts), holding none of them, and for JSON follows
 * `pagination.next_cursor` while `pagination.has_more` is true, so it works whether a page ends at the row
 * limit or earlier at a byte budget. Every request has its own time limit. Prints `{"type":"started"}` when the
 * clients start, then one summary line on stdout.
 *
 *   bun bench/query-memory-load.ts '{"origin":"http://127.0.0.1:8080","timeoutMs":60000,"clients":[{"path":"/query?service=big&limit=1000","format":"json"}]}'
 */
import { JsonScanner, NdjsonScanner } from './json-scan.ts'

export interface ClientSpec {
  path: string
  /** json: a JSON document, pages followed by cursor; ndjson: one streamed export. */
  format: 'json' | 'ndjson'
}

export interface QueryLoadOptions {
  origin: string
  /** Per request, the whole body included. */
  timeoutMs: number
  clients: ClientSpec[]
  /** Pages a client follows at most (a cursor that never ends would otherwise loop for ever). */
  maxPages?: number
}

export interface ClientResult {
  path: string
  requests: number
  /** Count per HTTP status, or per failure ("timeout", "connection: …") when no status came. */
  statuses: Record<string, number>
  /** JSON: elements of each top-level array, summed over the pages (`logs`; context's `log`, `before`, `after`). */
  counts: Record<string, number>
  /** Log ids seen, and how many of them were distinct. */
  ids: number
  distinctIds: number
  /** NDJSON: lines, and `{"error":…}` lines among them. */
  lines: number
  errorLines: number
  bytes: number
  largestResponseBytes: number
  seconds: number
  slowestRequestSeconds: number
  /** The small top-level values of the last answer (pagination, took_ms, error, …). */
  lastFields: Record<string, unknown>
  /** Fields over 64 kB seen at the top level (not kept): e.g. context's `log`. */
  largeFields: string[]
  /** The first failure: status and the start of its body, an NDJSON error line, or the exception. */
  firstFailure?: string
  /** Why the client stopped before the end of the result, if it did. */
  stopped?: string
}

export interface QueryLoadSummary {
  type: 'summary'
  seconds: number
  clients: ClientResult[]
}

const textOf = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 200)

async function runClient(options: QueryLoadOptions, spec: ClientSpec): Promise<ClientResult> {
  const result: ClientResult = {
    path: spec.path,
    requests: 0,
    statuses: {},
    counts: {},
    ids: 0,
    distinctIds: 0,
    lines: 0,
    errorLines: 0,
    bytes: 0,
    largestResponseBytes: 0,
    seconds: 0,
    slowestRequestSeconds: 0,
    lastFields: {},
    largeFields: [],
  }
  const ids = new Set<string>()
  const count = (key: string) => {
    result.statuses[key] = (result.statuses[key] ?? 0) + 1
  }
  const began = performance.now()
  let url: URL | undefined = new URL(spec.path, options.origin)
  for (let page = 0; url && page < (options.maxPages ?? 10_000); page++) {
    const requestBegan = performance.now()
    const abort = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      abort.abort()
    }, options.timeoutMs)
    result.requests += 1
    const json = new JsonScanner()
    const ndjson = new NdjsonScanner()
    const scanner = spec.format === 'json' ? json : ndjson
    let status: number | undefined
    try {
      const response = await fetch(url, { signal: abort.signal })
      status = response.status
      for await (const chunk of response.body ?? []) scanner.push(chunk)
      ndjson.end()
      count(String(status))
    } catch (error) {
      const key = timedOut
        ? `timeout (${options.timeoutMs / 1000} s)${status ? ` after status ${status}` : ''}`
        : `failed${status ? ` after status ${status}` : ''}`
      count(key)
      result.firstFailure ??= `${key}: ${textOf(error)}`
      result.stopped = key
      url = undefined
    } finally {
      clearTimeout(timer)
    }
    const seconds = (performance.now() - requestBegan) / 1000
    result.slowestRequestSeconds = Math.max(result.slowestRequestSeconds, seconds)
    result.bytes += scanner.bytes
    result.largestResponseBytes = Math.max(result.largestResponseBytes, scanner.bytes)
    // What arrived counts, a cut-off answer's part too.
    result.lines += ndjson.lines
    result.errorLines += ndjson.errorLines
    if (ndjson.firstErrorLine) result.firstFailure ??= `NDJSON error line: ${ndjson.firstErrorLine}`
    for (const [key, n] of Object.entries(json.counts)) result.counts[key] = (result.counts[key] ?? 0) + n
    for (const id of json.ids) ids.add(id)
    result.ids += json.ids.length
    result.lastFields = json.fields
    for (const field of json.largeFields) if (!result.largeFields.includes(field)) result.largeFields.push(field)
    if (!url) break
    if (status !== 200) {
      result.firstFailure ??= `status ${status}: ${JSON.stringify(json.fields).slice(0, 300)}`
      result.stopped = `status ${status}`
      break
    }
    if (spec.format === 'ndjson') {
      url = undefined
      break
    }
    const pagination = json.fields.pagination as { has_more?: boolean; next_cursor?: string | null } | undefined
    if (pagination?.has_more === true && typeof pagination.next_cursor === 'string') {
      url = new URL(url)
      url.searchParams.delete('page')
      url.searchParams.set('cursor', pagination.next_cursor)
    } else url = undefined
  }
  if (url && !result.stopped) result.stopped = `more than ${options.maxPages ?? 10_000} pages`
  result.distinctIds = ids.size
  result.seconds = (performance.now() - began) / 1000
  return result
}

export async function runQueryLoad(options: QueryLoadOptions, onStart: () => void): Promise<QueryLoadSummary> {
  onStart()
  const began = performance.now()
  const clients = await Promise.all(options.clients.map((spec) => runClient(options, spec)))
  return { type: 'summary', seconds: (performance.now() - began) / 1000, clients }
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as QueryLoadOptions
  const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)
  write(await runQueryLoad(options, () => write({ type: 'started' })))
  process.exit(0)
}
