import { describe, expect, test } from 'bun:test'
import {
  csvLine,
  type Emit,
  ExportLimits,
  type ExportRow,
  exportFilename,
  ndjsonLine,
  parseExportParams,
  streamExport,
} from '../../../../src/lib/query/export.ts'
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
    tags: ['env:prod'],
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
 * A producer of `batches` batches of `rows` rows, as exportBatches would yield them, counting the batches
 * handed out and whether it stopped early (emit said the reader has gone); it fails with a connection
 * error before batch `failAfter`, as when the server is restarted mid-export.
 */
function producer(batches: number, rows: number, failAfter?: number) {
  const state = { produced: 0, stopped: false, finished: false }
  const row: ExportRow = {
    timestamp: '2026-11-26T12:07:36.816123Z',
    service: 's',
    level: 'INFO',
    host: null,
    trace_id: null,
    span_id: null,
    message: 'm',
    tags: [],
    metadata: '{}',
  }
  const produce = async (emit: Emit) => {
    for (let batch = 0; batch < batches; batch++) {
      if (batch === failAfter) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
      state.produced++
      if (!(await emit(Array.from({ length: rows }, () => row)))) {
        state.stopped = true
        return
      }
    }
    state.finished = true
  }
  return { produce, state }
}

/** Lets every pending callback and timer-free continuation run: with no I/O in the fake, nothing is left after. */
const settle = async () => {
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve))
}

const drainText = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
  let text = ''
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value)
  return text
}

describe('streamExport (with a fake producer)', () => {
  test('takes the next batch only when the reader takes one: at most three batches in hand however long the export', async () => {
    const { produce, state } = producer(100, 10)
    const reader = (await streamExport(produce, 'ndjson')).getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value).split('\n')).toHaveLength(11)
    await settle()
    expect(state.produced).toBeLessThanOrEqual(3)
    expect(state.finished).toBe(false)
    await reader.read()
    await settle()
    expect(state.produced).toBeLessThanOrEqual(4)
  })

  test('a reader that cancels stops the producer', async () => {
    const { produce, state } = producer(100, 10)
    const reader = (await streamExport(produce, 'csv')).getReader()
    await reader.read()
    await reader.cancel()
    await settle()
    expect(state.stopped).toBe(true)
    expect(state.produced).toBeLessThanOrEqual(3)
  })

  test('read to the end, every batch goes out, one chunk per batch', async () => {
    const { produce, state } = producer(5, 10)
    const reader = (await streamExport(produce, 'ndjson')).getReader()
    const chunks: number[] = []
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) chunks.push(new TextDecoder().decode(chunk.value).split('\n').length - 1)
    expect(chunks).toEqual([10, 10, 10, 10, 10])
    expect(state).toEqual({ produced: 5, stopped: false, finished: true })
  })

  test('a failure before the first batch rejects, typed, so the route answers from the error alone', async () => {
    const { produce } = producer(5, 10, 0)
    await expect(streamExport(produce, 'ndjson')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true })
  })

  test('a database failure after the stream began ends NDJSON with an error line naming it', async () => {
    const { produce } = producer(5, 10, 2)
    const lines = (await drainText((await streamExport(produce, 'ndjson')).getReader())).trimEnd().split('\n')
    expect(lines).toHaveLength(21)
    expect(JSON.parse(lines.at(-1)!)).toEqual({ error: 'DATABASE_UNAVAILABLE', message: expect.any(String) })
  })

  test('a database failure after a CSV stream began aborts the stream with the error', async () => {
    const { produce } = producer(5, 10, 2)
    await expect(drainText((await streamExport(produce, 'csv')).getReader())).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' })
  })
})
