import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../../src/lib/db.ts'
import { formatMicros } from '../../../../src/lib/log-entry.ts'
import { parseSearch, queryDatabaseUrl } from '../../../../src/lib/log-search.ts'
import { histogram, histogramQuery, planHistogram } from '../../../../src/lib/query/histogram.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { partitionName } from '../../../../src/lib/retention.ts'
import { answerWithDatabaseDown } from '../../../support/database-down.ts'
import { freshDatabase } from '../../../support/infra.ts'

/**
 * GET /histogram in process (app.handle) against a real database holding known logs: one hour starting
 * two whole hours ago (FROM..TO), 22 services in the hour before it, and one log ten minutes ago.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const MINUTE = 60_000_000
const HOUR = 60 * MINUTE
const FROM = Math.floor(Date.now() / 3_600_000) * HOUR - 2 * HOUR
const TO = FROM + HOUR
let nextOffset = 1

interface Row {
  at: number
  service: string
  level: string
  message?: string
  host?: string | null
  tags?: string[]
}

async function insert(rows: Row[]): Promise<void> {
  const offsets = rows.map(() => String(nextOffset++))
  await sql`
    insert into logs (timestamp, service, level, message, host, tags, kafka_partition, kafka_offset)
    select t::timestamptz, s, l, m, h, array(select jsonb_array_elements_text(tg::jsonb)), 0, o::bigint
    from unnest(
      ${rows.map((row) => formatMicros(row.at))}::text[], ${rows.map((row) => row.service)}::text[], ${rows.map((row) => row.level)}::text[],
      ${rows.map((row) => row.message ?? 'something happened')}::text[], ${rows.map((row) => row.host ?? null)}::text[],
      ${rows.map((row) => JSON.stringify(row.tags ?? []))}::text[], ${offsets}::text[]
    ) as r(t, s, l, m, h, tg, o)`
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  return { status: response.status, body: await response.json() }
}

const range = `from=${formatMicros(FROM)}&to=${formatMicros(TO)}`

beforeAll(async () => {
  await insert([
    { at: FROM, service: 'api', level: 'INFO', host: 'web-1', message: 'user alice logged in', tags: ['env:prod'] },
    { at: FROM + MINUTE - 1, service: 'api', level: 'ERROR', host: 'web-2', message: 'payment declined for order 42' },
    { at: FROM + MINUTE, service: 'billing', level: 'ERROR', host: 'db-1', message: 'payment declined for order 43', tags: ['env:prod'] },
    { at: FROM + 5 * MINUTE + 1, service: 'worker', level: 'WARN', tags: ['env:prod', 'region:eu'] },
    { at: FROM + 30 * MINUTE, service: 'api', level: 'INFO', host: 'web-1' },
    // Exactly at `to` (inclusive, as on /query): counted in the last bucket.
    { at: TO, service: 'api', level: 'FATAL', host: 'web-1' },
    // Just outside the range on either side.
    { at: FROM - 1, service: 'api', level: 'ERROR', host: 'web-1' },
    { at: TO + 1, service: 'api', level: 'ERROR', host: 'web-1' },
    // The hour before: s01 three times, s02..s22 once each.
    ...Array.from({ length: 22 }, (_, index) => ({ at: FROM - HOUR + index * MINUTE, service: `s${String(index + 1).padStart(2, '0')}`, level: 'INFO' })),
    { at: FROM - HOUR + 30 * MINUTE, service: 's01', level: 'INFO' },
    { at: FROM - HOUR + 31 * MINUTE, service: 's01', level: 'INFO' },
    { at: Date.now() * 1000 - 10 * MINUTE, service: 'recent', level: 'DEBUG' },
  ])
  // For the plan test: 100k logs over the three days ending three hours before FROM, where no other test looks.
  await database.sql`
    insert into logs (timestamp, service, level, message, host, kafka_partition, kafka_offset)
    select ${formatMicros(FROM - 3 * HOUR)}::text::timestamptz - i * interval '2.5 seconds', 'bulk-' || (i % 8),
      (array['DEBUG','INFO','INFO','WARN','ERROR'])[1 + i % 5], 'request ' || i, 'host-' || (i % 40), 1, i
    from generate_series(1, 100000) as i`
  await database.sql`vacuum analyze logs`
  for (const { name } of await database.sql<{ name: string }[]>`select distinct tableoid::regclass::text as name from logs`) partitionsWithRows.add(name)
}, 60_000)

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Index Cond'?: string
  'Recheck Cond'?: string
  Filter?: string
  Plans?: PlanNode[]
}
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)]
const partitionsWithRows = new Set<string>()

/** How many logs /query pages through for the same parameters (all of them: limit 1000 is more than there are). */
async function queryCount(parameters: string): Promise<number> {
  const { status, body } = await get(`/query?${parameters}&limit=1000`)
  expect(status).toBe(200)
  expect(body.pagination.has_more).toBe(false)
  return body.logs.length
}

