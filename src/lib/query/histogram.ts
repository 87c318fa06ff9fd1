import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { QueryInvalidError } from '../errors.ts'
import { Levels } from '../levels.ts'
import { formatMicros } from '../log-entry.ts'
import type { Search } from '../log-search.ts'
import { searchConditions } from '../log-search.ts'
import { type SampleNote, sampledLogs } from './facet-sample.ts'
import { type CountSources, countable, countFilters, countQuery, countsReady, logsWithin, type Span, spansCondition, splitByMinute } from './log-counts.ts'

export const HistogramLimits = {
  bucketsDefault: 60,
  bucketsMax: 300,
  /** The range when neither from nor to is given: the last hour. */
  rangeDefaultMicros: 3_600e6,
  /** group_by=service|host: the most frequent groups over the whole range; the rest are summed in each bucket's `other`. */
  groupsMax: 20,
} as const

/**
 * A histogram with q, tags or attribute filters over more than `threshold` candidates (the logs passing its
 * service, level, host and time filters, counted from log_counts) is estimated: the first `rowsPerBucket`
 * candidates of each bucket are read and the other filters applied to them, each match weighted as in
 * facet-sample.ts. Counting them all would read every row of a busy hour.
 */
export const HistogramSample = { threshold: 100_000, rowsPerBucket: 250 } as const

export const GroupBy = ['level', 'service', 'host'] as const
export type GroupBy = (typeof GroupBy)[number]

/** The key logs without a host are counted under with group_by=host. */
export const NO_HOST = '(none)'

export interface HistogramInput {
  buckets?: string
  step?: string
  group_by?: string
}

/**
 * Where the buckets are: `count` buckets of `stepMicros` from `startMicros`, counting the logs in
 * fromMicros..toMicros (both included); the last bucket also takes a log at exactly toMicros.
 */
export interface HistogramPlan {
  fromMicros: number
  toMicros: number
  startMicros: number
  stepMicros: number
  count: number
  groupBy: GroupBy
}

export interface HistogramBucket {
  start: string
  counts: Record<string, number>
  /** Logs of the groups beyond the first HistogramLimits.groupsMax (group_by=service|host); 0 otherwise. */
  other: number
  total: number
}

export interface Histogram {
  step: number
  from: string
  to: string
  group_by: GroupBy
  groups: string[]
  buckets: HistogramBucket[]
  total: number
  /** True when the counts are estimated from a sample (`sample` says how); false when exact. */
  approximate: boolean
  sample?: SampleNote
}

export interface HistogramRow {
  bucket: number
  key: string
  rank: number
  n: number
}

const fail = (parameter: string, message: string): never => {
  throw new QueryInvalidError(parameter, `${parameter}: ${message}`)
}

const STEP = /^(\d{1,9})(ms|s|m|h|d|w)?$/
const STEP_UNIT_MICROS = { ms: 1e3, s: 1e6, m: 60e6, h: 3_600e6, d: 86_400e6, w: 604_800e6 } as const

/** `30s`, `1m`, `5m`, `1h`, `1d`, `500ms`, or a plain number of seconds; undefined when not one of those. */
export function parseStep(value: string): number | undefined {
  const match = STEP.exec(value.trim())
  if (!match) return undefined
  const micros = Number(match[1]) * STEP_UNIT_MICROS[(match[2] ?? 's') as keyof typeof STEP_UNIT_MICROS]
  return micros > 0 ? micros : undefined
}

const MINUTE_MICROS = 60e6

/**
 * A step of whole minutes puts bucket edges on multiples of the step since the epoch, as Elasticsearch's
 * fixed intervals do: every edge is a whole minute (so whole minutes can be counted from log_counts) and the
 * edges stay put while a live view moves `to`. The first and last buckets may then reach outside from..to;
 * only logs inside it are counted. Shorter steps start at `from`.
 */
function buckets(fromMicros: number, toMicros: number, stepMicros: number): { startMicros: number; count: number } {
  const startMicros = stepMicros % MINUTE_MICROS === 0 ? Math.floor(fromMicros / stepMicros) * stepMicros : fromMicros
  return { startMicros, count: Math.max(1, Math.ceil((toMicros - startMicros) / stepMicros)) }
}

