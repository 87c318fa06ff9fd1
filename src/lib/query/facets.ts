import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { QueryInvalidError } from '../errors.ts'
import type { Search } from '../log-search.ts'
import { searchConditions } from '../log-search.ts'
import { type CountSources, countable, countFilters, countsReady, spansCondition, splitByMinute } from './log-counts.ts'

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
  /** Always false: every count is exact. */
  approximate: boolean
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
export function facetSources(search: Search, useCounts = true): CountSources | undefined {
  if (!useCounts || !countable(search)) return undefined
  const sources = splitByMinute([{ fromMicros: search.fromMicros, toMicros: search.toMicros === undefined ? undefined : search.toMicros + 1 }])
  return sources.minutes.length > 0 ? sources : undefined
}

const fromCounts = (facet: Facet): facet is { name: string; column: 'service' | 'level' | 'host' } => 'column' in facet && facet.column !== 'tags'

/** Counts per value of a column, from log_counts' whole minutes and logs' rows of the partial ones (see histogramQuery). */
function countedValues(sql: Sql, search: Search, sources: CountSources, column: 'service' | 'level' | 'host') {
  const value = column === 'host' ? sql`nullif(host, '')` : sql`${sql(column)}`
  return sql`
    select value, sum(n) as n from (
      select ${value} as value, count(*) as n from logs
      where ${searchConditions(sql, search)} and (${spansCondition(sql, 'timestamp', sources.rows)}) group by 1
      union all
      select ${value} as value, sum(n) as n from log_counts
      where ${countFilters(sql, search)} and (${spansCondition(sql, 'minute', sources.minutes)}) group by 1
    ) parts
    group by 1
    having sum(n) <> 0`
}

/**
 * The top `limit` values of one field among the logs matching `search`, most frequent first (ties by value),
 * with the sum over all values. host counts logs without one as the value null; tags counts each tag of each
 * log; an attribute counts only logs that have it (as text: metadata #>> path). service, level and host come
 * from log_counts when the filters allow it (facetSources).
 */
export function facetQuery(sql: Sql, search: Search, facet: Facet, limit: number, useCounts = true) {
  const where = searchConditions(sql, search)
  const sources = fromCounts(facet) ? facetSources(search, useCounts) : undefined
  const grouped =
    sources && fromCounts(facet)
      ? countedValues(sql, search, sources, facet.column)
      : 'attrPath' in facet
        ? sql`select metadata #>> ${facet.attrPath}::text[] as value, count(*) as n from logs where ${where} and metadata #>> ${facet.attrPath}::text[] is not null group by 1`
        : facet.column === 'tags'
          ? sql`select tag as value, count(*) as n from logs cross join lateral unnest(logs.tags) as tag where ${where} group by 1`
          : facet.column === 'host'
            ? sql`select nullif(host, '') as value, count(*) as n from logs where ${where} group by 1`
            : sql`select ${sql(facet.column)} as value, count(*) as n from logs where ${where} group by 1`
  return sql<{ value: string | null; n: number; overall: number }[]>`
    select value, n::float8 as n, (sum(n) over ())::float8 as overall from (${grouped}) g
    order by g.n desc, value nulls last
    limit ${limit}`
}

export function totalQuery(sql: Sql, search: Search, useCounts = true) {
  const sources = facetSources(search, useCounts)
  if (!sources) return sql<{ total: number }[]>`select count(*)::float8 as total from logs where ${searchConditions(sql, search)}`
  return sql<{ total: number }[]>`
    select ((select count(*) from logs where ${searchConditions(sql, search)} and (${spansCondition(sql, 'timestamp', sources.rows)}))
      + (select coalesce(sum(n), 0) from log_counts where ${countFilters(sql, search)} and (${spansCondition(sql, 'minute', sources.minutes)})))::float8 as total`
}

export function shapeFacet(rows: readonly { value: string | null; n: number; overall: number }[]): FieldFacet {
  const values = rows.map((row) => ({ value: row.value, count: row.n }))
  const listed = values.reduce((sum, value) => sum + value.count, 0)
  return { values, other: (rows[0]?.overall ?? 0) - listed, approximate: false }
}

/** Facets of `search` (one query per field and one for the total, run concurrently). Database failures as in searchLogs. */
export async function facets(sql: Sql, search: Search, plan: FacetPlan): Promise<Facets> {
  try {
    const useCounts = await countsReady(sql)
    const [totalRows, ...fieldRows] = await Promise.all([
      totalQuery(sql, search, useCounts),
      ...plan.facets.map((one) => facetQuery(sql, search, one, plan.limit, useCounts)),
    ])
    const fields: Record<string, FieldFacet> = {}
    plan.facets.forEach((one, index) => {
      fields[one.name] = shapeFacet(fieldRows[index] ?? [])
    })
    return { fields, total: totalRows?.[0]?.total ?? 0 }
  } catch (error) {
    throw toDatabaseError(error, 'cannot count logs')
  }
}
