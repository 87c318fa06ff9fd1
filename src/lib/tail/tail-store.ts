import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { type FullLogRow, fitBudget, type LogRow, logColumns, withContent } from '../log-rows.ts'
import { retry } from '../retry.ts'
import { type Announcement, spanText } from './announcement.ts'

/** What the live tail reads from PostgreSQL; tests of the hub pass a fake. */
export interface TailStore {
  /**
   * The rows `announcements` name, in pages each within RowLimits.pageBytes of message and metadata (the
   * byte rules of log-rows.ts), oldest first within each read. Transient failures are retried a few
   * times; what still fails throws a retryable LogStreamError.
   */
  read(announcements: readonly Announcement[]): AsyncGenerator<FullLogRow[]>
  /** For each key, the indexes into `tsqueries` whose query its message matches (to_tsvector('simple', message) @@ query). */
  matchQueries(keys: readonly LogKey[], tsqueries: readonly string[]): Promise<number[][]>
  /** `websearch_to_tsquery('simple', q)` in its text form: what /query searches for. */
  tsquery(q: string): Promise<string>
}

/** A stored log's primary key, its timestamp as log-rows.ts prints it. */
export interface LogKey {
  timestamp: string
  partition: number
  offset: bigint
}

export const TailReadLimits = {
  /**
   * Offsets one statement is asked for. Its first read holds at most this many rows of up to
   * RowLimits.inlineBytes each; larger content is read afterwards within the page budget.
   */
  rowsPerRead: 2000,
} as const

const RETRY = { attempts: 4, minMs: 100, maxMs: 1000 } as const

/** One bounded index range: a time span of an announcement and a run of offsets (part of one). */
export interface Range {
  from: string
  to: string
  partition: number
  first: bigint
  last: bigint
  size: number
}

export function ranges(announcements: readonly Announcement[]): Range[] {
  const out: Range[] = []
  for (const { spans, runs } of announcements) {
    for (const span of spans) {
      const [from, to] = spanText(span)
      for (const run of runs) {
        // A run longer than one read is split so that every statement stays within rowsPerRead.
        for (let first = run.first; first <= run.last; first += BigInt(TailReadLimits.rowsPerRead)) {
          const last = first + BigInt(TailReadLimits.rowsPerRead - 1) < run.last ? first + BigInt(TailReadLimits.rowsPerRead - 1) : run.last
          out.push({ from, to, partition: run.partition, first, last, size: Number(last - first) + 1 })
        }
      }
    }
  }
  return out.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
}

/** Groups of ranges of at most rowsPerRead offsets each (counting a run once per span, which can only over-count). */
function statements(all: Range[]): Range[][] {
  const groups: Range[][] = []
  let group: Range[] = []
  let size = 0
  for (const range of all) {
    if (group.length > 0 && size + range.size > TailReadLimits.rowsPerRead) {
      groups.push(group)
      group = []
      size = 0
    }
    group.push(range)
    size += range.size
  }
  if (group.length > 0) groups.push(group)
  return groups
}

const keyText = (row: { kafka_partition: number; kafka_offset: bigint }) => `${row.kafka_partition}-${row.kafka_offset}`

/**
 * The rows of `ranges`, each range one index scan of the primary key (timestamp first, so only the day
 * partitions its span falls in are opened, pruned at run time). The lateral subquery is fenced with
 * OFFSET 0 so the planner cannot flatten it into a join: as a join it hashed the ranges and scanned the
 * whole day partition for every read. Exported for EXPLAIN in tests.
 */
export function readStatement(sql: Sql, ranges: readonly Range[]) {
  return sql<LogRow[]>`
    select ${logColumns(sql)}
    from unnest(${ranges.map((r) => r.from)}::text[]::timestamptz[], ${ranges.map((r) => r.to)}::text[]::timestamptz[],
                ${ranges.map((r) => r.partition)}::integer[],
                ${ranges.map((r) => r.first.toString())}::text[]::bigint[], ${ranges.map((r) => r.last.toString())}::text[]::bigint[])
      as r(t0, t1, p, o0, o1)
    cross join lateral (
      select * from logs
      where logs.timestamp between r.t0 and r.t1 and logs.kafka_partition = r.p and logs.kafka_offset between r.o0 and r.o1
      offset 0) l
    order by l.timestamp, l.kafka_partition, l.kafka_offset`
}

export function createTailStore(sql: Sql): TailStore {
  const attempt = <T>(what: string, run: () => Promise<T>): Promise<T> =>
    retry(async () => {
      try {
        return await run()
      } catch (error) {
        throw toDatabaseError(error, what)
      }
    }, RETRY)

  return {
    async *read(announcements) {
      const seen = new Set<string>()
      for (const group of statements(ranges(announcements))) {
        const rows = (await attempt('cannot read new logs', () => readStatement(sql, group))).filter((row) => {
          const key = keyText(row)
          if (seen.has(key)) return false
          seen.add(key)
          return true
        })
        for (let start = 0; start < rows.length; ) {
          const page = rows.slice(start, start + fitBudget(rows.slice(start)))
          start += page.length
          yield await attempt('cannot read new logs', () => withContent(sql, page))
        }
      }
    },

    async matchQueries(keys, tsqueries) {
      if (keys.length === 0 || tsqueries.length === 0) return keys.map(() => [])
      const rows = await attempt(
        'cannot search new logs',
        () =>
          sql<{ i: number; matched: number[] }[]>`
          select k.i::integer as i,
                 array(select q.n::integer from unnest(${tsqueries as string[]}::text[]) with ordinality as q(t, n) where v.tv @@ q.t::tsquery) as matched
          from unnest(${keys.map((k) => k.timestamp)}::text[]::timestamptz[], ${keys.map((k) => k.partition)}::integer[],
                      ${keys.map((k) => k.offset.toString())}::text[]::bigint[]) with ordinality as k(t, p, o, i)
          cross join lateral (
            select to_tsvector('simple', message) as tv from logs
            where logs.timestamp = k.t and logs.kafka_partition = k.p and logs.kafka_offset = k.o
            offset 0) v`,
      )
      // with ordinality counts from 1; a key no longer stored (its day dropped meanwhile) matches nothing.
      const matched = keys.map((): number[] => [])
      for (const row of rows) matched[row.i - 1] = row.matched.map((n) => n - 1)
      return matched
    },

    async tsquery(q) {
      const [row] = await attempt('cannot read the search', () => sql<{ text: string }[]>`select websearch_to_tsquery('simple', ${q})::text as text`)
      return row!.text
    },
  }
}