/**
 * The buckets for a search whose range is already known (`from` defaults to an hour before `to`, `to` to
 * now: see histogramRange). `buckets=N` gives buckets of ceil(range / N) microseconds, rounded up to whole
 * minutes when a minute or longer: N of them, or N + 1 when `from` is not on the steps' grid. `step` gives
 * the buckets from..to touches (at least one), at most HistogramLimits.bucketsMax.
 */
export function planHistogram(input: HistogramInput, fromMicros: number, toMicros: number): HistogramPlan {
  const rawBuckets = input.buckets?.trim() || undefined
  const rawStep = input.step?.trim() || undefined
  if (rawBuckets !== undefined && rawStep !== undefined) fail('step', 'give either buckets or step, not both')
  const groupBy = (input.group_by?.trim() || 'level') as GroupBy
  if (!GroupBy.includes(groupBy)) fail('group_by', `must be one of ${GroupBy.join(', ')}; got ${JSON.stringify(input.group_by).slice(0, 40)}`)
  const range = toMicros - fromMicros
  if (rawStep !== undefined) {
    const stepMicros =
      parseStep(rawStep) ?? fail('step', `must be a duration such as 30s, 1m, 5m, 1h, 1d (or a number of seconds); got ${JSON.stringify(rawStep).slice(0, 40)}`)
    const { startMicros, count } = buckets(fromMicros, toMicros, stepMicros)
    if (count > HistogramLimits.bucketsMax) fail('step', `makes ${count} buckets over this range; at most ${HistogramLimits.bucketsMax}: use a larger step`)
    return { fromMicros, toMicros, startMicros, stepMicros, count, groupBy }
  }
  let wanted: number = HistogramLimits.bucketsDefault
  if (rawBuckets !== undefined) {
    wanted = /^\d{1,4}$/.test(rawBuckets) ? Number(rawBuckets) : NaN
    if (!(wanted >= 1 && wanted <= HistogramLimits.bucketsMax))
      fail('buckets', `must be a whole number from 1 to ${HistogramLimits.bucketsMax}; got ${JSON.stringify(rawBuckets).slice(0, 40)}`)
  }
  const exact = Math.max(1, Math.ceil(range / wanted))
  const stepMicros = exact >= MINUTE_MICROS ? Math.ceil(exact / MINUTE_MICROS) * MINUTE_MICROS : exact
  return { fromMicros, toMicros, stepMicros, ...buckets(fromMicros, toMicros, stepMicros), groupBy }
}

/** from..to of a search, with the defaults: `to` now, `from` an hour before `to`. */
export function histogramRange(search: Search, nowMicros: number): { fromMicros: number; toMicros: number } {
  const toMicros = search.toMicros ?? nowMicros
  const fromMicros = search.fromMicros ?? toMicros - HistogramLimits.rangeDefaultMicros
  if (fromMicros > toMicros) fail('from', 'must not be later than to (to defaults to now)')
  return { fromMicros, toMicros }
}

const groupColumn = (sql: Sql, groupBy: GroupBy) =>
  groupBy === 'level' ? sql`level` : groupBy === 'service' ? sql`service` : sql`coalesce(nullif(host, ''), ${NO_HOST})`

/**
 * The buckets as consecutive half-open spans within from..to: bucket i from start + i·step, the first one
 * from `from`, the last one up to and including `to`; a bucket that would start after `to` (buckets=N over a
 * short range) is empty and left out.
 */
export function bucketSpans(plan: HistogramPlan): Span[] {
  const end = plan.toMicros + 1
  const spans: Span[] = []
  for (let index = 0; index < plan.count; index++) {
    const fromMicros = Math.max(plan.fromMicros, plan.startMicros + index * plan.stepMicros)
    if (fromMicros >= end) break
    spans.push({ fromMicros, toMicros: index === plan.count - 1 ? end : Math.min(plan.startMicros + (index + 1) * plan.stepMicros, end) })
  }
  return spans
}

