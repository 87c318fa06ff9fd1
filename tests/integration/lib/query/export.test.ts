import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../../src/lib/db.ts'
import { formatMicros } from '../../../../src/lib/log-entry.ts'
import { queryDatabaseUrl } from '../../../../src/lib/log-search.ts'
import { ExportLimits } from '../../../../src/lib/query/export.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { answerWithDatabaseDown } from '../../../support/database-down.ts'
import { eventually, freshDatabase } from '../../../support/infra.ts'

/**
 * GET /export in process against a real database: exact NDJSON and CSV for a few known logs of `shop`,
 * and 200,000 logs of `bulk` to see it stream batch by batch and stop when the reader goes away.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const BULK = 200_000
const base = Date.now() * 1000 - 3_600_000_000
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'

beforeAll(async () => {
  await sql`
    insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset) values
      (${formatMicros(base + 1)}::text::timestamptz, 'shop', 'INFO', 'plain message', '{"user":"alice"}', null, null, 'web-1', '{env:prod}', 0, 1),
      (${formatMicros(base + 2)}::text::timestamptz, 'shop', 'ERROR', ${'comma, "quoted" and\nnewline\r\nend'}, '{"n":1,"nested":{"a":[1,2]}}', ${TRACE}, '00f067aa0ba902b7', null, '{}', 1, 1),
      (${formatMicros(base + 3)}::text::timestamptz, 'shop', 'WARN', 'disk almost full', '{}', null, null, 'web-2', '{env:prod,region:eu}', 2, 1),
      (${formatMicros(base + 4)}::text::timestamptz, 'other', 'INFO', 'not shop', '{}', null, null, 'web-1', '{env:prod}', 0, 2)`
  // Older than the shop logs, so an unfiltered export starts with those. Loaded without the query API's
  // statement timeout: on a busy machine this insert has taken longer.
  await database.sql`
    insert into logs (timestamp, service, level, message, host, kafka_partition, kafka_offset)
    select ${formatMicros(base - 1_000_000_000)}::text::timestamptz - g * interval '1 ms', 'bulk', 'INFO', 'bulk message ' || g, 'bulk-1', 0, 1000 + g
    from generate_series(1, ${BULK}) g`
  await database.sql`analyze logs`
}, 60_000)

/** The last statement was the export's DECLARE or a FETCH (not, say, this file's own look-ups, which name the cursor too). */
const onExportCursor = sql`(query like 'declare %' or query like 'fetch %') and query like '%logstream_export%'`

/**
 * States of the backends whose last statement was on the export's cursor (its DECLARE or a FETCH): 'active'
 * while it runs, 'idle in transaction' while the export waits for its reader. The transaction's COMMIT
 * (or ROLLBACK) replaces the text once the export has ended.
 */
const exportStates = async () =>
  (
    await sql`select state from pg_stat_activity
      where datname = current_database() and ${onExportCursor}`
  ).map((row) => row.state as string)
const exportStopped = () => eventually(async () => ((await exportStates()).length === 0 ? true : undefined), 20_000, 'the export transaction to end')

const request = (path: string) => app.handle(new Request(`http://localhost${path}`))
const at = (micros: number) => formatMicros(micros)

