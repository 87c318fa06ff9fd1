import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../../src/lib/db.ts'
import { formatMicros } from '../../../../src/lib/log-entry.ts'
import { parseSearch, queryDatabaseUrl, type Search } from '../../../../src/lib/log-search.ts'
import { FacetSample } from '../../../../src/lib/query/facet-sample.ts'
import { countedFacetsQuery, facetQuery, facetSources, facets, planFacets } from '../../../../src/lib/query/facets.ts'
import { countQuery } from '../../../../src/lib/query/log-counts.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { partitionName } from '../../../../src/lib/retention.ts'
import { answerWithDatabaseDown } from '../../../support/database-down.ts'
import { freshDatabase } from '../../../support/infra.ts'

/**
 * GET /facets in process (app.handle) against a real database holding five known logs an hour old, and one
 * three days old; the plan tests use a second database of their own, 100k logs over three days.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const HOUR = 3_600_000_000
const base = Date.now() * 1000 - HOUR
let nextOffset = 1

interface Row {
  at: number
  service: string
  level: string
  message?: string
  host?: string | null
  tags?: string[]
  metadata?: Record<string, unknown>
}

async function insert(rows: Row[]): Promise<void> {
  const offsets = rows.map(() => String(nextOffset++))
  await sql`
    insert into logs (timestamp, service, level, message, metadata, host, tags, kafka_partition, kafka_offset)
    select t::timestamptz, s, l, m, md::jsonb, h, array(select jsonb_array_elements_text(tg::jsonb)), 0, o::bigint
    from unnest(
      ${rows.map((row) => formatMicros(row.at))}::text[], ${rows.map((row) => row.service)}::text[], ${rows.map((row) => row.level)}::text[],
      ${rows.map((row) => row.message ?? 'something happened')}::text[], ${rows.map((row) => JSON.stringify(row.metadata ?? {}))}::text[],
      ${rows.map((row) => row.host ?? null)}::text[], ${rows.map((row) => JSON.stringify(row.tags ?? []))}::text[], ${offsets}::text[]
    ) as r(t, s, l, m, md, h, tg, o)`
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  return { status: response.status, body: await response.json() }
}

beforeAll(async () => {
  await insert([
    { at: base + 1, service: 'api', level: 'INFO', host: 'web-1', tags: ['env:prod', 'region:eu'], metadata: { user: { id: 'u1' }, code: 200 } },
    { at: base + 2, service: 'api', level: 'ERROR', host: 'web-2', tags: ['env:prod'], metadata: { user: { id: 'u2' } }, message: 'payment declined' },
    { at: base + 3, service: 'api', level: 'ERROR', host: 'web-1', metadata: { user: { id: 'u1' }, code: 500 }, message: 'payment declined' },
    { at: base + 4, service: 'billing', level: 'WARN', tags: ['env:staging'] },
    { at: base + 5, service: 'worker', level: 'DEBUG', host: 'web-1', tags: ['env:prod', 'region:us'] },
    { at: base - 72 * HOUR, service: 'archive', level: 'INFO', host: 'old-1', tags: ['env:prod'] },
  ])
})

const values = (pairs: [string | null, number][]) => pairs.map(([value, count]) => ({ value, count }))

describe('GET /facets', () => {
  test('service, level, host and tags by default: top values with exact counts, most frequent first, ties by value', async () => {
    const { status, body } = await get('/facets?from=2h')
    expect(status).toBe(200)
    expect(body).toEqual({
      fields: {
        service: {
          values: values([
            ['api', 3],
            ['billing', 1],
            ['worker', 1],
          ]),
          other: 0,
          approximate: false,
        },
        level: {
          values: values([
            ['ERROR', 2],
            ['DEBUG', 1],
            ['INFO', 1],
            ['WARN', 1],
          ]),
          other: 0,
          approximate: false,
        },
        host: {
          values: values([
            ['web-1', 3],
            ['web-2', 1],
            [null, 1],
          ]),
          other: 0,
          approximate: false,
        },
        tags: {
          values: values([
            ['env:prod', 3],
            ['env:staging', 1],
            ['region:eu', 1],
            ['region:us', 1],
          ]),
          other: 0,
          approximate: false,
        },
      },
      total: 5,
    })
  })

  test('limit keeps the top values per field; other is the sum of the rest', async () => {
    const { body } = await get('/facets?from=2h&fields=service,tags&limit=1')
    expect(body.fields).toEqual({
      service: { values: values([['api', 3]]), other: 2, approximate: false },
      tags: { values: values([['env:prod', 3]]), other: 3, approximate: false },
    })
  })

  test('within the filters, the same as /query: total is the number of logs /query pages through', async () => {
    for (const filters of [
      '',
      'service=api',
      'level=error',
      'tags=env:prod',
      'q=payment',
      'host=web-1&level=info,debug',
      'from=2h',
      'from=2h&tags=region:eu',
    ]) {
      const { body } = await get(`/facets?${filters}`)
      const listed = (await get(`/query?${filters}&limit=1000`)).body.logs
      expect({ filters, total: body.total }).toEqual({ filters, total: listed.length })
      const byService = new Map<string, number>()
      for (const log of listed) byService.set(log.service, (byService.get(log.service) ?? 0) + 1)
      expect(Object.fromEntries(body.fields.service.values.map((item: { value: string; count: number }) => [item.value, item.count]))).toEqual(
        Object.fromEntries(byService),
      )
    }
    const { body } = await get('/facets?service=api&fields=level')
    expect(body).toEqual({
      fields: {
        level: {
          values: values([
            ['ERROR', 2],
            ['INFO', 1],
          ]),
          other: 0,
          approximate: false,
        },
      },
      total: 3,
    })
  })

  test('attr.<path>: values of a metadata field, among the logs that have it', async () => {
    const { body } = await get('/facets?fields=attr.user.id,attr.code')
    expect(body.fields).toEqual({
      'attr.user.id': {
        values: values([
          ['u1', 2],
          ['u2', 1],
        ]),
        other: 0,
        approximate: false,
      },
      'attr.code': {
        values: values([
          ['200', 1],
          ['500', 1],
        ]),
        other: 0,
        approximate: false,
      },
    })
  })

  test('over more logs than the sampling threshold, fields log_counts cannot answer are estimated from time slices, weighted by how busy each slice is', async () => {
    // Two slices of 5 µs over base..base+9. The first holds 4 logs, of which the first 3 are read: they cover
    // 3 µs of its 5, so each stands for 5/3 logs. The second holds 1 log, read whole (weight 1).
    const search = { ...parseSearch({}), fromMicros: base, toMicros: base + 9 }
    const sampling = { threshold: 4, slices: 2, rowsPerSlice: 3 }
    const answer = await facets(sql, search, planFacets({ fields: 'service,tags,attr.user.id' }), { sampling })
    const sample = { method: 'time-slices' as const, slices: 2, logsPerSlice: 3 }
    expect(answer).toEqual({
      fields: {
        service: {
          values: values([
            ['api', 3],
            ['billing', 1],
            ['worker', 1],
          ]),
          other: 0,
          approximate: false,
        },
        // env:prod: 2 × 5/3 + 1; region:eu 5/3; region:us 1 (the second slice's log).
        tags: {
          values: values([
            ['env:prod', 4],
            ['region:eu', 2],
            ['region:us', 1],
          ]),
          other: 0,
          approximate: true,
          sample,
        },
        'attr.user.id': {
          values: values([
            ['u1', 3],
            ['u2', 2],
          ]),
          other: 0,
          approximate: true,
          sample,
        },
      },
      total: 5,
    })
    const exact = await facets(sql, search, planFacets({ fields: 'tags' }), { sampling: { ...sampling, threshold: 5 } })
    expect(exact.fields.tags).toEqual({
      values: values([
        ['env:prod', 3],
        ['env:staging', 1],
        ['region:eu', 1],
        ['region:us', 1],
      ]),
      other: 0,
      approximate: false,
    })
  })

  test('fields that log_counts does not hold alone: the total still comes from it', async () => {
    const { status, body } = await get('/facets?from=2h&fields=tags')
    expect({ status, total: body.total, tags: body.fields.tags.values.length }).toEqual({ status: 200, total: 5, tags: 4 })
  })

  test('no matching logs: empty values and total 0', async () => {
    const { body } = await get('/facets?service=nobody&fields=level,tags')
    expect(body).toEqual({ fields: { level: { values: [], other: 0, approximate: false }, tags: { values: [], other: 0, approximate: false } }, total: 0 })
  })

  test('every bad parameter is a 400 naming it', async () => {
    const cases: [string, string][] = [
      ['fields=message', 'fields'],
      ['fields=attr.', 'fields'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['from=yesterday', 'from'],
      ['level=loud', 'level'],
      ['q=...', 'q'],
    ]
    for (const [parameters, parameter] of cases) {
      const { status, body } = await get(`/facets?${parameters}`)
      expect({ parameters, status, error: body.error, parameter: body.parameter }).toEqual({ parameters, status: 400, error: 'QUERY_INVALID', parameter })
    }
  })

  test('a database that cannot be reached is a 503 DATABASE_UNAVAILABLE', async () => {
    expect(await answerWithDatabaseDown('/facets')).toEqual({ status: 503, error: 'DATABASE_UNAVAILABLE' })
  })
})

/** The plans of /facets (EXPLAIN of the total and of every field's query) over 100k logs in the three days ending an hour ago. */
const planDatabase = await freshDatabase()
const planSql: Sql = connect(queryDatabaseUrl(planDatabase.url), { max: 4 })
afterAll(() => planSql.end())
const END = Math.floor(Date.now() / 3_600_000) * HOUR - HOUR
/** One hour in the middle of the data. */
const hour = { fromMicros: END - 30 * HOUR, toMicros: END - 29 * HOUR }
const everyField = planFacets({ fields: 'service,level,host,tags,attr.user.id' })

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)]
const partitionsWithRows = new Set<string>()
/** The per-partition indexes PostgreSQL made from an index on logs (logs_metadata_idx -> logs_20261126_metadata_idx, ...). */
const partitionIndexes = async (parent: string) =>
  new Set(
    (
      await planDatabase.sql<
        { name: string }[]
      >`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = ${parent}::regclass`
    ).map((row) => row.name),
  )

