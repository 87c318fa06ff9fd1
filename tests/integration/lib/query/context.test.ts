import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../../src/lib/db.ts'
import { formatMicros } from '../../../../src/lib/log-entry.ts'
import { formatLogId, parseLogId } from '../../../../src/lib/log-id.ts'
import { queryDatabaseUrl } from '../../../../src/lib/log-search.ts'
import { targetQuery } from '../../../../src/lib/query/context.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { freshDatabase } from '../../../support/infra.ts'

/**
 * GET /query/{id}/context in process against a real database: a known run of logs of two services on two
 * hosts, some sharing a timestamp, so order and the service / host rules are visible in the messages.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const base = Date.now() * 1000 - 3_600_000_000

interface Row {
  at: number
  service: string
  message: string
  host?: string | null
  partition: number
  offset: number
}

async function insert(rows: Row[]): Promise<void> {
  await sql`
    insert into logs (timestamp, service, level, message, host, kafka_partition, kafka_offset)
    select t::timestamptz, s, 'INFO', m, h, p::integer, o::bigint
    from unnest(${rows.map((row) => formatMicros(row.at))}::text[], ${rows.map((row) => row.service)}::text[], ${rows.map((row) => row.message)}::text[],
      ${rows.map((row) => row.host ?? null)}::text[], ${rows.map((row) => String(row.partition))}::text[], ${rows.map((row) => String(row.offset))}::text[]
    ) as r(t, s, m, h, p, o)`
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  return { status: response.status, body: await response.json() }
}

const messages = (logs: { message: string }[]) => logs.map((log) => log.message)

// api on web-1 / web-2, one billing log among them. a3, a4 and a5 share a timestamp: (partition, offset) orders them.
const rows: Row[] = [
  { at: base + 1, service: 'api', message: 'a1', host: 'web-1', partition: 0, offset: 10 },
  { at: base + 2, service: 'api', message: 'a2', host: 'web-2', partition: 1, offset: 10 },
  { at: base + 3, service: 'api', message: 'a5', host: 'web-1', partition: 2, offset: 5 },
  { at: base + 3, service: 'api', message: 'a4', host: 'web-2', partition: 1, offset: 11 },
  { at: base + 3, service: 'api', message: 'a3', host: 'web-1', partition: 0, offset: 11 },
  { at: base + 3, service: 'billing', message: 'b1', host: 'web-1', partition: 0, offset: 12 },
  { at: base + 4, service: 'api', message: 'a6', host: 'web-2', partition: 2, offset: 6 },
  { at: base + 5, service: 'api', message: 'a7', host: 'web-1', partition: 0, offset: 13 },
  { at: base + 6, service: 'api', message: 'a8', host: null, partition: 1, offset: 12 },
]
beforeAll(() => insert(rows))

/** The id /query gives the row at Kafka position `position` ("<partition>-<offset>", the older form of an id). */
function id(position: string): string {
  const row = rows.find((candidate) => `${candidate.partition}-${candidate.offset}` === position)!
  return formatLogId({ timestamp: formatMicros(row.at), kafka_partition: row.partition, kafka_offset: BigInt(row.offset) })
}