/** Where a histogram's counts come from, or undefined when only logs' rows can answer it (see countable). */
export function histogramSources(search: Search, plan: HistogramPlan, nowMicros: number, useCounts = true): CountSources | undefined {
  if (!useCounts || !countable(search)) return undefined
  const sources = splitByMinute(bucketSpans(plan), nowMicros)
  return sources.minutes.length > 0 ? sources : undefined
}

/**
 * Counts per (bucket, group), with each group's rank by its count over the whole range. The bucket index is
 * computed exactly (bucketOf), with a log at exactly `to` put in the last bucket, and a cut first minute
 * counted from log_counts (which starts before `from` when buckets start at `from`) in the first. `search`
 * must carry the plan's from and to, so the WHERE clause (the same as /query's) bounds the scan to that
 * range: partition pruning and the primary key's time order.
 * When the filters are only service, level, host and time, whole minutes inside a bucket are read from
 * log_counts (a minute lies in one bucket, so its bucket is its start's) and only the minutes a bucket edge
 * cuts are counted from logs' rows, or from log_counts less the rows outside the range (splitByMinute):
 * the same answer, exactly.
 */
export function histogramQuery(sql: Sql, search: Search, plan: HistogramPlan, nowMicros: number, useCounts = true) {
  const group = groupColumn(sql, plan.groupBy)
  const sources = histogramSources(search, plan, nowMicros, useCounts)
  if (!sources)
    return rankedGroups(
      sql,
      sql`select ${bucketOf(sql, plan, 'timestamp')} as bucket, ${group} as key, count(*) as n from logs where ${searchConditions(sql, search)} group by 1, 2`,
    )
  return rankedGroups(
    sql,
    sql`
      select bucket, key, sum(n) as n from (
        select ${bucketOf(sql, plan, 'timestamp')} as bucket, ${group} as key, count(*) as n from ${logsWithin(sql, search, sources.rows)} group by 1, 2
        union all
        select ${bucketOf(sql, plan, 'timestamp')} as bucket, ${group} as key, -count(*) as n from ${logsWithin(sql, search, sources.excluded)} group by 1, 2
        union all
        select ${bucketOf(sql, plan, 'minute')} as bucket, key, sum(n) as n from (
          -- Per minute first: the bucket's exact (numeric) arithmetic then runs once a minute and group, not once a row.
          select minute, ${group} as key, sum(n) as n
          from log_counts
          where ${countFilters(sql, search)} and (${spansCondition(sql, 'minute', sources.minutes)})
          group by 1, 2
        ) minutes
        group by 1, 2
      ) parts
      group by 1, 2
      having sum(n) <> 0`,
  )
}

/**
 * Estimated counts per (bucket, group): the first `rowsPerBucket` candidates of each bucket (the logs
 * passing `split.candidates`), of which those passing `split.filters` count for their weight (sampledLogs).
 */
export function sampledHistogramQuery(sql: Sql, split: EstimateSplit, plan: HistogramPlan, rowsPerBucket: number) {
  const sample = sampledLogs(sql, split.candidates, bucketSpans(plan), rowsPerBucket)
  return rankedGroups(
    sql,
    sql`select ${bucketOf(sql, plan, 'timestamp')} as bucket, ${groupColumn(sql, plan.groupBy)} as key, sum(w) as n
      from ${sample} where ${searchConditions(sql, split.filters)} group by 1, 2`,
  )
}

/** The bucket of `column`'s time: floor((time - start) / step), exactly (extract(epoch) of an interval is numeric), within 0..count - 1. */
function bucketOf(sql: Sql, plan: HistogramPlan, column: 'timestamp' | 'minute') {
  return sql`greatest(0, least(floor(extract(epoch from (${sql(column)} - ${formatMicros(plan.startMicros)}::timestamptz)) * 1000000 / ${String(plan.stepMicros)}::bigint)::integer, ${plan.count - 1}::integer))`
}

/** Rows of `counted` (bucket, key, n) with each key's rank by its count over the whole range. */
function rankedGroups(sql: Sql, counted: ReturnType<Sql>) {
  return sql<HistogramRow[]>`
    with counted as (${counted}), ranked as (
      select key, row_number() over (order by sum(n) desc, key) as rank from counted group by key
    )
    select c.bucket, c.key, r.rank::integer as rank, c.n::float8 as n
    from counted c join ranked r on r.key = c.key`
}

