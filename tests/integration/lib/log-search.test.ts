import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { decodeCursor } from '../../../src/lib/cursor.ts'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { formatLogId } from '../../../src/lib/log-id.ts'
import { parseSearch, queryDatabaseUrl, type SearchInput, searchLogs, searchQuery, traceQuery, withGinPlans } from '../../../src/lib/log-search.ts'
import { drivenQuery, splitGin } from '../../../src/lib/search-rows.ts'
import { freshDatabase } from '../../support/infra.ts'

const NOW = Date.parse('2026-03-10T12:00:00Z') * 1000

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

/**
 * On a table large enough that the planner prefers sequential scans when it can (200k rows spread over
 * three days, several services, hosts, levels, tags and traces), every filter the API offers must be
 * answered through an index.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 1 })
afterAll(() => sql.end())

describe('query plans', () => {
  const traceId = 'c4ca4238a0b923820dcc509a6f75849b' // md5('1'): the trace of rows 8..15

  beforeAll(async () => {
    await database.sql`
      insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset)
      select now() - (i * interval '1 second'),
        'svc-' || (i % 8), (array['DEBUG','INFO','INFO','INFO','INFO','WARN','ERROR'])[1 + i % 7],
        format('request %s finished with status %s after %s ms', i, (array[200, 404, 500])[1 + i % 3], i % 1000),
        jsonb_build_object('n', i), md5((i / 8)::text), left(md5(i::text), 16), 'host-' || (i % 40),
        array['env:' || (array['prod','staging'])[1 + i % 2], 'region:' || (i % 4)], i % 3, i
      from generate_series(1, 200000) as i`
    await database.sql`update logs set level = 'FATAL' where kafka_offset % 1000 = 0`
    await database.sql`vacuum analyze logs`
    const filled = await database.sql<{ name: string }[]>`select distinct tableoid::regclass::text as name from logs`
    for (const { name } of filled) partitionsWithRows.add(name)
  }, 60_000)

  // Empty partitions (days ahead, the default one) are scanned sequentially at no cost: reading nothing
  // through an index would cost more. Only partitions holding rows must be read through an index.
  const partitionsWithRows = new Set<string>()
  const sequentialScans = (plan: PlanNode[]) =>
    plan.filter((node) => node['Node Type'] === 'Seq Scan' && partitionsWithRows.has(node['Relation Name'] ?? '')).map((node) => node['Relation Name'])

  const cases: [string, SearchInput][] = [
    ['no filter (latest 100)', {}],
    ['service', { service: 'svc-3' }],
    ['service and level over one hour', { service: 'svc-3', level: 'error', from: '1h' }],
    ['a rare level', { level: 'fatal' }],
    ['a common level', { level: 'info' }],
    ['from and to', { from: '30h', to: '29h' }],
    ['host', { host: 'host-7' }],
    ['trace_id', { trace_id: traceId }],
    ['tags', { tags: 'env:prod,region:2' }],
    ['q, a rare word', { q: '123457' }],
    ['q, a common phrase', { q: '"status 404"' }],
    ['page 50', { page: '50' }],
  ]

  test.each(cases)('%s uses an index, never a sequential scan', async (_what, input) => {
    const search = parseSearch(input)
    const [row] = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${searchQuery(sql, search)}`
    const plan = nodes(row!['QUERY PLAN'][0]!.Plan)
    expect(partitionsWithRows.size).toBeGreaterThan(1)
    expect(sequentialScans(plan)).toEqual([])
    expect(plan.some((node) => /Index/.test(node['Node Type']))).toBe(true)
  })

  // Past the samples of the newest rows (search-rows.ts), rare and absent terms are looked up in the GIN
  // index alone, with every other condition applied to what it finds.
  const ginCases: [string, SearchInput][] = [
    ['q, a rare word', { q: '123457' }],
    ['q, a common phrase', { q: '"status 404"' }],
    ['q, words that never meet', { q: 'request missing' }],
    ['tags, common', { tags: 'env:prod' }],
    ['tags, absent', { tags: 'team:nobody' }],
    ['q and service over one hour', { q: 'finished', service: 'svc-1', from: '1h' }],
  ]

  test.each(ginCases)('%s is looked up in its GIN index alone, with bitmap scans', async (_what, input) => {
    const { gin, rest } = splitGin(parseSearch(input))
    const [row] = await withGinPlans(sql, (tx) => tx<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${drivenQuery(tx, gin, rest)}`)
    const plan = nodes(row!['QUERY PLAN'][0]!.Plan).filter((node) => partitionsWithRows.has(node['Relation Name'] ?? '') || node['Index Name'])
    const filled = plan.filter((node) => [...partitionsWithRows].some((name) => node['Index Name']?.startsWith(name)))
    expect(sequentialScans(plan)).toEqual([])
    expect(filled.length).toBeGreaterThan(0)
    expect(filled.filter((node) => node['Node Type'] !== 'Bitmap Index Scan' || !/tags_idx|tsvector_idx/.test(node['Index Name'] ?? ''))).toEqual([])
  })

  test('a cursor page uses an index, never a sequential scan', async () => {
    const [first] = await sql<{ timestamp: string; kafka_partition: number; kafka_offset: bigint }[]>`
      select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as timestamp, kafka_partition, kafka_offset
      from logs order by timestamp desc offset 5000 limit 1`
    const search = parseSearch({}, NOW)
    search.cursor = { timestamp: first!.timestamp, partition: first!.kafka_partition, offset: first!.kafka_offset.toString() }
    const [row] = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${searchQuery(sql, search)}`
    const plan = nodes(row!['QUERY PLAN'][0]!.Plan)
    expect(sequentialScans(plan)).toEqual([])
  })

  test('the trace look-up uses the trace index', async () => {
    const [row] = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${traceQuery(sql, traceId)}`
    const plan = nodes(row!['QUERY PLAN'][0]!.Plan)
    expect(sequentialScans(plan)).toEqual([])
    expect(plan.some((node) => /trace_id/.test(node['Index Name'] ?? ''))).toBe(true)
  })
})

/**
 * q and tags searches read samples of the newest rows first (search-rows.ts); on the same 200k rows their
 * answers must be exactly those of the plain query over everything, whichever phase ends the search.
 */
