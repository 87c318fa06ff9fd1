import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { formatMicros } from '../../../src/lib/log-entry.ts'
import { formatLogId } from '../../../src/lib/log-id.ts'
import { parseSearch, queryDatabaseUrl, type SearchInput, searchLogs, searchQuery, withGinPlans } from '../../../src/lib/log-search.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { freshDatabase } from '../../support/infra.ts'

/**
 * attr.<path> filters on metadata through the HTTP API (app.handle) against a real PostgreSQL database:
 * a small, known set of logs for what matches, and 200k generated rows for the query plans.
 */
const known = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(known.url), { max: 2 })
const app = createQueryApp({ sql })
const large = await freshDatabase()
const largeSql: Sql = connect(queryDatabaseUrl(large.url), { max: 1 })
afterAll(() => Promise.all([sql.end(), largeSql.end()]))

const base = Date.now() * 1000 - 3_600_000_000

// biome-ignore format: one log per line, message first, reads as a table
const rows: [message: string, service: string, level: string, metadata: Record<string, unknown>][] = [
  ['nested number 500',   'api',    'INFO',  { http: { status: 500, method: 'GET' } }],
  ['nested string 500',   'api',    'ERROR', { http: { status: '500' } }],
  ['dotted keys',         'web',    'ERROR', { 'http.status': 500, 'user.id': 'u1' }],
  ['nested 200',          'api',    'INFO',  { http: { status: 200 } }],
  ['nested user u1',      'web',    'INFO',  { user: { id: 'u1' } }],
  ['no metadata',         'api',    'INFO',  {}],
  ['boolean true',        'worker', 'WARN',  { retry: true }],
  ['string true',         'worker', 'WARN',  { retry: 'true' }],
  ['null status',         'worker', 'INFO',  { http: { status: null } }],
  ['odd keys',            'worker', 'INFO',  { 'we"ird $key': { "a b'": 'x\\y' } }],
  ['status in an array',  'worker', 'INFO',  { http: { status: [500] } }],
  ['big number',          'worker', 'INFO',  {}], // {"order": 12345678901234567890}, written as JSON text below
]

beforeAll(async () => {
  // A number past 2^53 cannot be written from a JS object: the row's metadata is JSON text with the digits.
  const texts = rows.map(([message, , , metadata]) => (message === 'big number' ? '{"order": 12345678901234567890}' : JSON.stringify(metadata)))
  await sql`
    insert into logs (timestamp, service, level, message, metadata, kafka_partition, kafka_offset)
    select t::timestamptz, s, l, m, md::jsonb, 0, o::bigint
    from unnest(
      ${rows.map((_, i) => formatMicros(base + i * 1_000_000))}::text[], ${rows.map((row) => row[1])}::text[], ${rows.map((row) => row[2])}::text[],
      ${rows.map((row) => row[0])}::text[], ${texts}::text[], ${rows.map((_, i) => String(i + 1))}::text[]
    ) as r(t, s, l, m, md, o)`
})

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  return { status: response.status, body: await response.json() }
}

/** Messages of the matching logs, sorted: which logs match, not their order, is the point here. */
async function matches(query: string): Promise<string[]> {
  const { status, body } = await get(`/query?${query}`)
  expect(status).toBe(200)
  return body.logs.map((log: { message: string }) => log.message).sort()
}

const all = rows.map(([message]) => message)
const except = (...excluded: string[]) => all.filter((message) => !excluded.includes(message)).sort()

describe('attr.<path>=value', () => {
  test.each([
    [
      'a nested path matches the number and the string, and a top-level key with the dots',
      'attr.http.status=500',
      ['dotted keys', 'nested number 500', 'nested string 500'],
    ],
    ['combined with service', 'attr.http.status=500&service=api', ['nested number 500', 'nested string 500']],
    ['combined with level', 'attr.http.status=500&level=error', ['dotted keys', 'nested string 500']],
    ['an OTel-style dotted key and the nested object alike', 'attr.user.id=u1', ['dotted keys', 'nested user u1']],
    ['a number written differently matches numerically, not the string "500"', 'attr.http.status=500.0', ['dotted keys', 'nested number 500']],
    ['true matches the boolean and the string', 'attr.retry=true', ['boolean true', 'string true']],
    ['null matches JSON null', 'attr.http.status=null', ['null status']],
    ['a number past 2^53 keeps its digits', 'attr.order=12345678901234567890', ['big number']],
    ['a value that differs in its last digit does not match', 'attr.order=12345678901234567891', []],
    ['two filters on different fields are ANDed', 'attr.http.status=500&attr.http.method=GET', ['nested number 500']],
    ['the same path twice must hold both values', 'attr.http.status=500&attr.http.status=200', []],
    ['keys with quotes, spaces, $ and a backslash in the value', `attr.${encodeURIComponent('we"ird $key.a b\'')}=${encodeURIComponent('x\\y')}`, ['odd keys']],
    ['SQL or jsonpath syntax in a value is only a value', `attr.http.status=${encodeURIComponent("500' or true --")}`, []],
    ['a value inside an array does not match (containment is not searched into arrays)', 'attr.http.status=500&service=worker', []],
  ])('%s (%s)', async (_what, query, expected) => {
    expect(await matches(query)).toEqual(expected)
  })
})

