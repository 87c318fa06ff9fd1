import type { AttributeFilter } from './attribute-filters.ts'
import type { Sql } from './db.ts'
import { type LogRow, logColumns } from './log-rows.ts'
import type { Search } from './log-search.ts'
import { withPlan } from './search-plans.ts'
import { searchConditions, searchQuery } from './search-sql.ts'

/**
 * The rows of one page of a search, each shape with the plan made for it (search-plans.ts), whatever the
 * statistics say:
 *   - trace_id: the trace index finds the trace's few rows; every other filter applies to them.
 *   - btree filters only (service, level, host, time, cursor, attribute presence and negations): an
 *     ordered scan of (service, timestamp) or of the primary key, newest first, the rest as filters.
 *   - GIN filters (q, tags, attr.<path>=value), which no index answers in time order:
 *       1. sample: the newest SAMPLE_ROWS rows that pass the btree filters, read by that ordered scan, the
 *          GIN conditions as filters. Common terms (a tag on every log, a word in 5 % of them) end here.
 *       2. larger samples, each as large as the last one's share of matches says holds the page (twice
 *          that, and at least twice the last, up to MAX_SAMPLE_ROWS, a fifth of it with q): terms down to
 *          ~0.2 % of the rows (1 % with q). Several tries, because a first sample of a 0.5 % term holds
 *          only ~10 matches and misjudges its share by half as often as not.
 *       3. everything: the GIN indexes alone find the matches, every other condition applies to them.
 *     A sample holding limit + 1 matches past the offset holds exactly the newest matches overall, since all
 *     it left out is older. So does a sample that held every row passing the btree filters (fewer rows pass
 *     them than it read: a service over an hour on a quiet day), whatever its matches: the answer, complete.
 *     No match at all in the first sample means rare terms: straight to everything, one look-up that is
 *     cheap for them.
 * The GIN indexes are never ANDed with a btree range: without statistics PostgreSQL chose the GIN index alone
 * for a time window (every match of a 3 % phrase in a busy hour, 37 s) or ANDed the primary key's whole
 * range. In phase 3 they sit alone in an inner query (drivenQuery).
 */
const SAMPLE_ROWS = 2_000
const MAX_SAMPLE_ROWS = 100_000

const isGinAttribute = (filter: AttributeFilter) => !filter.negate && filter.value !== undefined

/** True when a filter only a GIN index answers well is present: q, tags, or an attribute equality. */
export function usesGinFilters(search: Search): boolean {
  return search.q !== undefined || search.tags.length > 0 || (search.attr?.some(isGinAttribute) ?? false)
}

/** The GIN-answered conditions of `search` alone, and `search` without them (exported for EXPLAIN in tests). */
export function splitGin(search: Search): { gin: Search; rest: Search } {
  const attr = search.attr ?? []
  return {
    gin: { tags: search.tags, q: search.q, attr: attr.filter(isGinAttribute), limit: search.limit, page: search.page },
    rest: { ...search, q: undefined, tags: [], attr: attr.filter((filter) => !isGinAttribute(filter)) },
  }
}

const newestFirst = (sql: Sql) => sql`order by logs.timestamp desc, logs.kafka_partition desc, logs.kafka_offset desc`
const pageOf = (sql: Sql, search: Search) => sql`limit ${search.limit + 1} offset ${(search.page - 1) * search.limit}`

/** A sample: the newest `rows` rows passing the btree filters of `search`, read by the ordered scan. */
const newestCandidates = (sql: Sql, search: Search, rows: number) =>
  sql`select * from logs where ${searchConditions(sql, splitGin(search).rest)} ${newestFirst(sql)} limit ${rows}`

/** The GIN conditions over the newest `rows` rows passing the others (exported for EXPLAIN in tests). */
export function sampleQuery(sql: Sql, search: Search, rows: number = SAMPLE_ROWS) {
  return sql<LogRow[]>`
    select ${logColumns(sql)} from (${newestCandidates(sql, search, rows)}) as logs
    where ${searchConditions(sql, splitGin(search).gin)}
    ${newestFirst(sql)} ${pageOf(sql, search)}`
}

/** True when fewer than `rows` rows pass the btree filters of `search`: a sample of `rows` then held them all. */
async function sampledAll(sql: Sql, search: Search, rows: number): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`select count(*)::integer as n from (${newestCandidates(sql, search, rows)}) as sample`
  return (row?.n ?? 0) < rows
}

/**
 * The page `rest` asks for, of the rows that the conditions of `driving` alone find (exported for EXPLAIN in
 * tests). OFFSET 0 keeps `rest` out of the inner query, so its plan can only use the indexes of `driving`.
 */
export function drivenQuery(sql: Sql, driving: Search, rest: Search) {
  return sql<LogRow[]>`
    select ${logColumns(sql)} from (select * from logs where ${searchConditions(sql, driving)} offset 0) as logs
    where ${searchConditions(sql, rest)}
    ${newestFirst(sql)} ${pageOf(sql, rest)}`
}

/** A search with a trace_id: the trace's rows (trace index), the other filters applied to them. */
export const traceSplit = (search: Search): { driving: Search; rest: Search } => ({
  driving: { tags: [], traceId: search.traceId, limit: search.limit, page: search.page },
  rest: { ...search, traceId: undefined },
})

/**
 * Rows of the next sample likely to hold the page, judged by the last one (`sampled` rows, `found` of its
 * matches past the page's offset): twice what its share of matches says, at least twice as many rows, at
 * most MAX_SAMPLE_ROWS (a fifth of that with q, whose filter parses every message); 0 when the last held no
 * match at all or was already the largest.
 */
export function nextSampleRows(search: Search, sampled: number, found: number): number {
  const offset = (search.page - 1) * search.limit
  // An empty answer past an offset says only that the sample held at most `offset` matches.
  const matches = found === 0 ? offset : offset + found
  const cap = search.q === undefined ? MAX_SAMPLE_ROWS : MAX_SAMPLE_ROWS / 5
  if (matches === 0 || sampled >= cap) return 0
  return Math.min(cap, Math.max(2 * sampled, Math.ceil(((offset + search.limit + 1) * sampled * 2) / matches)))
}

async function ginRows(sql: Sql, search: Search): Promise<LogRow[]> {
  const sampled = await withPlan(sql, 'ordered', async (tx) => {
    // A sample is the answer when it holds a page past the offset, or every row the btree filters pass.
    const sample = async (rows: number) => {
      const found = await sampleQuery(tx, search, rows)
      return { rows: found, complete: found.length > search.limit || (await sampledAll(tx, search, rows)) }
    }
    let rows = SAMPLE_ROWS
    let last = await sample(rows)
    // Each sample at least doubles, so all of them read at most twice what the last one does.
    for (let next = nextSampleRows(search, rows, last.rows.length); !last.complete && next > 0; next = nextSampleRows(search, rows, last.rows.length)) {
      rows = next
      last = await sample(rows)
    }
    return last
  })
  if (sampled.complete) return sampled.rows
  const { gin, rest } = splitGin(search)
  return withPlan(sql, 'bitmap', (tx) => drivenQuery(tx, gin, rest))
}

/** limit + 1 rows of the page `search` asks for (more than limit: more follow), each shape with its plan. */
export function searchRows(sql: Sql, search: Search): Promise<LogRow[]> {
  if (search.traceId !== undefined) {
    const { driving, rest } = traceSplit(search)
    return withPlan(sql, 'bitmap', (tx) => drivenQuery(tx, driving, rest))
  }
  if (usesGinFilters(search)) return ginRows(sql, search)
  return withPlan(sql, 'ordered', (tx) => searchQuery(tx, search))
}