/** A search as the logs log_counts can count (`candidates`) and the filters only rows answer (`filters`: q, tags, attributes). */
export interface EstimateSplit {
  candidates: Search
  filters: Search
}

/** The split of a search that can be estimated, or undefined: one log_counts answers exactly, or whose candidates it cannot count. */
export function estimateSplit(search: Search): EstimateSplit | undefined {
  if (countable(search) || search.traceId !== undefined || search.cursor) return undefined
  const candidates: Search = { ...search, q: undefined, tags: [], attr: [] }
  if (!countable(candidates)) return undefined
  return { candidates, filters: { tags: search.tags, q: search.q, attr: search.attr, limit: search.limit, page: search.page } }
}

/** The answer: every bucket in time order, each with a count for every group seen (zeros included). */
export function shapeHistogram(plan: HistogramPlan, rows: readonly HistogramRow[], sample?: SampleNote): Histogram {
  const ranks = new Map<string, number>()
  for (const row of rows) if (row.rank <= HistogramLimits.groupsMax) ranks.set(row.key, row.rank)
  const groups =
    plan.groupBy === 'level' ? Levels.filter((level) => ranks.has(level)) : [...ranks.keys()].sort((a, b) => (ranks.get(a) ?? 0) - (ranks.get(b) ?? 0))
  const buckets: HistogramBucket[] = Array.from({ length: plan.count }, (_, index) => ({
    start: formatMicros(plan.startMicros + index * plan.stepMicros),
    counts: Object.fromEntries(groups.map((group) => [group, 0])),
    other: 0,
    total: 0,
  }))
  let total = 0
  for (const row of rows) {
    const bucket = buckets[row.bucket]
    if (!bucket) throw new Error(`histogram row outside the plan: bucket ${row.bucket} of ${plan.count}`)
    const n = sample ? Math.round(row.n) : row.n
    if (row.rank <= HistogramLimits.groupsMax) bucket.counts[row.key] = (bucket.counts[row.key] ?? 0) + n
    else bucket.other += n
    bucket.total += n
    total += n
  }
  return {
    step: plan.stepMicros / 1e6,
    from: formatMicros(plan.fromMicros),
    to: formatMicros(plan.toMicros),
    group_by: plan.groupBy,
    groups,
    buckets,
    total,
    ...(sample ? { approximate: true, sample } : { approximate: false }),
  }
}

export interface HistogramOptions {
  /** When "now" is, for choosing how to count a cut minute (splitByMinute); default Date.now(). */
  nowMicros?: number
  /** When and how to estimate (default HistogramSample). */
  sampling?: { threshold: number; rowsPerBucket: number }
}

/**
 * The histogram of `search` (whose fromMicros/toMicros must be the plan's): exact, or estimated when
 * HistogramSample says so. Database failures as in searchLogs.
 */
export async function histogram(sql: Sql, search: Search, plan: HistogramPlan, options: HistogramOptions = {}): Promise<Histogram> {
  const { nowMicros = Date.now() * 1000, sampling = HistogramSample } = options
  try {
    const useCounts = await countsReady(sql)
    const split = useCounts ? estimateSplit(search) : undefined
    const range = [{ fromMicros: plan.fromMicros, toMicros: plan.toMicros + 1 }]
    const candidates = split && (await countQuery(sql, split.candidates, splitByMinute(range, nowMicros)))[0]?.total
    if (split && candidates !== undefined && candidates > sampling.threshold) {
      const note: SampleNote = { method: 'time-slices', slices: bucketSpans(plan).length, logsPerSlice: sampling.rowsPerBucket }
      return shapeHistogram(plan, await sampledHistogramQuery(sql, split, plan, sampling.rowsPerBucket), note)
    }
    return shapeHistogram(plan, await histogramQuery(sql, search, plan, nowMicros, useCounts))
  } catch (error) {
    throw toDatabaseError(error, 'cannot count logs')
  }
}
