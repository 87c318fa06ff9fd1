import { describe, expect, test } from 'bun:test'
import type { Sql } from '../../../src/lib/db.ts'
import { DatabaseUnavailableError } from '../../../src/lib/errors.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'
import { createLogWriter, insertColumns, type PendingRow } from '../../../src/lib/log-writer.ts'
import { parseAnnouncement } from '../../../src/lib/tail/announcement.ts'

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
 * A `sql` whose insert (`unsafe`, in a transaction from `begin` or alone) fails as `failure(offsets)` says,
 * or succeeds and reports as inserted every row not in `stored`. Records each statement's offsets, the
 * offsets inserted, and the payloads passed to pg_notify in transactions that committed.
 */
function fakeSql(failure: (offsets: number[]) => Error | undefined, stored = new Set<number>()) {
  const statements: number[][] = []
  const inserted: number[] = []
  const notified: string[] = []
  const unsafe = async (_query: string, parameters: string[]) => {
    const offsets = offsetsIn(parameters)
    statements.push(offsets)
    const error = failure(offsets)
    if (error) throw error
    const fresh = offsets.filter((offset) => !stored.has(offset))
    inserted.push(...fresh)
    return Object.assign(
      fresh.map((offset) => ({ kafka_partition: 0, kafka_offset: BigInt(offset) })),
      { count: fresh.length },
    )
  }
  const sql = {
    unsafe,
    begin: async (run: (tx: unknown) => Promise<unknown>) => {
      const pending: string[] = []
      const tx = Object.assign((_strings: TemplateStringsArray, ...values: unknown[]) => pending.push(...(values[1] as string[])), { unsafe })
      const result = await run(tx)
      notified.push(...pending)
      return result
    },
  } as unknown as Sql
  return { sql, statements, inserted, notified }
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

describe('createLogWriter: announcing what it stored to the live tail', () => {
  const announced = (payloads: string[]) => payloads.flatMap((payload) => parseAnnouncement(payload)!.runs.map((run) => [Number(run.first), Number(run.last)]))

  test('a write announces exactly the rows it inserted, in the same transaction', async () => {
    const { sql, notified } = fakeSql(() => undefined)
    await createLogWriter(sql).write(rows(100))
    expect(announced(notified)).toEqual([[0, 99]])
    expect(parseAnnouncement(notified[0]!)!.spans).toEqual([[1_700_000_000_000_000, 1_700_000_000_000_000]])
  })

  test('rows already stored (a re-delivery) are not announced again; a full replay announces nothing', async () => {
    const stored = new Set(Array.from({ length: 50 }, (_, i) => i + 20))
    const partial = fakeSql(() => undefined, stored)
    await createLogWriter(partial.sql).write(rows(100))
    expect(announced(partial.notified)).toEqual([
      [0, 19],
      [70, 99],
    ])
    const replay = fakeSql(() => undefined, new Set(Array.from({ length: 100 }, (_, i) => i)))
    expect(await createLogWriter(replay.sql).write(rows(100))).toEqual({ inserted: 0, rejected: [] })
    expect(replay.notified).toEqual([])
  })

  test('a statement that fails announces nothing; the halves that are stored announce their own rows', async () => {
    const { sql, notified } = fakeSql((offsets) => (offsets.includes(37) ? sqlError('22P02', 'invalid input syntax for type json') : undefined))
    await createLogWriter(sql).write(rows(100))
    const runs = announced(notified).sort((a, b) => a[0]! - b[0]!)
    expect(runs.flatMap(([first, last]) => Array.from({ length: last! - first! + 1 }, (_, i) => first! + i))).toEqual(
      Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 37),
    )
  })

  test('with a full notification queue (SQLSTATE 54000 at commit) the rows are still stored, unannounced', async () => {
    let first = true
    const { sql, statements } = fakeSql(() => {
      if (!first) return undefined
      first = false
      return sqlError('54000', 'too many notifications in the NOTIFY queue')
    })
    expect(await createLogWriter(sql).write(rows(10))).toEqual({ inserted: 10, rejected: [] })
    expect(statements).toHaveLength(2)
  })

  test('announce: false writes one plain statement', async () => {
    const { sql, notified, inserted } = fakeSql(() => undefined)
    await createLogWriter(sql, { announce: false }).write(rows(5))
    expect([inserted.length, notified]).toEqual([5, []])
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