/**
 * The plan of each query /facets runs for `search`: with only service, level, host and time filters, one for
 * the total and those three fields from log_counts, then one per other field; otherwise the total, then one
 * per field.
 */
async function facetPlans(search: Search): Promise<{ query: string; plan: PlanNode[] }[]> {
  const counts = facetSources(search, Date.now() * 1000)
  const queries = counts
    ? [
        { query: 'total, service, level, host', sql: countedFacetsQuery(planSql, search, counts, ['service', 'level', 'host'], 10) },
        ...everyField.facets
          .filter((one) => !('column' in one) || one.column === 'tags')
          .map((one) => ({ query: one.name, sql: facetQuery(planSql, search, one, 10, 'rows') })),
      ]
    : [
        { query: 'total', sql: countQuery(planSql, search, undefined) },
        ...everyField.facets.map((one) => ({ query: one.name, sql: facetQuery(planSql, search, one, 10, 'rows') })),
      ]
  const plans = []
  for (const { query, sql: statement } of queries) {
    const [row] = await planSql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${statement}`
    plans.push({ query, plan: nodes(row!['QUERY PLAN'][0]!.Plan) })
  }
  return plans
}

const seqScansOnData = (plan: PlanNode[]) =>
  plan.filter((node) => /Seq Scan/.test(node['Node Type']) && partitionsWithRows.has(node['Relation Name'] ?? '')).map((node) => node['Relation Name'])
const bitmapScansOn = (plan: PlanNode[], indexes: Set<string>) =>
  plan.filter((node) => node['Node Type'] === 'Bitmap Index Scan' && indexes.has(node['Index Name'] ?? '')).length

describe('GET /facets query plans (100k logs over three days)', () => {
  beforeAll(async () => {
    // user.id: 1000 values, so attr.user.id=u7 is 100 logs; the tag canary is on one log in 500, env:prod on all.
    await planDatabase.sql`
      insert into logs (timestamp, service, level, message, metadata, host, tags, kafka_partition, kafka_offset)
      select ${formatMicros(END)}::text::timestamptz - i * interval '2.5 seconds', 'bulk-' || (i % 8),
        (array['DEBUG','INFO','INFO','WARN','ERROR'])[1 + i % 5], 'request ' || i,
        jsonb_build_object('user', jsonb_build_object('id', 'u' || (i % 1000)), 'route', '/r' || (i % 20)), 'host-' || (i % 40),
        case when i % 500 = 0 then array['env:prod', 'canary'] else array['env:prod'] end, 1, i
      from generate_series(1, 100000) as i`
    await planDatabase.sql`vacuum analyze logs`
    for (const { name } of await planDatabase.sql<{ name: string }[]>`select distinct tableoid::regclass::text as name from logs`) partitionsWithRows.add(name)
  }, 60_000)

  test('facet counts over one hour read that range through an index, only from the day partition(s) the hour lies in (and log_counts), never a sequential scan', async () => {
    expect(partitionsWithRows.size).toBeGreaterThan(2)
    const rangePartitions = new Set([partitionName(new Date(hour.fromMicros / 1000)), partitionName(new Date(hour.toMicros / 1000)), 'log_counts'])
    for (const { query, plan } of await facetPlans({ ...parseSearch({}), ...hour })) {
      expect({ query, seqScans: seqScansOnData(plan) }).toEqual({ query, seqScans: [] })
      expect({ query, indexed: plan.some((node) => /Index/.test(node['Node Type'])) }).toEqual({ query, indexed: true })
      const read = [...new Set(plan.map((node) => node['Relation Name']).filter((name): name is string => name !== undefined))]
      expect({ query, reads: read.length > 0, outsideTheHour: read.filter((name) => !rangePartitions.has(name)) }).toEqual({
        query,
        reads: true,
        outsideTheHour: [],
      })
    }
  })

  test('with only service, level, host and time filters, the total and the service, level and host counts read whole minutes from log_counts through its primary key (never analyzed); tags and attributes count rows', async () => {
    const half = { fromMicros: hour.fromMicros + 30_000_000, toMicros: hour.toMicros - 30_000_000 }
    for (const filters of [{}, { service: 'bulk-3' }, { level: 'error,warn', host: 'host-7' }]) {
      for (const range of [hour, half, {}]) {
        for (const { query, plan } of await facetPlans({ ...parseSearch(filters), ...range })) {
          const countsRead = plan.filter((node) => node['Relation Name'] === 'log_counts')
          const expected = query === 'total, service, level, host'
          expect({ filters, range, query, readsCounts: countsRead.length > 0 }).toEqual({ filters, range, query, readsCounts: expected })
          if (!expected || 'fromMicros' in range === false) continue
          const throughKey = plan.some((node) => node['Index Name'] === 'log_counts_pkey')
          const seqScan = countsRead.some((node) => /Seq Scan/.test(node['Node Type']))
          expect({ filters, range, query, throughKey, seqScan }).toEqual({ filters, range, query, throughKey: true, seqScan: false })
          expect({ query, seqScans: seqScansOnData(plan) }).toEqual({ query, seqScans: [] })
        }
      }
    }
  })

  test('counts from log_counts equal counts from rows, over ranges whose ends cut minutes and over everything', async () => {
    const MINUTE = 60_000_000
    const ranges = [
      {},
      hour,
      { fromMicros: hour.fromMicros + 7_000_123, toMicros: hour.toMicros + 2 * MINUTE + 31_000_001 },
      { toMicros: END - 50 * HOUR + 12_345 },
    ]
    let compared = 0
    for (const range of ranges) {
      for (const filters of [{}, { service: 'bulk-3' }, { level: 'error,warn', host: 'host-8' }, { host: 'host-3', service: 'bulk-3' }]) {
        const search = { ...parseSearch(filters), ...range }
        const fields = planFacets({ fields: 'service,level,host', limit: '100' })
        const counted = await facets(planSql, search, fields)
        // A negated attribute filter every log passes: the same logs, counted from every row (never sampled).
        const never = { ...search, attr: parseSearch({ '-attr.never': 'x' }).attr }
        const fromRows = await facets(planSql, never, fields, { sampling: { ...FacetSample, threshold: Number.POSITIVE_INFINITY } })
        expect({ range, filters, counted }).toEqual({ range, filters, counted: fromRows })
        compared += counted.total > 0 ? 1 : 0
      }
    }
    expect(compared).toBe(16)
  })

  test('facets with attr.<path>=value find the matching logs through the GIN index logs_metadata_idx (Bitmap Index Scan), over one hour and over every stored log', async () => {
    const metadataIndexes = await partitionIndexes('logs_metadata_idx')
    expect(metadataIndexes.size).toBeGreaterThan(2)
    for (const range of [hour, {}]) {
      for (const { query, plan } of await facetPlans({ ...parseSearch({ 'attr.user.id': 'u7' }), ...range })) {
        expect({ query, range, seqScans: seqScansOnData(plan) }).toEqual({ query, range, seqScans: [] })
        expect({ query, range, ginScans: bitmapScansOn(plan, metadataIndexes) > 0 }).toEqual({ query, range, ginScans: true })
      }
    }
    // And the counts read that way are exact: user.id u7 is every thousandth log.
    const answer = await facets(planSql, parseSearch({ 'attr.user.id': 'u7' }), planFacets({ fields: 'attr.user.id,service' }))
    expect(answer.total).toBe(100)
    expect(answer.fields['attr.user.id']!.values).toEqual([{ value: 'u7', count: 100 }])
  })

  test('facets with tags= find the matching logs through the tags GIN index (Bitmap Index Scan), over one hour and over every stored log', async () => {
    const tagIndexes = await partitionIndexes('logs_tags_idx')
    expect(tagIndexes.size).toBeGreaterThan(2)
    for (const range of [hour, {}]) {
      for (const { query, plan } of await facetPlans({ ...parseSearch({ tags: 'canary' }), ...range })) {
        expect({ query, range, seqScans: seqScansOnData(plan) }).toEqual({ query, range, seqScans: [] })
        expect({ query, range, ginScans: bitmapScansOn(plan, tagIndexes) > 0 }).toEqual({ query, range, ginScans: true })
      }
    }
    const answer = await facets(planSql, parseSearch({ tags: 'canary' }), planFacets({ fields: 'tags' }))
    expect(answer.total).toBe(200)
    expect(answer.fields.tags!.values).toEqual([
      { value: 'canary', count: 200 },
      { value: 'env:prod', count: 200 },
    ])
  })
})