describe('attr.<path>=* and -attr.<path>', () => {
  test.each([
    [
      'present: nested, dotted key, null and array values count',
      'attr.http.status=*',
      ['dotted keys', 'nested 200', 'nested number 500', 'nested string 500', 'null status', 'status in an array'],
    ],
    ['present, with level', 'attr.http.status=*&level=error', ['dotted keys', 'nested string 500']],
    ['not equal or absent', '-attr.http.status=500', except('dotted keys', 'nested number 500', 'nested string 500')],
    ['not equal, with service', '-attr.http.status=500&service=api', ['nested 200', 'no metadata']],
    ['absent', '-attr.http.status=*', except('dotted keys', 'nested 200', 'nested number 500', 'nested string 500', 'null status', 'status in an array')],
    ['present and not equal', 'attr.http.status=*&-attr.http.status=500', ['nested 200', 'null status', 'status in an array']],
  ])('%s (%s)', async (_what, query, expected) => {
    expect(await matches(query)).toEqual(expected)
  })
})

describe('parameters', () => {
  test('an unknown parameter is a 400 naming it, and no search runs', async () => {
    const { status, body } = await get('/query?servce=web')
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'QUERY_INVALID', parameter: 'servce', message: expect.stringContaining('unknown parameter "servce"; known: service, level') })
  })
})

/** Attribute equality must be answered by schema.sql's GIN index on metadata (jsonb_path_ops, logs_metadata_idx). */
describe('query plans', () => {
  interface PlanNode {
    'Node Type': string
    'Relation Name'?: string
    'Index Name'?: string
    Plans?: PlanNode[]
  }
  const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)]
  const partitionsWithRows = new Set<string>()

  beforeAll(async () => {
    await large.sql`
      insert into logs (timestamp, service, level, message, metadata, host, tags, kafka_partition, kafka_offset)
      select now() - (i * interval '1 second'), 'svc-' || (i % 8), (array['DEBUG','INFO','INFO','INFO','WARN','ERROR'])[1 + i % 6],
        'request ' || i, case when i % 2 = 0
          then jsonb_build_object('http', jsonb_build_object('status', (array[200, 200, 200, 404, 500])[1 + i % 5] + (i % 997 = 0)::int * 3), 'user.id', 'u' || (i % 5000))
          else jsonb_build_object('user', jsonb_build_object('id', 'u' || (i % 5000)), 'n', i) end,
        'host-' || (i % 40), array['env:prod'], i % 3, i
      from generate_series(1, 200000) as i`
    await large.sql`vacuum analyze logs`
    for (const { name } of await large.sql<{ name: string }[]>`select distinct tableoid::regclass::text as name from logs`) partitionsWithRows.add(name)
  }, 120_000)

  const plan = async (input: SearchInput) => {
    const search = parseSearch(input)
    const [row] = await largeSql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${searchQuery(largeSql, search)}`
    return nodes(row!['QUERY PLAN'][0]!.Plan)
  }
  const sequentialScans = (plan: PlanNode[]) =>
    plan.filter((node) => node['Node Type'] === 'Seq Scan' && partitionsWithRows.has(node['Relation Name'] ?? '')).map((node) => node['Relation Name'])
  const usesMetadataIndex = (plan: PlanNode[]) => plan.some((node) => node['Node Type'] === 'Bitmap Index Scan' && /metadata/.test(node['Index Name'] ?? ''))

  test.each([
    ['a rare nested value', { 'attr.http.status': '503' }],
    ['a rare dotted key', { 'attr.user.id': 'u4242' }],
    ['a rare value with service', { 'attr.http.status': '503', service: 'svc-2' }],
  ] as [string, SearchInput][])('equality on %s is looked up in the metadata GIN index', async (_what, input) => {
    const nodesOfPlan = await plan(input)
    expect(partitionsWithRows.size).toBeGreaterThan(1)
    expect(sequentialScans(nodesOfPlan)).toEqual([])
    expect(usesMetadataIndex(nodesOfPlan)).toBe(true)
  })

  test.each([
    ['a rare value', { 'attr.http.status': '503' }],
    ['a common value', { 'attr.http.status': '200' }],
    ['a common value, page 3', { 'attr.http.status': '200', page: '3' }],
    ['a dotted key', { 'attr.user.id': 'u4242' }],
    ['an absent value', { 'attr.http.status': '999' }],
    ['a value with service and a time range', { 'attr.http.status': '404', service: 'svc-4', from: '30h', to: '2h' }],
  ] as [string, SearchInput][])('%s: the windowed search returns the same logs as the query over everything', async (_what, input) => {
    const search = parseSearch(input)
    const ids = (await searchQuery(largeSql, search)).slice(0, search.limit).map(formatLogId)
    expect((await searchLogs(largeSql, search)).logs.map((log) => log.id)).toEqual(ids)
    if (input['attr.http.status'] !== '999') expect(ids.length).toBeGreaterThan(0)
  })

  test('a common value is searched with bitmap scans through the metadata index in windowed searches', async () => {
    const search = parseSearch({ 'attr.http.status': '200' })
    const [row] = await withGinPlans(largeSql, (tx) => tx<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${searchQuery(tx, search)}`)
    const nodesOfPlan = nodes(row!['QUERY PLAN'][0]!.Plan)
    expect(sequentialScans(nodesOfPlan)).toEqual([])
    expect(usesMetadataIndex(nodesOfPlan)).toBe(true)
  })
})
