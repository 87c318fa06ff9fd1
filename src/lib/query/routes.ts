import { Elysia, t } from 'elysia'
import type { Sql } from '../db.ts'
import { parseSearch, type SearchInput, searchInput } from '../log-search.ts'
import { TIME_FORMAT_HINT } from '../time-range.ts'
import { FacetSample } from './facet-sample.ts'
import { FacetFields, FacetLimits, facets, planFacets } from './facets.ts'
import { GroupBy, HistogramLimits, histogram, histogramRange, planHistogram } from './histogram.ts'

/**
 * The raw query string, split into the parameters an endpoint reads itself and the rest, which go to
 * parseSearch unchanged (so every /query filter works, and is refused, exactly as on /query). Read from the
 * URL rather than Elysia's `query`, which keeps only the last of repeated parameters (tags=a&tags=b).
 */
export function splitQuery<Own extends string>(url: string, own: readonly Own[]): { own: Partial<Record<Own, string>>; search: SearchInput } {
  const params = new URL(url).searchParams
  const mine: Partial<Record<Own, string>> = {}
  for (const key of own) {
    const value = params.get(key)
    if (value !== null) mine[key] = value
    params.delete(key)
  }
  // The filters exactly as /query reads them (repeated tags and attr.* included).
  return { own: mine, search: searchInput(params) }
}

// The schemas document the parameters (OpenAPI); every one is read as text and validated by our parsers,
// so a bad value is a 400 naming it, never Elysia's validation error.
const filters = {
  service: t.Optional(t.String({ description: 'exact service name (as on /query)' })),
  level: t.Optional(t.String({ description: 'one or more (comma-separated) levels (as on /query)' })),
  from: t.Optional(t.String({ description: `inclusive lower bound: ${TIME_FORMAT_HINT}` })),
  to: t.Optional(t.String({ description: `inclusive upper bound: ${TIME_FORMAT_HINT}` })),
  host: t.Optional(t.String({ description: 'exact host name (as on /query)' })),
  trace_id: t.Optional(t.String({ description: '32 hex digits or a UUID (as on /query)' })),
  tags: t.Optional(t.String({ description: 'logs carrying all of these tags (as on /query)' })),
  q: t.Optional(t.String({ description: 'full-text search in message (as on /query)' })),
}

const ErrorSchema = t.Object({
  error: t.String({ description: 'stable error code: QUERY_INVALID, DATABASE_UNAVAILABLE, QUERY_TIMEOUT or INTERNAL' }),
  message: t.String(),
  parameter: t.Optional(t.String({ description: 'the offending query parameter, for QUERY_INVALID' })),
})
const errors = { 400: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema }

const SampleNote = t.Object(
  {
    method: t.Literal('time-slices'),
    slices: t.Number({ description: 'equal parts of the range (for a histogram, its buckets)' }),
    logsPerSlice: t.Number({ description: 'the first matching logs read from each part, each weighted by its part time over the time they cover' }),
  },
  { description: 'how the counts were estimated' },
)

const HistogramResponse = t.Object({
  step: t.Number({ description: 'bucket width in seconds' }),
  from: t.String({ description: 'RFC 3339, UTC: the first bucket starts here' }),
  to: t.String({ description: 'RFC 3339, UTC: inclusive end, in the last bucket' }),
  group_by: t.String({ enum: [...GroupBy] }),
  groups: t.Array(t.String(), { description: 'the groups counted in every bucket (levels in level order, others by count)' }),
  buckets: t.Array(
    t.Object({
      start: t.String({ description: 'RFC 3339, UTC' }),
      counts: t.Record(t.String(), t.Number()),
      other: t.Number({ description: `logs of the groups past the ${HistogramLimits.groupsMax} largest (service, host)` }),
      total: t.Number(),
    }),
  ),
  total: t.Number({ description: 'the number of logs /query pages through for the same filters and range (estimated when approximate)' }),
  approximate: t.Boolean({ description: 'true: counts are estimated from a sample (see sample); false: exact' }),
  sample: t.Optional(SampleNote),
})

