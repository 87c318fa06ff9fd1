import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { QueryInvalidError } from '../errors.ts'
import type { Search } from '../log-search.ts'
import { searchConditions } from '../log-search.ts'
import { FacetSample, type SampleNote, sampledLogs, sampleSlices } from './facet-sample.ts'
import { type CountSources, countable, countFilters, countQuery, countsReady, logsWithin, type Span, spansCondition, splitByMinute } from './log-counts.ts'

export const FacetLimits = {
  limitDefault: 10,
  limitMax: 100,
  fieldsMax: 10,
  attrPathSegments: 8,
  attrPathChars: 200,
} as const

export const FacetFields = ['service', 'level', 'host', 'tags'] as const
export type FacetField = (typeof FacetFields)[number]

/** A field to count the values of: a column, or `attr.<path>`, a value in metadata (`attr.user.id` is metadata #>> '{user,id}'). */
export type Facet = { name: string; column: FacetField } | { name: string; attrPath: string[] }

export interface FacetInput {
  fields?: string
  limit?: string
}

export interface FacetPlan {
  facets: Facet[]
  limit: number
}

export interface FacetValue {
  value: string | null
  count: number
}

export interface FieldFacet {
  values: FacetValue[]
  /** The sum of the counts of the values not listed. */
  other: number
  /** True when the counts are estimated from a sample (`sample` says how); false when exact. */
  approximate: boolean
  sample?: SampleNote
}

export interface Facets {
  fields: Record<string, FieldFacet>
  total: number
}

const fail = (parameter: string, message: string): never => {
  throw new QueryInvalidError(parameter, `${parameter}: ${message}`)
}

const FIELDS_HINT = `${FacetFields.join(', ')} or attr.<path> (e.g. attr.user.id)`

function facet(name: string): Facet {
  if ((FacetFields as readonly string[]).includes(name)) return { name, column: name as FacetField }
  if (!name.startsWith('attr.')) return fail('fields', `${JSON.stringify(name).slice(0, 60)} is not a field; use ${FIELDS_HINT}`)
  const attrPath = name.slice('attr.'.length).split('.')
  if (
    name.length > FacetLimits.attrPathChars ||
    attrPath.length > FacetLimits.attrPathSegments ||
    attrPath.some((part) => part === '' || part.includes('\u0000'))
  )
    fail(
      'fields',
      `${JSON.stringify(name).slice(0, 60)}: an attribute path is attr. and up to ${FacetLimits.attrPathSegments} non-empty keys separated by dots`,
    )
  return { name, attrPath }
}

