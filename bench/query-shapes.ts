import { formatMicros } from '../src/lib/log-entry.ts'
import { BUSY_HOSTS, BUSY_SERVICE, BUSY_TAG, generatedTraceId, HTTP_STATUSES, SERVICES, USERS } from './generated-logs.ts'

/**
 * The query shapes the benchmark times, each with its p95 target (issue 12 for the /query filters, issue 13
 * for attributes, histogram, facets and context). Every call of `path()` draws a new random service, window,
 * trace, id or word, so the cache never holds the answer to the next request. Export is measured apart
 * (query-export.ts).
 */
export type ShapeGroup = 'query' | 'full text' | 'attributes' | 'histogram' | 'facets' | 'context'

export interface QueryShape {
  name: string
  group: ShapeGroup
  /** p95 target one at a time, ms. */
  target: number
  /** Searches words (`q`): under 50 concurrent clients their p99 target is 2 s instead of 1 s. */
  fullText: boolean
  path: () => string
}

export interface ShapeData {
  rows: number
  /** Newest row of the data set: the "now" of every query. */
  end: Date
  /** Microseconds the rows span up to `end`. */
  spanMicros: number
  /** The busy hour (one service, hosts h1..h8, a tag on every log) or the 6-day table (8 skewed services, svc-0N hosts). */
  busy: boolean
  /** A cursor that starts page 50 of /query?limit=100 (walked before timing). */
  page50Cursor: string | null
  /** Ids of logs spread over the data, as /query returned them: what the context shapes look up. */
  logIds: string[]
}

const HOUR = 3_600_000_000
const DAY = 24 * HOUR
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!
const randomInt = (below: number) => Math.floor(Math.random() * below)
const REASONS = ['"card expired"', '"insufficient funds"', '"fraud suspected"', '"bank unavailable"'] as const