describe('GET /histogram', () => {
  test('counts per one-minute bucket by level, every bucket present and zero-filled, a log at `to` in the last one', async () => {
    const { status, body } = await get(`/histogram?${range}&step=1m`)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      step: 60,
      from: formatMicros(FROM),
      to: formatMicros(TO),
      group_by: 'level',
      groups: ['INFO', 'WARN', 'ERROR', 'FATAL'],
      total: 6,
    })
    expect(body.buckets).toHaveLength(60)
    expect(body.buckets.map((bucket: { start: string }) => bucket.start)).toEqual(Array.from({ length: 60 }, (_, index) => formatMicros(FROM + index * MINUTE)))
    const zero = { INFO: 0, WARN: 0, ERROR: 0, FATAL: 0 }
    expect(body.buckets[0]).toEqual({ start: formatMicros(FROM), counts: { ...zero, INFO: 1, ERROR: 1 }, other: 0, total: 2 })
    expect(body.buckets[1]).toEqual({ start: formatMicros(FROM + MINUTE), counts: { ...zero, ERROR: 1 }, other: 0, total: 1 })
    expect(body.buckets[2]).toEqual({ start: formatMicros(FROM + 2 * MINUTE), counts: zero, other: 0, total: 0 })
    expect(body.buckets[5].counts).toEqual({ ...zero, WARN: 1 })
    expect(body.buckets[30].counts).toEqual({ ...zero, INFO: 1 })
    expect(body.buckets[59].counts).toEqual({ ...zero, FATAL: 1 })
    expect(body.buckets.reduce((sum: number, bucket: { total: number }) => sum + bucket.total, 0)).toBe(6)
  })

  test('total equals the number of logs /query pages through for the same filters and range', async () => {
    for (const filters of ['', '&service=api', '&level=error,fatal', '&tags=env:prod', '&q=payment', '&host=web-1&level=info']) {
      const { body } = await get(`/histogram?${range}${filters}`)
      expect({ filters, total: body.total }).toEqual({ filters, total: await queryCount(`${range}${filters}`) })
    }
    expect((await get(`/histogram?${range}&service=api`)).body.total).toBe(4)
    expect((await get(`/histogram?${range}&q=payment`)).body.total).toBe(2)
  })

  test('buckets=N: N buckets of range / N', async () => {
    const { body } = await get(`/histogram?${range}&buckets=4`)
    expect(body.step).toBe(900)
    expect(body.buckets.map((bucket: { total: number }) => bucket.total)).toEqual([4, 0, 1, 1])
  })

  test('step=15m with a filter (the README example)', async () => {
    const { body } = await get(`/histogram?${range}&step=15m&service=api`)
    expect(body.groups).toEqual(['INFO', 'ERROR', 'FATAL'])
    expect(body.buckets.map((bucket: { counts: Record<string, number> }) => bucket.counts)).toEqual([
      { INFO: 1, ERROR: 1, FATAL: 0 },
      { INFO: 0, ERROR: 0, FATAL: 0 },
      { INFO: 1, ERROR: 0, FATAL: 0 },
      { INFO: 0, ERROR: 0, FATAL: 1 },
    ])
  })

  test('defaults: the last hour in one-minute buckets on whole minutes (61 of them unless now is a whole minute); a relative from works as on /query', async () => {
    const { body } = await get('/histogram')
    expect(body.step).toBe(60)
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(3_600_000)
    expect([60, 61]).toContain(body.buckets.length)
    expect(body.buckets[0].start).toBe(`${body.from.slice(0, 17)}00.000000Z`)
    expect(body.total).toBe(1)
    // The log from 10 minutes ago, in the minute that holds it.
    const [filled, ...others] = body.buckets.filter((bucket: { total: number }) => bucket.total > 0)
    expect(others).toEqual([])
    expect(filled.counts).toEqual({ DEBUG: 1 })
    expect(Date.parse(body.to) - Date.parse(filled.start)).toBeGreaterThan(10 * 60_000)
    expect(Date.parse(body.to) - Date.parse(filled.start)).toBeLessThan(12 * 60_000)
    expect((await get('/histogram?from=30m')).body.total).toBe(1)
  })

  test('group_by=service: groups by count; past the 20 largest, the rest are summed in other', async () => {
    const { body } = await get(`/histogram?from=${formatMicros(FROM - HOUR)}&to=${formatMicros(FROM - 2)}&buckets=1&group_by=service`)
    expect(body.groups).toEqual(Array.from({ length: 20 }, (_, index) => `s${String(index + 1).padStart(2, '0')}`))
    expect(body.buckets[0].counts.s01).toBe(3)
    expect(body.buckets[0].other).toBe(2)
    expect(body.buckets[0].total).toBe(24)
    expect(body.total).toBe(24)
  })

  test('group_by=host: logs without a host under "(none)"', async () => {
    const { body } = await get(`/histogram?${range}&buckets=1&group_by=host`)
    expect(body.groups).toEqual(['web-1', '(none)', 'db-1', 'web-2'])
    expect(body.buckets[0].counts).toEqual({ 'web-1': 3, 'db-1': 1, 'web-2': 1, '(none)': 1 })
  })

  test('every bad parameter is a 400 naming it', async () => {
    const cases: [string, string][] = [
      ['buckets=0', 'buckets'],
      ['buckets=301', 'buckets'],
      ['buckets=many', 'buckets'],
      ['step=1y', 'step'],
      ['step=1s', 'step'],
      ['step=1m&buckets=10', 'step'],
      ['group_by=message', 'group_by'],
      ['from=yesterday', 'from'],
      [`from=${formatMicros(TO)}&to=${formatMicros(FROM)}`, 'from'],
      ['from=2099-01-01T00:00:00Z', 'from'],
      ['level=loud', 'level'],
      ['trace_id=xyz', 'trace_id'],
    ]
    for (const [parameters, parameter] of cases) {
      const { status, body } = await get(`/histogram?${parameters}`)
      expect({ parameters, status, error: body.error, parameter: body.parameter }).toEqual({ parameters, status: 400, error: 'QUERY_INVALID', parameter })
    }
  })

  test('a database that cannot be reached is a 503 DATABASE_UNAVAILABLE', async () => {
    expect(await answerWithDatabaseDown('/histogram')).toEqual({ status: 503, error: 'DATABASE_UNAVAILABLE' })
  })

  test('over one hour of three days of logs, the plan reads that range through an index, never a sequential scan', async () => {
    const from = FROM - 30 * HOUR
    const search = { ...parseSearch({}), fromMicros: from, toMicros: from + HOUR }
    const [row] = await sql<
      { 'QUERY PLAN': { Plan: PlanNode }[] }[]
    >`explain (format json) ${histogramQuery(sql, search, planHistogram({}, from, from + HOUR), Date.now() * 1000)}`
    const plan = nodes(row!['QUERY PLAN'][0]!.Plan)
    expect(partitionsWithRows.size).toBeGreaterThan(2)
    expect(plan.filter((node) => node['Node Type'] === 'Seq Scan' && partitionsWithRows.has(node['Relation Name'] ?? ''))).toEqual([])
    expect(plan.some((node) => /Index/.test(node['Node Type']))).toBe(true)
    // Partition pruning: at most the day partitions the hour touches (two, across midnight), and none of the others holding rows.
    const read = new Set(plan.map((node) => node['Relation Name']).filter((name) => name !== undefined && partitionsWithRows.has(name)))
    expect(read.size).toBeGreaterThanOrEqual(1)
    expect(read.size).toBeLessThanOrEqual(2)
  })
})