describe('GET /query/{id}/context', () => {
  test('the log, then the logs of its service before and after it, oldest first, equal timestamps by partition and offset', async () => {
    const { status, body } = await get(`/query/${id('1-11')}/context`)
    expect(status).toBe(200)
    expect(body.log.message).toBe('a4')
    expect(body.log.id).toBe(id('1-11'))
    expect(messages(body.before)).toEqual(['a1', 'a2', 'a3'])
    expect(messages(body.after)).toEqual(['a5', 'a6', 'a7', 'a8'])
  })

  test('the nearest neighbours on an equal timestamp are by partition, then offset (a5 has the lower offset)', async () => {
    expect(messages((await get(`/query/${id('0-11')}/context?before=0&after=1`)).body.after)).toEqual(['a4'])
    expect(messages((await get(`/query/${id('2-5')}/context?before=1&after=0`)).body.before)).toEqual(['a4'])
  })

  test('logs have the /query shape', async () => {
    const { body } = await get(`/query/${id('0-10')}/context?before=0&after=1`)
    const listed = (await get('/query?service=api&limit=100')).body.logs
    expect(body.log).toEqual(listed.find((log: { id: string }) => log.id === id('0-10')))
    expect(body.after).toEqual([listed.find((log: { id: string }) => log.id === id('1-10'))])
  })

  test('before and after say how many logs on each side', async () => {
    const { body } = await get(`/query/${id('1-11')}/context?before=1&after=2`)
    expect(messages(body.before)).toEqual(['a3'])
    expect(messages(body.after)).toEqual(['a5', 'a6'])
    const none = (await get(`/query/${id('1-11')}/context?before=0&after=0`)).body
    expect(none).toEqual({ log: expect.objectContaining({ message: 'a4' }), before: [], after: [], truncated: false })
  })

  test('at the ends of the service there are fewer', async () => {
    const first = (await get(`/query/${id('0-10')}/context`)).body
    expect(first.before).toEqual([])
    expect(messages(first.after)).toEqual(['a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'])
    const last = (await get(`/query/${id('1-12')}/context?before=2`)).body
    expect(messages(last.before)).toEqual(['a6', 'a7'])
    expect(last.after).toEqual([])
  })

  test('same_host=true keeps to the host of the log', async () => {
    const { body } = await get(`/query/${id('0-11')}/context?same_host=true`)
    expect(body.log.message).toBe('a3')
    expect(messages(body.before)).toEqual(['a1'])
    expect(messages(body.after)).toEqual(['a5', 'a7'])
  })

  test('a log of another service is context only for its own', async () => {
    const { body } = await get(`/query/${id('0-12')}/context`)
    expect(body).toEqual({ log: expect.objectContaining({ message: 'b1' }), before: [], after: [], truncated: false })
  })

  test('an id of the older form (<partition>-<offset>, no time) still finds the log', async () => {
    const { status, body } = await get('/query/1-11/context?before=1&after=1')
    expect(status).toBe(200)
    expect(body.log.id).toBe(id('1-11'))
    expect([messages(body.before), messages(body.after)]).toEqual([['a3'], ['a5']])
  })

  test('an unknown id is a 404, in either form; a known position at another time is unknown', async () => {
    const elsewhere = id('1-11').replace(/-(\d+)$/, (_all, digits: string) => `-${String(BigInt(digits) + 1n)}`)
    for (const unknown of ['7-10', id('1-11').replace(/^1-11-/, '7-10-'), elsewhere]) {
      const { status, body } = await get(`/query/${unknown}/context`)
      expect({ unknown, status, error: body.error }).toEqual({ unknown, status: 404, error: 'NOT_FOUND' })
    }
  })

  test('a malformed id is a 400 naming id', async () => {
    const malformed = [
      'abc',
      '1-',
      '-1',
      '01-2',
      '1-2-3',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      '1-9223372036854775807',
      '1-2-20261399000000000000',
      '1-2-2026112712000000000',
    ]
    for (const id of malformed) {
      const { status, body } = await get(`/query/${id}/context`)
      expect({ id, status, error: body.error, parameter: body.parameter }).toEqual({ id, status: 400, error: 'QUERY_INVALID', parameter: 'id' })
    }
  })

  test('bad before / after / same_host, or another parameter, are 400s naming them', async () => {
    for (const [query, parameter] of [
      ['before=201', 'before'],
      ['after=-1', 'after'],
      ['after=x', 'after'],
      ['same_host=yes', 'same_host'],
      ['service=api', 'service'],
    ]) {
      const { status, body } = await get(`/query/${id('1-11')}/context?${query}`)
      expect({ query, status, parameter: body.parameter }).toEqual({ query, status: 400, parameter })
    }
  })

  test('same_host=true on a log without a host is a 400 naming same_host', async () => {
    const { status, body } = await get(`/query/${id('1-12')}/context?same_host=true`)
    expect(status).toBe(400)
    expect(body.parameter).toBe('same_host')
  })

  test('the trace route still answers beside it', async () => {
    expect((await get('/query/4bf92f3577b34da6a3ce929d0e0e4736')).status).toBe(200)
  })

  test("the look-up of an id is one probe of one partition's primary key (EXPLAIN)", async () => {
    const plan = await sql`explain ${targetQuery(sql, parseLogId(id('1-11')))}`
    const text = plan.map((line) => line['QUERY PLAN']).join('\n')
    expect(text.match(/Index (Only )?Scan( Backward)? using logs_\w+_pkey/g)).toHaveLength(1)
    expect(text).toMatch(/Index Cond: \(\("timestamp" = /)
    expect(text).not.toContain('Seq Scan')
  })

  test("an id of the older form reads every partition's primary-key index, never the table (EXPLAIN)", async () => {
    const plan = await sql`explain ${targetQuery(sql, parseLogId('1-11'))}`
    const text = plan.map((line) => line['QUERY PLAN']).join('\n')
    expect(text).toMatch(/Index (Only )?Scan Backward using logs_\w+_pkey/)
    expect(text).not.toContain('Seq Scan')
  })
})