export function queryShapes(data: ShapeData): QueryShape[] {
  const endMicros = data.end.getTime() * 1000
  const range = (from: number, to: number) => `from=${encodeURIComponent(formatMicros(from))}&to=${encodeURIComponent(formatMicros(to))}`
  /** A window of `length` ending at a random point of the data (the busy hour: always the whole hour). */
  const window = (length: number) => {
    const to = data.busy || data.spanMicros <= length ? endMicros : endMicros - randomInt(data.spanMicros - length)
    return range(to - length, to)
  }
  const hour = () => window(HOUR)
  const day = () => window(DAY)
  const lastDay = () => range(endMicros - DAY, endMicros)
  // A dashboard asks up to now, and q/tags searches start from their upper bound (the kept data set ages
  // between runs, the real stream does not).
  const untilEnd = () => `to=${encodeURIComponent(formatMicros(endMicros))}`
  const service = () => (data.busy ? BUSY_SERVICE : pick(SERVICES))
  const host = () => (data.busy ? `h${1 + randomInt(BUSY_HOSTS)}` : `${pick(SERVICES)}-0${1 + randomInt(6)}`)
  const row = () => 1 + randomInt(data.rows)
  const q = (text: string) => `q=${encodeURIComponent(text)}`
  const user = () => `attr.user.id=u${randomInt(USERS)}`
  const status500 = `attr.http.status=${HTTP_STATUSES[7]}`

  // biome-ignore format: a table of shapes
  const shapes: Omit<QueryShape, 'fullText'>[] = [
    { group: 'query', name: 'latest 100', target: 50, path: () => '/query?limit=100' },
    { group: 'query', name: 'service + level=ERROR over 1 h', target: 50, path: () => `/query?service=${service()}&level=ERROR&${hour()}` },
    { group: 'query', name: 'service over 1 h', target: 50, path: () => `/query?service=${service()}&${hour()}` },
    { group: 'query', name: 'level=FATAL (rare), latest 100', target: 50, path: () => '/query?level=FATAL' },
    { group: 'query', name: 'trace look-up', target: 50, path: () => `/query/${generatedTraceId(row())}` },
    { group: 'query', name: 'tags env:staging + version', target: 50, path: () => `/query?tags=env:staging&tags=version:v1.${randomInt(20)}&${untilEnd()}` },
    { group: 'query', name: 'host, latest 100', target: 50, path: () => `/query?host=${host()}` },
    // The issue's `tags=load&host=h3`: a tag on every log of the busy hour (on the 6-day table env:prod, 90 %).
    { group: 'query', name: data.busy ? `tags=${BUSY_TAG} (every log) + host` : 'tags=env:prod (90 %) + host', target: 50, path: () => `/query?tags=${data.busy ? BUSY_TAG : 'env:prod'}&host=${host()}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text, common phrase (~3 %)', target: 200, path: () => `/query?${q(pick(REASONS))}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text, rare word', target: 200, path: () => `/query?q=u${randomInt(100_000)}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text, two common words that never meet', target: 200, path: () => `/query?${q(pick(['refused shipped', 'cache declined', 'timeout warehouse']))}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text, a word no log has', target: 200, path: () => `/query?q=nowhere${randomInt(1_000_000)}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text, "x" or error (~12 %)', target: 200, path: () => `/query?${q('"x" or error')}&${untilEnd()}` },
    { group: 'query', name: 'tags, a tag no log has', target: 50, path: () => `/query?tags=team:nobody${randomInt(1000)}&${untilEnd()}` },
    { group: 'full text', name: 'q full-text + service over 1 h', target: 200, path: () => `/query?q=timeout&service=${service()}&${hour()}` },
    { group: 'query', name: 'page 50 (limit 100)', target: 50, path: () => '/query?limit=100&page=50' },
    { group: 'query', name: 'cursor page 50 (limit 100)', target: 50, path: () => `/query?limit=100${data.page50Cursor ? `&cursor=${data.page50Cursor}` : ''}` },
    { group: 'attributes', name: 'attr user.id (one user) over 1 h', target: 100, path: () => `/query?${user()}&${hour()}` },
    { group: 'attributes', name: 'attr user.id (one user) over 24 h', target: 500, path: () => `/query?${user()}&${day()}` },
    { group: 'attributes', name: 'attr http.status=500 (11 %) over 1 h', target: 100, path: () => `/query?${status500}&${hour()}` },
    { group: 'attributes', name: 'attr http.status=500 (11 %) over 24 h', target: 500, path: () => `/query?${status500}&${day()}` },
    { group: 'attributes', name: 'attr http.status=500 + service over 1 h', target: 100, path: () => `/query?${status500}&service=${service()}&${hour()}` },
    { group: 'histogram', name: 'histogram last 24 h by level', target: 150, path: () => `/histogram?${lastDay()}` },
    { group: 'histogram', name: 'histogram last 24 h, service', target: 150, path: () => `/histogram?service=${service()}&${lastDay()}` },
    { group: 'histogram', name: 'histogram last 24 h, level=ERROR', target: 150, path: () => `/histogram?level=ERROR&${lastDay()}` },
    { group: 'histogram', name: 'histogram last 24 h, host', target: 150, path: () => `/histogram?host=${host()}&${lastDay()}` },
    { group: 'histogram', name: 'histogram 1 h, q=timeout (~12 %)', target: 1000, path: () => `/histogram?q=timeout&${hour()}` },
    { group: 'histogram', name: 'histogram 1 h, attr http.status=500', target: 1000, path: () => `/histogram?${status500}&${hour()}` },
    { group: 'facets', name: 'facets 1 h (service, level, host, tags)', target: 300, path: () => `/facets?${hour()}` },
    { group: 'facets', name: 'facets 1 h, attr.http.status + attr.region', target: 300, path: () => `/facets?fields=service,level,attr.http.status,attr.region&${hour()}` },
    { group: 'context', name: 'context of a log (20 + 20)', target: 50, path: () => `/query/${pick(data.logIds)}/context` },
    { group: 'context', name: 'context, same host (20 + 20)', target: 50, path: () => `/query/${pick(data.logIds)}/context?same_host=true` },
  ]
  return shapes.map((shape) => ({ ...shape, fullText: /[?&]q=/.test(shape.path()) }))
}