describe('GET /histogram from log_counts', () => {
  const explain = async (search: ReturnType<typeof parseSearch>, input: { step?: string; buckets?: string }) => {
    const plan = planHistogram(input, search.fromMicros!, search.toMicros!)
    const [row] = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>`explain (format json) ${histogramQuery(sql, search, plan, Date.now() * 1000)}`
    return nodes(row!['QUERY PLAN'][0]!.Plan)
  }
  const conditionsOn = (plan: PlanNode[], relation: RegExp) =>
    plan.filter((node) => relation.test(node['Relation Name'] ?? '')).map((node) => JSON.stringify([node['Index Cond'], node['Recheck Cond'], node.Filter]))

  test('with service, level and host filters over a day, whole minutes come from log_counts through its primary key and only the minute after the last whole one from logs', async () => {
    const to = FROM - 3 * HOUR
    for (const filters of [{}, { service: 'bulk-3' }, { level: 'error,warn' }, { host: 'host-7', service: 'bulk-7' }]) {
      const search = { ...parseSearch(filters), fromMicros: to - 24 * HOUR, toMicros: to }
      const plan = await explain(search, { step: '5m' })
      expect({ filters, countsByKey: plan.some((node) => node['Index Name'] === 'log_counts_pkey') }).toEqual({ filters, countsByKey: true })
      expect({ filters, seqScans: plan.filter((node) => node['Node Type'] === 'Seq Scan').map((node) => node['Relation Name']) }).toEqual({
        filters,
        seqScans: [],
      })
      // The rows read from logs: the one partition holding `to`, at `to` itself (the span [to, to + 1 µs) goes
      // in as a parameter; the constant bounds beside it prune the other partitions).
      const logsRead = new Set(plan.map((node) => node['Relation Name']).filter((name) => name !== undefined && partitionsWithRows.has(name)))
      expect({ filters, logsRead: [...logsRead] }).toEqual({ filters, logsRead: [partitionName(new Date(to / 1000))] })
      expect(conditionsOn(plan, /^logs_/).join()).toContain(new Date(to / 1000).toISOString().slice(0, 19).replace('T', ' '))
    }
  })

  test('q, tags, attributes and trace_id count rows only', async () => {
    const to = FROM - 3 * HOUR
    for (const filters of [{ q: 'request' }, { tags: 'env:prod' }, { 'attr.user': 'x' }, { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }]) {
      const plan = await explain({ ...parseSearch(filters), fromMicros: to - HOUR, toMicros: to }, { step: '1m' })
      expect({ filters, counts: plan.some((node) => node['Relation Name'] === 'log_counts') }).toEqual({ filters, counts: false })
    }
  })
})