export function planFacets(input: FacetInput): FacetPlan {
  const names = [
    ...new Set(
      (input.fields ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ]
  if (names.length > FacetLimits.fieldsMax) fail('fields', `at most ${FacetLimits.fieldsMax} fields; got ${names.length}`)
  const rawLimit = input.limit?.trim() || undefined
  const limit = rawLimit === undefined ? FacetLimits.limitDefault : /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN
  if (!(limit >= 1 && limit <= FacetLimits.limitMax))
    fail('limit', `must be a whole number from 1 to ${FacetLimits.limitMax} (values per field); got ${JSON.stringify(rawLimit).slice(0, 40)}`)
  return { facets: (names.length > 0 ? names : [...FacetFields]).map(facet), limit }
}

/** Where service, level and host counts and the total come from, or undefined when only logs' rows can answer (see countable). */
export function facetSources(search: Search, nowMicros: number, useCounts = true): CountSources | undefined {
  if (!useCounts || !countable(search)) return undefined
  return splitByMinute([{ fromMicros: search.fromMicros, toMicros: search.toMicros === undefined ? undefined : search.toMicros + 1 }], nowMicros)
}

const fromCounts = (facet: Facet): facet is { name: string; column: CountedColumn } => 'column' in facet && facet.column !== 'tags'

type CountedColumn = 'service' | 'level' | 'host'
type FacetRow = { value: string | null; n: number; overall: number }

/**
 * The total (the row whose field is null) and the top `limit` values of each of `columns`, in one statement:
 * log_counts' whole minutes and the cut minutes' rows (see splitByMinute) are read once, then grouped by
 * each column and by nothing (grouping sets). host counts logs without one as null.
 */
export function countedFacetsQuery(sql: Sql, search: Search, counts: CountSources, columns: readonly CountedColumn[], limit: number) {
  const fromRows = (spans: Span[], n: ReturnType<Sql>) =>
    sql`select service, level, nullif(host, '') as host, ${n} as n from ${logsWithin(sql, search, spans)} group by 1, 2, 3`
  // With no column asked for (only the total), `case end` would not parse: `case when false then null end`.
  const cases = (then: (column: CountedColumn) => ReturnType<Sql>) =>
    columns.map((column) => sql`when grouping(${sql(column)}) = 0 then ${then(column)}`).reduce((all, one) => sql`${all} ${one}`, sql`when false then null`)
  const sets = columns.map((column) => sql`(${sql(column)}), `).reduce((all, one) => sql`${all}${one}`, sql``)
  return sql<(FacetRow & { field: CountedColumn | null })[]>`
    with parts as (
      ${fromRows(counts.rows, sql`count(*)`)}
      union all
      ${fromRows(counts.excluded, sql`-count(*)`)}
      union all
      select service, level, nullif(host, '') as host, sum(n) as n from log_counts
      where ${countFilters(sql, search)} and (${spansCondition(sql, 'minute', counts.minutes)}) group by 1, 2, 3
    ), grouped as (
      select case ${cases((column) => sql`${column}`)} end as field, case ${cases((column) => sql`${sql(column)}`)} end as value, sum(n) as n
      from parts group by grouping sets (${sets}())
    ), ranked as (
      select field, value, n, sum(n) over (partition by field) as overall,
        row_number() over (partition by field order by n desc, value nulls last) as rank
      from grouped where n <> 0 or field is null
    )
    select field, value, n::float8 as n, overall::float8 as overall from ranked
    where field is null or rank <= ${limit}
    order by field, rank`
}

/** Where a field's counts come from when log_counts cannot give them: a sample (see facet-sample.ts) or every matching row. */
export type FacetSource = { slices: Span[]; rowsPerSlice: number } | 'rows'

/**
 * The top `limit` values of one field among the logs matching `search`, most frequent first (ties by value),
 * with the sum over all values. host counts logs without one as the value null; tags counts each tag of each
 * log; an attribute counts only logs that have it (as text: metadata #>> path). From a sample, each log
 * counts for its weight, and the counts are estimates.
 */
export function facetQuery(sql: Sql, search: Search, facet: Facet, limit: number, source: FacetSource) {
  const rows =
    source === 'rows' ? sql`(select * from logs where ${searchConditions(sql, search)}) as logs` : sampledLogs(sql, search, source.slices, source.rowsPerSlice)
  const n = source === 'rows' ? sql`count(*)` : sql`sum(w)`
  const grouped =
    'attrPath' in facet
      ? sql`select metadata #>> ${facet.attrPath}::text[] as value, ${n} as n from ${rows} where metadata #>> ${facet.attrPath}::text[] is not null group by 1`
      : facet.column === 'tags'
        ? sql`select tag as value, ${n} as n from ${rows} cross join lateral unnest(logs.tags) as tag group by 1`
        : sql`select ${facet.column === 'host' ? sql`nullif(host, '')` : sql(facet.column)} as value, ${n} as n from ${rows} group by 1`
  return sql<FacetRow[]>`
    select value, n::float8 as n, (sum(n) over ())::float8 as overall from (${grouped}) g
    order by g.n desc, value nulls last
    limit ${limit}`
}

/** The total, and the rows of the fields log_counts answers (all of service, level and host asked for), when the search allows it. */
async function countedFacets(sql: Sql, search: Search, plan: FacetPlan, counts: CountSources | undefined) {
  if (!counts) return { total: (await countQuery(sql, search, undefined))[0]?.total ?? 0, counted: new Map<string, FacetRow[]>() }
  const columns = [...new Set(plan.facets.filter(fromCounts).map((facet) => facet.column))]
  const rows = await countedFacetsQuery(sql, search, counts, columns, plan.limit)
  const counted = new Map<string, FacetRow[]>(columns.map((column) => [column, []]))
  for (const { field, ...row } of rows) if (field !== null) counted.get(field)?.push(row)
  return { total: rows.find((row) => row.field === null)?.n ?? 0, counted }
}

/** from..to of a search to be sampled: an open side is where the stored logs begin or end. */
async function sampleRange(sql: Sql, search: Search): Promise<{ fromMicros: number; toMicros: number }> {
  const [row] = await sql<{ first: string | null; last: string | null }[]>`
    select (extract(epoch from min(timestamp)) * 1000000)::bigint::text as first, (extract(epoch from max(timestamp)) * 1000000)::bigint::text as last from logs`
  return { fromMicros: search.fromMicros ?? Number(row?.first ?? 0), toMicros: search.toMicros ?? Number(row?.last ?? 0) }
}

export function shapeFacet(rows: readonly { value: string | null; n: number; overall: number }[], sample?: SampleNote): FieldFacet {
  const count = sample ? Math.round : (n: number) => n
  const values = rows.map((row) => ({ value: row.value, count: count(row.n) }))
  const listed = values.reduce((sum, value) => sum + value.count, 0)
  const other = Math.max(0, count(rows[0]?.overall ?? 0) - listed)
  return sample ? { values, other, approximate: true, sample } : { values, other, approximate: false }
}

export interface FacetOptions {
  /** When "now" is, for choosing how to count a cut minute (splitByMinute); default Date.now(). */
  nowMicros?: number
  /** When and how to sample (default FacetSample). */
  sampling?: { threshold: number; slices: number; rowsPerSlice: number }
}

/**
 * Facets of `search`: the total first, exact; then one query per field, run concurrently. Fields that
 * log_counts cannot answer are estimated from a sample when more than FacetSample.threshold logs match.
 * Database failures as in searchLogs.
 */
export async function facets(sql: Sql, search: Search, plan: FacetPlan, options: FacetOptions = {}): Promise<Facets> {
  const { nowMicros = Date.now() * 1000, sampling = FacetSample } = options
  try {
    const { total, counted } = await countedFacets(sql, search, plan, facetSources(search, nowMicros, await countsReady(sql)))
    const range = total > sampling.threshold ? await sampleRange(sql, search) : undefined
    const slices = range && sampleSlices(range.fromMicros, range.toMicros, sampling.slices)
    const note: SampleNote = { method: 'time-slices', slices: slices?.length ?? 0, logsPerSlice: sampling.rowsPerSlice }
    const source: FacetSource = slices ? { slices, rowsPerSlice: sampling.rowsPerSlice } : 'rows'
    const fieldRows = await Promise.all(
      plan.facets.map((one) => ('column' in one && counted.get(one.column)) || facetQuery(sql, search, one, plan.limit, source)),
    )
    const fields: Record<string, FieldFacet> = {}
    plan.facets.forEach((one, index) => {
      const estimated = source !== 'rows' && !('column' in one && counted.has(one.column))
      fields[one.name] = shapeFacet(fieldRows[index] ?? [], estimated ? note : undefined)
    })
    return { fields, total }
  } catch (error) {
    throw toDatabaseError(error, 'cannot count logs')
  }
}
