import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { formatLogId } from '../../../src/lib/log-id.ts'
import { parseSearch, queryDatabaseUrl, type Search, type SearchInput, searchLogs, searchQuery, traceQuery } from '../../../src/lib/log-search.ts'
import { type PlanShape, withPlan } from '../../../src/lib/search-plans.ts'
import { drivenQuery, sampleQuery, traceSplit } from '../../../src/lib/search-rows.ts'
import { freshDatabase } from '../../support/infra.ts'

/**
 * Plans on a table PostgreSQL has no statistics for: a busy hour as issue 13 describes it (rows in the last
 * hour, one service holding most of them, a tag on every log), written with every index in place,
 * autovacuum off on every partition, never analyzed. Each query shape must use the index it was designed
 * for all the same. The planner left to itself does not always (the first test shows it; its walk of the
 * primary key for a trace appeared only on 10M rows, too many to load here).
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 2 })
afterAll(() => sql.end())

const ROWS = 200_000
const TRACE = 'c4ca4238a0b923820dcc509a6f75849b' // md5('1'): the trace of rows 8..15

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Scan Direction'?: string
  Plans?: PlanNode[]
}

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)]

/** The nodes of the plan of `query` (a function of the transaction it runs in), with `shape`'s settings or none. */
async function planOf(shape: PlanShape | undefined, query: (tx: Sql) => ReturnType<typeof searchQuery>): Promise<PlanNode[]> {
  const explain = async (tx: Sql) => (await tx<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${query(tx)}`)[0]!
  const row = shape === undefined ? await explain(sql) : await withPlan(sql, shape, explain)
  return nodes(row['QUERY PLAN'][0]!.Plan)
}

/** Index scans of the partition holding the rows, as "<kind> <index suffix>" (e.g. "Index Scan Backward service_timestamp_idx"). */
const scansOf = (plan: PlanNode[]) =>
  plan
    .filter((node) => node['Index Name']?.startsWith(filled))
    .map((node) => `${node['Node Type']}${node['Scan Direction'] === 'Backward' ? ' Backward' : ''} ${node['Index Name']!.slice(filled.length + 1)}`)

let filled = ''
const search = (input: SearchInput): Search => parseSearch(input)

beforeAll(async () => {
  const partitions = await database.sql<{ name: string }[]>`
    select c.relname as name from pg_inherits h join pg_class c on c.oid = h.inhrelid where h.inhparent = 'logs'::regclass`
  for (const { name } of partitions) await database.sql.unsafe(`alter table "${name}" set (autovacuum_enabled = off)`)
  // Newest first from now - 1 s, one every 10 ms (the last 2000 s); 85 % checkout; 7 % ERROR; trace md5(i / 8).
  await database.sql`
    insert into logs (timestamp, service, level, message, metadata, trace_id, host, tags, kafka_partition, kafka_offset)
    select now() - interval '1 second' - i * interval '10 milliseconds',
      case when i % 20 < 17 then 'checkout' else 'svc-' || (i % 7) end,
      case when i % 100 < 7 then 'ERROR' when i % 100 = 7 then 'FATAL' else 'INFO' end,
      format('request %s %s after %s ms', i, (array['shipped', 'refused', 'declined'])[1 + i % 3], i % 1000),
      jsonb_build_object('user.id', 'u' || (i % 5000)), md5((i / 8)::text), 'h' || (i % 8),
      array['load', 'env:' || case when i % 10 = 0 then 'staging' else 'prod' end], i % 3, i
    from generate_series(1, ${ROWS}::integer) as i`
  const [row] = await database.sql<{ name: string }[]>`select tableoid::regclass::text as name from logs limit 1`
  filled = row!.name
  const [stats] = await database.sql<{ n: number }[]>`
    select count(*)::integer as n from pg_statistic
    where starelid = 'logs'::regclass or starelid in (select inhrelid from pg_inherits where inhparent = 'logs'::regclass)`
  expect(stats!.n).toBe(0)
}, 120_000)

describe('plans without statistics', () => {
  const serviceLevel = search({ service: 'checkout', level: 'error', from: '1h' })

  test('left to itself, PostgreSQL answers service + level over 1 h with bitmaps (ANDing the busy service index)', async () => {
    expect(scansOf(await planOf(undefined, (tx) => searchQuery(tx, serviceLevel)))).toContain('Bitmap Index Scan service_timestamp_idx')
  })

  test('service + level over 1 h: (service, timestamp) read backward, the level a filter, no bitmap', async () => {
    expect(scansOf(await planOf('ordered', (tx) => searchQuery(tx, serviceLevel)))).toEqual(['Index Scan Backward service_timestamp_idx'])
  })

  test('no service (level, host): the primary key read backward', async () => {
    const plan = await planOf('ordered', (tx) => searchQuery(tx, search({ level: 'fatal', host: 'h3' })))
    expect(scansOf(plan)).toEqual(['Index Scan Backward pkey'])
  })

  test('the trace look-up uses the trace index', async () => {
    expect(scansOf(await planOf('bitmap', (tx) => traceQuery(tx, TRACE)))).toEqual(['Bitmap Index Scan trace_id_idx'])
  })

  test('/query?trace_id= with other filters: the trace index alone finds the rows', async () => {
    const { driving, rest } = traceSplit(search({ trace_id: TRACE, service: 'checkout', level: 'info', from: '1h', tags: 'load' }))
    expect(scansOf(await planOf('bitmap', (tx) => drivenQuery(tx, driving, rest)))).toEqual(['Bitmap Index Scan trace_id_idx'])
  })

  test('a GIN-filter search first reads the newest rows by an ordered scan, the tag and word as filters', async () => {
    const tagged = await planOf('ordered', (tx) => sampleQuery(tx, search({ tags: 'load', host: 'h3' })))
    expect(scansOf(tagged)).toEqual(['Index Scan Backward pkey'])
    const worded = await planOf('ordered', (tx) => sampleQuery(tx, search({ q: 'refused', service: 'checkout', from: '1h' })))
    expect(scansOf(worded)).toEqual(['Index Scan Backward service_timestamp_idx'])
  })

  test('then the GIN indexes alone, never ANDed with a btree index of the service or the time range', async () => {
    const words = search({ q: 'refused shipped', service: 'checkout', from: '1h' })
    const { q, tags, limit, page } = words
    const plan = await planOf('bitmap', (tx) => drivenQuery(tx, { q, tags, limit, page }, { ...words, q: undefined }))
    expect(scansOf(plan)).toEqual(['Bitmap Index Scan to_tsvector_idx'])
  })
})

/** Every shape's answer equals the plain query's (no plan settings, no sampling), whichever phase ends it. */
describe('answers', () => {
  const ids = (rows: Parameters<typeof formatLogId>[0][]) => rows.map(formatLogId)

  test.each([
    ['service + level', { service: 'checkout', level: 'error', from: '1h' }],
    ['trace with a level', { trace_id: TRACE, level: 'info' }],
    ['a tag on every log + host (the first sample)', { tags: 'load', host: 'h3' }],
    ['a tag on one log in ten + a word in a third (the second sample)', { tags: 'env:staging', q: 'refused', service: 'svc-3' }],
    ['a user in one log in 5000 (the GIN index)', { 'attr.user.id': 'u42' }],
    ['two words no log has together', { q: 'refused shipped' }],
    ['page 3 of a word', { q: 'declined', host: 'h1', page: '3', limit: '50' }],
    // Fewer rows pass service and time than a sample reads: that sample is the whole answer, short of a page.
    ['a word in a third of a quiet service over a minute (a sample holding every candidate)', { q: 'refused', service: 'svc-2', from: '1m' }],
    ['a tag no log has, in a quiet service over a minute', { tags: 'none', service: 'svc-2', from: '1m' }],
    ['a word in a third of a quiet service, page 2 past its end', { q: 'refused', service: 'svc-2', from: '1m', page: '2' }],
  ] as [string, SearchInput][])('%s', async (_what, input) => {
    const wanted = search(input)
    const expected = ids(await searchQuery(sql, wanted)).slice(0, wanted.limit)
    expect((await searchLogs(sql, wanted)).logs.map((log) => log.id)).toEqual(expected)
  })
})