const FacetsResponse = t.Object({
  fields: t.Record(
    t.String(),
    t.Object({
      values: t.Array(t.Object({ value: t.Nullable(t.String({ description: 'null: no host' })), count: t.Number() })),
      other: t.Number({ description: 'the sum of the counts of the values not listed' }),
      approximate: t.Boolean({ description: 'true: counts are estimated from a sample (see sample); false: exact' }),
      sample: t.Optional(SampleNote),
    }),
  ),
  total: t.Number({ description: 'matching logs' }),
})

const HISTOGRAM_PARAMS = ['buckets', 'step', 'group_by'] as const
const FACET_PARAMS = ['fields', 'limit'] as const

/** GET /histogram: counts per time bucket and group over the logs /query would page through for the same filters. */
export function histogramRoutes(sql: Sql) {
  return new Elysia().get(
    '/histogram',
    ({ request }) => {
      const { own, search: input } = splitQuery(request.url, HISTOGRAM_PARAMS)
      const search = parseSearch(input, { extra: HISTOGRAM_PARAMS })
      const range = histogramRange(search, Date.now() * 1000)
      const plan = planHistogram(own, range.fromMicros, range.toMicros)
      return histogram(sql, { ...search, ...range }, plan)
    },
    {
      query: t.Object(
        {
          ...filters,
          buckets: t.Optional(t.String({ description: `number of buckets, 1 to ${HistogramLimits.bucketsMax} (default ${HistogramLimits.bucketsDefault})` })),
          step: t.Optional(t.String({ description: 'bucket width instead of buckets: 30s, 1m, 5m, 1h, 1d, 500ms or seconds' })),
          group_by: t.Optional(t.String({ description: `${GroupBy.join(', ')} (default level)` })),
        },
        { additionalProperties: true },
      ),
      response: { 200: HistogramResponse, ...errors },
      detail: {
        summary: 'Log counts per time bucket, split by level, service or host',
        description:
          'The range is from (default: an hour before to) to to (default: now). Buckets of whole minutes lie on multiples of the step since the epoch, ' +
          'so the first and last may reach outside the range (only logs inside it are counted): buckets=N gives N of them, or N + 1 when from is off that grid; ' +
          'shorter buckets start at from. All are present, in time order, zeros included; ' +
          `step in the answer is in seconds. group_by=service|host lists the ${HistogramLimits.groupsMax} largest groups, the rest summed in each bucket's other. ` +
          'total equals the number of logs /query pages through for the same filters and range.',
      },
    },
  )
}

/** GET /facets: the most frequent values of some fields among the logs matching the filters. */
export function facetRoutes(sql: Sql) {
  return new Elysia().get(
    '/facets',
    ({ request }) => {
      const { own, search: input } = splitQuery(request.url, FACET_PARAMS)
      const plan = planFacets(own)
      return facets(sql, parseSearch(input, { extra: FACET_PARAMS }), plan)
    },
    {
      query: t.Object(
        {
          ...filters,
          fields: t.Optional(t.String({ description: `comma-separated: ${FacetFields.join(', ')} (the default) or attr.<path>` })),
          limit: t.Optional(t.String({ description: `values per field, 1 to ${FacetLimits.limitMax} (default ${FacetLimits.limitDefault})` })),
        },
        { additionalProperties: true },
      ),
      response: { 200: FacetsResponse, ...errors },
      detail: {
        summary: 'Top values of fields among matching logs',
        description:
          "Per field: values (most frequent first), other (the sum of the rest's counts), approximate; total: matching logs, exact. " +
          'service, level and host are exact when the only filters are service, level, host and time (counted from log_counts); ' +
          `over more than ${FacetSample.threshold} matching logs, the fields not counted from log_counts are estimated from ${FacetSample.rowsPerSlice} logs in each of ${FacetSample.slices} equal time slices (approximate: true, sample says how).`,
      },
    },
  )
}