describe('GET /histogram and /facets before the schema that counts', () => {
  test('a database whose logs have no counting trigger yet (the consumer, which applies schema.sql, not restarted) is answered from rows', async () => {
    const old = await freshDatabase()
    for (const op of ['insert', 'update', 'delete', 'truncate']) await old.sql.unsafe(`drop trigger logs_counted_${op} on logs`)
    await old.sql`drop table log_counts`
    const oldSql = connect(queryDatabaseUrl(old.url), { max: 2 })
    afterAll(() => oldSql.end())
    const oldApp = createQueryApp({ sql: oldSql })
    await old.sql`insert into logs (timestamp, service, level, message, kafka_partition, kafka_offset) values (${formatMicros(FROM + MINUTE)}::text::timestamptz, 'api', 'INFO', 'm', 0, 1)`
    for (const path of [`/histogram?${range}&step=5m`, `/facets?${range}`]) {
      const response = await oldApp.handle(new Request(`http://localhost${path}`))
      expect({ path, status: response.status, total: ((await response.json()) as { total: number }).total }).toEqual({ path, status: 200, total: 1 })
    }
  })
})

describe('GET /histogram estimated', () => {
  // Two one-minute buckets where no other test looks: 12 logs 5 s apart in the first (the odd ones time
  // out), 3 in the second (the first one times out).
  const W = FROM - 2 * HOUR + 10 * MINUTE
  const SECOND = 1_000_000
  const search = { ...parseSearch({ service: 'sampled', q: 'timeout' }), fromMicros: W, toMicros: W + 2 * MINUTE - 1 }
  const plan = planHistogram({ step: '1m' }, W, W + 2 * MINUTE - 1)
  beforeAll(async () => {
    await insert([
      ...Array.from({ length: 12 }, (_, i) => ({
        at: W + i * 5 * SECOND,
        service: 'sampled',
        level: 'INFO',
        message: i % 2 ? 'request timeout' : 'request ok',
      })),
      ...Array.from({ length: 3 }, (_, i) => ({
        at: W + MINUTE + i * 5 * SECOND,
        service: 'sampled',
        level: 'INFO',
        message: i === 0 ? 'request timeout' : 'request ok',
      })),
    ])
  })

  test('over more candidates than the threshold, q, tags and attributes are counted on the first logs of each bucket, each standing for bucket time / time they cover', async () => {
    // Bucket 1: the first 4 of 12 cover 15 s of 60, so each of its 2 matches stands for 4 logs. Bucket 2: 3 logs, read whole.
    const estimated = await histogram(sql, search, plan, { sampling: { threshold: 14, rowsPerBucket: 4 } })
    expect({
      counts: estimated.buckets.map((bucket) => bucket.counts),
      total: estimated.total,
      approximate: estimated.approximate,
      sample: estimated.sample,
    }).toEqual({
      counts: [{ INFO: 8 }, { INFO: 1 }],
      total: 9,
      approximate: true,
      sample: { method: 'time-slices', slices: 2, logsPerSlice: 4 },
    })
  })

  test('up to the threshold (15 candidates here), counted exactly', async () => {
    const exact = await histogram(sql, search, plan, { sampling: { threshold: 15, rowsPerBucket: 4 } })
    expect({ counts: exact.buckets.map((bucket) => bucket.counts), total: exact.total, approximate: exact.approximate }).toEqual({
      counts: [{ INFO: 6 }, { INFO: 1 }],
      total: 7,
      approximate: false,
    })
  })
})
