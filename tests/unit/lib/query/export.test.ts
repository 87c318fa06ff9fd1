import { describe, expect, test } from 'bun:test'
import type { Sql } from '../../../../src/lib/db.ts'
import { parseSearch } from '../../../../src/lib/log-search.ts'
import { csvLine, ExportLimits, type ExportRow, exportFilename, ndjsonLine, openExport, parseExportParams } from '../../../../src/lib/query/export.ts'
import { queryRefusal } from '../../../support/query-refusal.ts'

const parse = (query: string) => parseExportParams(new URLSearchParams(query))

const invalid = (query: string) => queryRefusal(() => parse(query)).parameter

describe('parseExportParams', () => {
  test('defaults: NDJSON, 100,000 logs, no filter', () => {
    expect(parse('')).toEqual({ format: 'ndjson', limit: ExportLimits.limitDefault, search: {} })
  })

  test('takes format and limit out; the rest is left for parseSearch, tags as a list', () => {
    expect(parse('format=CSV&limit=1000000&service=api&tags=a&tags=b,c&level=error')).toEqual({
      format: 'csv',
      limit: 1_000_000,
      search: { service: 'api', tags: ['a', 'b,c'], level: 'error' },
    })
  })

  test("export's limit goes past /query's 1000", () => {
    expect(parse('limit=5000').limit).toBe(5000)
  })

  test('a bad format or limit, or a page, is a 400 naming it', () => {
    for (const [query, parameter] of <[string, string][]>[
      ['format=xml', 'format'],
      ['limit=0', 'limit'],
      [`limit=${ExportLimits.limitMax + 1}`, 'limit'],
      ['limit=1e3', 'limit'],
      ['page=1', 'page'],
    ])
      expect({ query, parameter: invalid(query) }).toEqual({ query, parameter })
  })
})

describe('lines', () => {
  const row: ExportRow = {
    timestamp: '2026-11-26T12:07:36.816123Z',
    service: 'billing',
    level: 'ERROR',
    host: null,
    trace_id: null,
    span_id: null,
    message: 'declined, "card"\nretry',
    tags: '["env:prod"]',
    metadata: '{"user": "u1"}',
  }

  test('NDJSON: one JSON object on one line, fields in CSV column order', () => {
    const line = ndjsonLine(row)
    expect(line.endsWith('\n')).toBe(true)
    expect(line.slice(0, -1)).not.toContain('\n')
    expect(Object.keys(JSON.parse(line))).toEqual(['timestamp', 'service', 'level', 'host', 'trace_id', 'span_id', 'message', 'tags', 'metadata'])
    expect(JSON.parse(line)).toMatchObject({ message: 'declined, "card"\nretry', tags: ['env:prod'], metadata: { user: 'u1' }, host: null })
  })

  test('CSV: quoted where needed, nulls empty, CRLF', () => {
    expect(csvLine(row)).toBe('2026-11-26T12:07:36.816123Z,billing,ERROR,,,,"declined, ""card""\nretry","[""env:prod""]","{""user"": ""u1""}"\r\n')
  })

  test('the file name carries the time, without characters a file system refuses', () => {
    expect(exportFilename('csv', new Date('2026-11-27T12:07:36.816Z'))).toBe('logs-20261127T120736Z.csv')
    expect(exportFilename('ndjson', new Date('2026-11-27T12:07:36.816Z'))).toBe('logs-20261127T120736Z.ndjson')
  })
})

/**
 * A stand-in for postgres.js whose every query is a cursor over `batches` batches of `rows` rows, counting
 * the batches handed out and whether it was closed early (the callback returned sql.CLOSE), as
 * postgres.js does: the next batch is fetched only once the callback's promise settles.
 */
function cursorSql(batches: number, rows: number, failAfter?: number) {
  const CLOSE = {}
  const state = { fetched: 0, closed: false, finished: false }
  const row: ExportRow = {
    timestamp: '2026-11-26T12:07:36.816123Z',
    service: 's',
    level: 'INFO',
    host: null,
    trace_id: null,
    span_id: null,
    message: 'm',
    tags: '[]',
    metadata: '{}',
  }
  const query = () => ({
    cursor: async (_size: number, each: (rows: ExportRow[]) => Promise<unknown>) => {
      for (let batch = 0; batch < batches; batch++) {
        // The connection dies between two fetches, as when the server is restarted mid-export.
        if (batch === failAfter) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
        state.fetched++
        if ((await each(Array.from({ length: rows }, () => row))) === CLOSE) {
          state.closed = true
          return
        }
      }
      state.finished = true
    },
  })
  const sql = Object.assign(query, { CLOSE, begin: async (...args: unknown[]) => (args.at(-1) as (tx: unknown) => unknown)(sql) }) as unknown as Sql
  return { sql, state }
}

/** Lets every pending callback and timer-free continuation run: with no I/O in the fake, nothing is left after. */
const settle = async () => {
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve))
}

describe('openExport (structure, with a fake cursor)', () => {
  test('fetches the next batch only when the reader takes one: at most three batches in hand however long the export', async () => {
    const { sql, state } = cursorSql(100, 10)
    const reader = (await openExport(sql, parseSearch({}), { format: 'ndjson', limit: 1000, batchRows: 10 })).getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value).split('\n')).toHaveLength(11)
    await settle()
    expect(state.fetched).toBeLessThanOrEqual(3)
    expect(state.finished).toBe(false)
    await reader.read()
    await settle()
    expect(state.fetched).toBeLessThanOrEqual(4)
  })

  test('a reader that cancels closes the cursor', async () => {
    const { sql, state } = cursorSql(100, 10)
    const reader = (await openExport(sql, parseSearch({}), { format: 'csv', limit: 1000, batchRows: 10 })).getReader()
    await reader.read()
    await reader.cancel()
    await settle()
    expect(state.closed).toBe(true)
    expect(state.fetched).toBeLessThanOrEqual(3)
  })

  test('read to the end, every batch goes out, one chunk per batch', async () => {
    const { sql, state } = cursorSql(5, 10)
    const reader = (await openExport(sql, parseSearch({}), { format: 'ndjson', limit: 1000, batchRows: 10 })).getReader()
    const chunks: number[] = []
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) chunks.push(new TextDecoder().decode(chunk.value).split('\n').length - 1)
    expect(chunks).toEqual([10, 10, 10, 10, 10])
    expect(state).toEqual({ fetched: 5, closed: false, finished: true })
  })

  test('a database failure after the stream began ends NDJSON with an error line naming it', async () => {
    const { sql } = cursorSql(5, 10, 2)
    const reader = (await openExport(sql, parseSearch({}), { format: 'ndjson', limit: 1000, batchRows: 10 })).getReader()
    let text = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value)
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(21)
    expect(JSON.parse(lines.at(-1)!)).toEqual({ error: 'DATABASE_UNAVAILABLE', message: expect.any(String) })
  })

  test('a database failure after a CSV stream began aborts the stream with the error', async () => {
    const { sql } = cursorSql(5, 10, 2)
    const reader = (await openExport(sql, parseSearch({}), { format: 'csv', limit: 1000, batchRows: 10 })).getReader()
    const drain = async () => {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
    }
    await expect(drain()).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' })
  })
})
