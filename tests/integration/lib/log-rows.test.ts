import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { encodeCursor } from '../../../src/lib/cursor.ts'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { formatMicros } from '../../../src/lib/log-entry.ts'
import { RowLimits, withContent } from '../../../src/lib/log-rows.ts'
import { parseSearch, queryDatabaseUrl, searchLogs, searchQuery } from '../../../src/lib/log-search.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { freshDatabase } from '../../support/infra.ts'

/**
 * Every endpoint that returns logs keeps to a byte budget (RowLimits.pageBytes, 4 MiB), against a real
 * database: six logs of `big` with a 900,000-byte message each (five of them do not fit one page), three
 * small ones newer than them, and one with 200 kB of metadata.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const base = Date.now() * 1000 - 3_600_000_000
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const BIG = 900_000
const SMALL = ['small 1', 'small 2', 'small 3']
/** Hex digits that differ per log, so each message is its own (and PostgreSQL's compression cannot hide its size). */
const bigMessage = (n: number) => {
  const hasher = new Bun.CryptoHasher('sha256')
  let text = ''
  for (let i = 0; text.length < BIG; i++) text += hasher.update(`${n}-${i}`).digest('hex')
  return text.slice(0, BIG)
}
const BIG_MESSAGES = [1, 2, 3, 4, 5, 6].map(bigMessage)
const METADATA = { blob: 'm'.repeat(200_000), n: 1 }

beforeAll(async () => {
  for (const [index, message] of BIG_MESSAGES.entries())
    await sql`insert into logs (timestamp, service, level, message, trace_id, host, kafka_partition, kafka_offset)
      values (${formatMicros(base + index)}::text::timestamptz, 'big', 'INFO', ${message}, ${TRACE}, 'h1', 0, ${index})`
  for (const [index, message] of SMALL.entries())
    await sql`insert into logs (timestamp, service, level, message, trace_id, host, kafka_partition, kafka_offset)
      values (${formatMicros(base + 100 + index)}::text::timestamptz, 'big', 'INFO', ${message}, ${TRACE}, 'h1', 1, ${index})`
  await sql`insert into logs (timestamp, service, level, message, metadata, kafka_partition, kafka_offset)
    values (${formatMicros(base + 200)}::text::timestamptz, 'meta', 'INFO', 'large metadata', ${sql.json(METADATA)}, 2, 0)`
})

async function get(path: string): Promise<any> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  expect(response.status).toBe(200)
  return response.json()
}

/** Index of a big message in BIG_MESSAGES, or the small message itself. */
const which = (logs: { message: string }[]) => logs.map((log) => (log.message.length === BIG ? BIG_MESSAGES.indexOf(log.message) : log.message))

