import { describe, expect, test } from 'bun:test'
import { QueryInvalidError } from '../../../../src/lib/errors.ts'
import { csvLine, ExportLimits, type ExportRow, exportFilename, ndjsonLine, parseExportParams } from '../../../../src/lib/query/export.ts'

const parse = (query: string) => parseExportParams(new URLSearchParams(query))

const invalid = (query: string) => {
  try {
    parse(query)
  } catch (error) {
    if (error instanceof QueryInvalidError) return error.parameter
    throw error
  }
  throw new Error(`expected a QueryInvalidError for ${query}`)
}

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