describe('sampled q and tags searches', () => {
  const ids = (rows: Parameters<typeof formatLogId>[0][]) => rows.map(formatLogId)

  test.each([
    ['a phrase in a third of the rows (the first sample suffices)', { q: '"status 404"' }],
    ['a word in one row (no match in the first sample)', { q: '123457' }],
    ['a phrase in one row in a thousand (the GIN index)', { q: '"after 999 ms"' }],
    ['two tags', { tags: 'env:prod,region:2' }],
    ['a phrase, second page', { q: '"after 999 ms"', limit: '50', page: '2' }],
    ['a phrase with a time range', { q: '"status 500"', from: '30h', to: '2h' }],
  ] as [string, SearchInput][])('%s: same logs as the plain query', async (_what, input) => {
    const search = parseSearch(input)
    const expected = ids(await searchQuery(sql, search)).slice(0, search.limit)
    const result = await searchLogs(sql, search)
    expect(expected.length).toBeGreaterThan(0)
    expect(result.logs.map((log) => log.id)).toEqual(expected)
  })

  test('a cursor walk over a sparse phrase returns every match once, newest first', async () => {
    const search = parseSearch({ q: '"after 999 ms"', limit: '40' })
    const all = ids(await searchQuery(sql, { ...search, limit: 1000 }))
    const walked: string[] = []
    for (let cursor: string | null = null, round = 0; round < 20; round++) {
      const page = await searchLogs(sql, { ...search, cursor: cursor ? decodeCursor(cursor) : undefined })
      walked.push(...page.logs.map((log) => log.id))
      cursor = page.nextCursor
      if (!cursor) break
    }
    expect(all.length).toBeGreaterThan(100)
    expect(walked).toEqual(all)
  })
})
