import type { Sql } from '../db.ts'
import { formatMicros } from '../log-entry.ts'
import type { Search } from '../log-search.ts'
import { searchConditions } from '../search-sql.ts'
import type { Span } from './log-counts.ts'

/**
 * Facets over more matching logs than `threshold` are estimated from a sample: the first `rowsPerSlice`
 * matching logs of each of `slices` equal time slices of the range. Reading them costs about the same on a
 * quiet day and on a busy hour of millions of logs.
 */
export const FacetSample = { threshold: 50_000, slices: 50, rowsPerSlice: 200 } as const

/** What a sampled field's counts were estimated from: shown to the client beside approximate: true. */
export interface SampleNote {
  method: 'time-slices'
  /** Equal parts of the range, */
  slices: number
  /** from each of which up to this many matching logs were read (the first ones in time). */
  logsPerSlice: number
}

/** `slices` equal, consecutive spans covering fromMicros..toMicros (both included). */
export function sampleSlices(fromMicros: number, toMicros: number, slices: number = FacetSample.slices): Span[] {
  const width = Math.max(1, Math.ceil((toMicros + 1 - fromMicros) / slices))
  const spans: Span[] = []
  for (let start = fromMicros; start <= toMicros; start += width) spans.push({ fromMicros: start, toMicros: Math.min(start + width, toMicros + 1) })
  return spans
}

/**
 * The sample as a FROM item named logs, each row with its weight `w`: the number of matching logs it stands
 * for. A slice with fewer matching logs than rowsPerSlice is read whole (weight 1); otherwise its first
 * rowsPerSlice logs cover part of its time, and each stands for slice time / covered time logs, so a slice
 * twice as busy weighs twice as much. The slice is walked in time order through the primary key and the
 * filters applied on the way (offset 0 keeps them out of the walk: without statistics, the planner would
 * otherwise gather every ERROR of the day through the level index and sort them).
 */
export function sampledLogs(sql: Sql, search: Search, slices: readonly Span[], rowsPerSlice: number) {
  const filters = searchConditions(sql, { ...search, fromMicros: undefined, toMicros: undefined })
  // The slices' whole range as constants too, so that partitions outside it are pruned when the statement is planned.
  const covered = searchConditions(sql, {
    tags: [],
    limit: search.limit,
    page: search.page,
    fromMicros: slices[0]?.fromMicros,
    toMicros: (slices.at(-1)?.toMicros ?? 1) - 1,
  })
  return sql`(
    select logs.* from unnest(
      ${slices.map((s) => formatMicros(s.fromMicros!))}::text[]::timestamptz[], ${slices.map((s) => formatMicros(s.toMicros!))}::text[]::timestamptz[]
    ) as span (low, high)
    cross join lateral (
      select first.*, case when count(*) over () < ${rowsPerSlice} then 1::float8
        else extract(epoch from span.high - span.low)::float8 / greatest(extract(epoch from max(timestamp) over () - span.low)::float8, 0.000001) end as w
      from (
        select * from (select * from logs where ${covered} and timestamp >= span.low and timestamp < span.high order by timestamp offset 0) as slice
        where ${filters} limit ${rowsPerSlice}
      ) as first
    ) as logs
  ) as logs`
}
