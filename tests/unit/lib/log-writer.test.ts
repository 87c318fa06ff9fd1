import { describe, expect, test } from 'bun:test'
import type { Sql } from '../../../src/lib/db.ts'
import { DatabaseUnavailableError } from '../../../src/lib/errors.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'
import { createLogWriter, insertColumns, type PendingRow } from '../../../src/lib/log-writer.ts'

const record = (message: string): LogRecord => ({
  timestampMicros: 1_700_000_000_000_000,
  service: 'svc',
  level: 'INFO',
  message,
  metadata: '{}',
  traceId: '',
  spanId: '',
  host: '',
  tags: [],
})
const rows = (n: number): PendingRow[] => Array.from({ length: n }, (_, i) => ({ partition: 0, offset: BigInt(i), record: record(`m${i}`) }))

/** The offsets in one INSERT: its kafka_offset column, sent as an array literal such as {"3","4"}. */
const offsetsIn = (parameters: string[]) => (parameters[insertColumns.indexOf('kafka_offset')]!.match(/\d+/g) ?? []).map(Number)

/**
 * A `sql` whose `unsafe` (the writer's one statement) fails as `failure(offsets)` says, or succeeds and
 * reports every row as inserted. Records each statement's offsets, and the offsets inserted.
 */
function fakeSql(failure: (offsets: number[]) => Error | undefined) {
  const statements: number[][] = []
  const inserted: number[] = []
  const sql = {
    unsafe: async (_query: string, parameters: string[]) => {
      const offsets = offsetsIn(parameters)
      statements.push(offsets)
      const error = failure(offsets)
      if (error) throw error
      inserted.push(...offsets)
      return { count: offsets.length }
    },
  } as unknown as Sql
  return { sql, statements, inserted }
}

const sqlError = (code: string, message: string) => Object.assign(new Error(message), { code })

describe('createLogWriter: narrowing a refused batch down to its bad rows', () => {
  test('one bad row among 100 ends up in rejected, the other 99 are inserted, in about 2·log2(n) statements', async () => {
    const { sql, statements, inserted } = fakeSql((offsets) => (offsets.includes(37) ? sqlError('22P02', 'invalid input syntax for type json') : undefined))
    const result = await createLogWriter(sql).write(rows(100))
    expect(result.inserted).toBe(99)
    expect(result.rejected.map(({ row }) => Number(row.offset))).toEqual([37])
    expect((result.rejected[0]!.error as { code?: string }).code).toBe('22P02')
    expect(inserted.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 37))
    expect(statements.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(100)) + 1)
  })

  test('two bad rows are both rejected and everything else is stored', async () => {
    const { sql } = fakeSql((offsets) => (offsets.includes(0) || offsets.includes(99) ? sqlError('23514', 'check constraint') : undefined))
    const result = await createLogWriter(sql).write(rows(100))
    expect(result.inserted).toBe(98)
    expect(result.rejected.map(({ row }) => Number(row.offset))).toEqual([0, 99])
  })

  test('an empty batch sends nothing', async () => {
    const { sql, statements } = fakeSql(() => undefined)
    expect(await createLogWriter(sql).write([])).toEqual({ inserted: 0, rejected: [] })
    expect(statements).toEqual([])
  })
})

describe('createLogWriter: failures that say nothing about the rows', () => {
  for (const [code, what] of [
    ['ECONNREFUSED', 'the server is unreachable'],
    ['40P01', 'a deadlock'],
    ['08006', 'a broken connection'],
  ] as const) {
    test(`${what} (${code}) throws DatabaseUnavailableError at once, without bisecting`, async () => {
      const { sql, statements } = fakeSql(() => sqlError(code, what))
      const failure = await createLogWriter(sql)
        .write(rows(100))
        .catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(DatabaseUnavailableError)
      expect(statements).toHaveLength(1)
    })
  }
})