describe('GET /export', () => {
  test('NDJSON (the default): one object per log, newest first, with exactly these fields', async () => {
    const response = await request('/export?service=shop')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/x-ndjson')
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="logs-\d{8}T\d{6}Z\.ndjson"$/)
    expect(await response.text()).toBe(
      `{"timestamp":"${at(base + 3)}","service":"shop","level":"WARN","host":"web-2","trace_id":null,"span_id":null,"message":"disk almost full","tags":["env:prod","region:eu"],"metadata":{}}\n` +
        `{"timestamp":"${at(base + 2)}","service":"shop","level":"ERROR","host":null,"trace_id":"${TRACE}","span_id":"00f067aa0ba902b7","message":"comma, \\"quoted\\" and\\nnewline\\r\\nend","tags":[],"metadata":{"n": 1, "nested": {"a": [1, 2]}}}\n` +
        `{"timestamp":"${at(base + 1)}","service":"shop","level":"INFO","host":"web-1","trace_id":null,"span_id":null,"message":"plain message","tags":["env:prod"],"metadata":{"user": "alice"}}\n`,
    )
  })

  test('every NDJSON line parses as JSON', async () => {
    const lines = (await (await request('/export?service=shop')).text()).trimEnd().split('\n')
    expect(lines.map((line) => JSON.parse(line).metadata)).toEqual([{}, { n: 1, nested: { a: [1, 2] } }, { user: 'alice' }])
  })

  test('CSV: a header, then RFC 4180 records (commas, quotes and line breaks quoted, quotes doubled)', async () => {
    const response = await request('/export?service=shop&format=csv')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="logs-\d{8}T\d{6}Z\.csv"$/)
    expect(await response.text()).toBe(
      'timestamp,service,level,host,trace_id,span_id,message,tags,metadata\r\n' +
        `${at(base + 3)},shop,WARN,web-2,,,disk almost full,"[""env:prod"",""region:eu""]",{}\r\n` +
        `${at(base + 2)},shop,ERROR,,${TRACE},00f067aa0ba902b7,"comma, ""quoted"" and\nnewline\r\nend",[],"{""n"": 1, ""nested"": {""a"": [1, 2]}}"\r\n` +
        `${at(base + 1)},shop,INFO,web-1,,,plain message,"[""env:prod""]","{""user"": ""alice""}"\r\n`,
    )
  })

  test('an empty result is an empty body (NDJSON) or the header alone (CSV)', async () => {
    expect(await (await request('/export?service=nobody')).text()).toBe('')
    expect(await (await request('/export?service=nobody&format=csv')).text()).toBe('timestamp,service,level,host,trace_id,span_id,message,tags,metadata\r\n')
  })

  test('the /query filters are honoured: level, tags, q, host, time range', async () => {
    const messages = async (query: string) =>
      (await (await request(`/export?${query}`)).text())
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).message)
    expect(await messages('service=shop&level=error,warn')).toEqual(['disk almost full', 'comma, "quoted" and\nnewline\r\nend'])
    expect(await messages('tags=env:prod')).toEqual(['not shop', 'disk almost full', 'plain message'])
    expect(await messages('q=plain')).toEqual(['plain message'])
    expect(await messages('attr.user=alice')).toEqual(['plain message'])
    expect(await messages('service=shop&attr.nested.a=*')).toEqual(['comma, "quoted" and\nnewline\r\nend'])
    expect(await messages('host=web-1')).toEqual(['not shop', 'plain message'])
    expect(await messages(`from=${at(base + 2)}&to=${at(base + 3)}`)).toEqual(['disk almost full', 'comma, "quoted" and\nnewline\r\nend'])
  })

  test('limit stops the export after that many logs, newest first', async () => {
    const lines = (await (await request('/export?limit=2')).text()).trimEnd().split('\n')
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(['not shop', 'disk almost full'])
    const csv = await (await request('/export?format=csv&limit=5&service=bulk')).text()
    expect(csv.trimEnd().split('\r\n')).toHaveLength(6)
  })

  test('bad parameters are 400s naming them, in the app JSON error body', async () => {
    for (const [query, parameter] of [
      ['format=xml', 'format'],
      ['limit=0', 'limit'],
      [`limit=${ExportLimits.limitMax + 1}`, 'limit'],
      ['limit=ten', 'limit'],
      ['page=2', 'page'],
      ['level=loud', 'level'],
      ['from=yesterday', 'from'],
      ['servce=shop', 'servce'],
    ]) {
      const response = await request(`/export?${query}`)
      const body = await response.json()
      expect({ query, status: response.status, error: body.error, parameter: body.parameter }).toEqual({
        query,
        status: 400,
        error: 'QUERY_INVALID',
        parameter,
      })
    }
  })

  test('200,000 logs stream batch by batch: the first batch arrives while the cursor is still open', async () => {
    const response = await request(`/export?service=bulk&limit=${ExportLimits.limitMax}`)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    const chunkLines: number[] = []
    const first = await reader.read()
    chunkLines.push(decoder.decode(first.value).split('\n').length - 1)
    // The server has sent one batch: its cursor is open in its transaction (fetching the next batch, or
    // waiting for this reader to take it).
    expect(await exportStates()).toEqual([expect.stringMatching(/^(active|idle in transaction)$/)])
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) chunkLines.push(decoder.decode(chunk.value).split('\n').length - 1)
    expect(chunkLines.reduce((sum, lines) => sum + lines, 0)).toBe(BULK)
    // Rows go out in cursor batches: the process never holds more than a batch or two of them.
    expect(Math.max(...chunkLines)).toBe(ExportLimits.batchRows)
    expect(chunkLines.length).toBe(BULK / ExportLimits.batchRows)
    await exportStopped()
  }, 30_000)

  test("a reader slower than the query API's statement timeout still gets every row", async () => {
    const strict = connect(queryDatabaseUrl(database.url, 300), { max: 1 })
    try {
      const response = await createQueryApp({ sql: strict }).handle(new Request('http://localhost/export?service=bulk&limit=5000'))
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let text = decoder.decode((await reader.read()).value)
      // Hold the export past the 300 ms statement_timeout of the app's connections.
      await eventually(async () => {
        const [row] = await sql`select now() - xact_start > interval '600 ms' as long from pg_stat_activity
          where datname = current_database() and ${onExportCursor}`
        return row?.long ? true : undefined
      })
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value)
      const lines = text.trimEnd().split('\n')
      expect(lines.at(-1)).not.toContain('"error"')
      expect(lines).toHaveLength(5000)
    } finally {
      await strict.end({ timeout: 1 })
    }
  })

  test('a reader that goes away closes the cursor: the connection is free for the next query', async () => {
    const one = connect(queryDatabaseUrl(database.url), { max: 1 })
    try {
      const single = createQueryApp({ sql: one })
      const response = await single.handle(new Request('http://localhost/export?service=bulk&format=csv'))
      const reader = response.body!.getReader()
      await reader.read()
      await reader.cancel()
      // One connection only: this answers only if the export gave it back.
      const next = await single.handle(new Request('http://localhost/query?limit=1'))
      expect(next.status).toBe(200)
      await exportStopped()
    } finally {
      await one.end()
    }
  })

  test('a client that disconnects from a real server stops the export', async () => {
    const server = createQueryApp({ sql }).listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const abort = new AbortController()
      const response = await fetch(`http://127.0.0.1:${server.server!.port}/export?service=bulk`, { signal: abort.signal })
      const reader = response.body!.getReader()
      await reader.read()
      abort.abort()
      await exportStopped()
    } finally {
      await server.stop(true)
    }
  })

  test('a database failure before the first row is a 503 from the error alone', async () => {
    expect(await answerWithDatabaseDown('/export')).toEqual({ status: 503, error: 'DATABASE_UNAVAILABLE' })
  })
})