describe('a page of logs holds at most RowLimits.pageBytes of message and metadata', () => {
  test('GET /query ends the page early with has_more and a cursor; the next page goes on from there', async () => {
    const first = await get('/query?service=big&limit=1000')
    // Newest first: the three small logs, then as many 900 kB logs as fit in 4 MiB (four).
    expect(which(first.logs)).toEqual(['small 3', 'small 2', 'small 1', 5, 4, 3, 2])
    expect(first.pagination.has_more).toBe(true)
    const second = await get(`/query?service=big&limit=1000&cursor=${first.pagination.next_cursor}`)
    expect(which(second.logs)).toEqual([1, 0])
    expect(second.pagination).toMatchObject({ has_more: false, next_cursor: null })
  })

  test('a page of page=N pagination is cut the same way, and names no next page (page 2 would skip logs): next_cursor goes on', async () => {
    const page = await get('/query?service=big&limit=1000&page=1')
    expect(page.logs).toHaveLength(7)
    const cursor: string = page.pagination.next_cursor
    expect(typeof cursor).toBe('string')
    expect(page.pagination).toMatchObject({ has_more: true, next_page: null })
    expect(which((await get(`/query?service=big&limit=1000&cursor=${cursor}`)).logs)).toEqual([1, 0])
  })

  test('a page always holds one log, however small the budget, so paging moves on', async () => {
    const search = parseSearch({ service: 'big', limit: '1000', cursor: encodeCursor({ timestamp: formatMicros(base + 5), partition: 0, offset: '6' }) })
    const page = await searchLogs(sql, search, 1000)
    expect(which(page.logs)).toEqual([5])
    expect(page.hasMore).toBe(true)
  })

  test('large messages and metadata come back whole, byte for byte, across pages', async () => {
    const seen: string[] = []
    for (let cursor = ''; ; ) {
      const page = await get(`/query?service=big&limit=1000${cursor && `&cursor=${cursor}`}`)
      seen.push(...page.logs.map((log: { message: string }) => log.message))
      if (!page.pagination.has_more) break
      cursor = page.pagination.next_cursor
    }
    expect(seen).toEqual([...SMALL].reverse().concat([...BIG_MESSAGES].reverse()))
    expect((await get('/query?service=meta')).logs[0].metadata).toEqual(METADATA)
  })

  test('GET /query/{trace_id}: oldest first within the budget, truncated', async () => {
    const trace = await get(`/query/${TRACE}`)
    expect(which(trace.logs)).toEqual([0, 1, 2, 3])
    expect(trace.pagination.truncated).toBe(true)
  })

  test('GET /query/{id}/context: each side keeps the logs nearest the log within half a page, and says truncated', async () => {
    const context = await get('/query/0-3/context?before=200&after=200')
    expect(which([context.log])).toEqual([3])
    // The log and its nearest older neighbour fill the older side's 2 MiB (it asked for 200, and 3 exist);
    // the newer side's 1.8 MB of 4 and 5 leave room for the small ones.
    expect(which(context.before)).toEqual([2])
    expect(which(context.after)).toEqual([4, 5, 'small 1', 'small 2', 'small 3'])
    expect(context.truncated).toBe(true)
    const newer = await get('/query/0-1/context?before=0&after=200')
    expect({ after: which(newer.after), truncated: newer.truncated }).toEqual({ after: [2, 3], truncated: true })
    const small = await get('/query/1-1/context?before=1&after=1')
    expect({ before: which(small.before), after: which(small.after), truncated: small.truncated }).toEqual({
      before: ['small 1'],
      after: ['small 3'],
      truncated: false,
    })
  })

  test('GET /export streams every log whole, a FETCH cut into parts of at most a page', async () => {
    const response = await app.handle(new Request('http://localhost/export?service=big'))
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    const chunks: string[] = []
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) chunks.push(decoder.decode(chunk.value))
    expect(chunks.map((chunk) => chunk.split('\n').length - 1)).toEqual([7, 2])
    const logs = chunks
      .join('')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(which(logs)).toEqual(['small 3', 'small 2', 'small 1', 5, 4, 3, 2, 1, 0])
  })
})

describe('withContent', () => {
  test('reads the content of rows past RowLimits.inlineBytes by primary key; small rows come with the first read', async () => {
    const rows = await searchQuery(sql, parseSearch({ service: 'big', limit: '1000' }))
    expect(rows.map((row) => row.message === null)).toEqual([false, false, false, true, true, true, true, true, true])
    expect(rows.map((row) => (row.message === null ? row.bytes > RowLimits.inlineBytes : row.bytes === `${row.message}{}`.length))).toEqual(
      rows.map(() => true),
    )
    expect((await withContent(sql, rows)).map((row) => row.message.length)).toEqual([7, 7, 7, BIG, BIG, BIG, BIG, BIG, BIG])
  })

  test('leaves out a row that is gone by the second read (its partition dropped by retention meanwhile)', async () => {
    const rows = await searchQuery(sql, parseSearch({ service: 'big', limit: '1000' }))
    await sql
      .begin(async (tx) => {
        await tx`delete from logs where kafka_partition = 0 and kafka_offset = 5`
        const full = await withContent(tx as unknown as Sql, rows)
        expect(full.map((row) => `${row.kafka_partition}-${row.kafka_offset}`)).toEqual(['1-2', '1-1', '1-0', '0-4', '0-3', '0-2', '0-1', '0-0'])
        throw new Error('rollback')
      })
      .catch((error: Error) => {
        if (error.message !== 'rollback') throw error
      })
  })
})
