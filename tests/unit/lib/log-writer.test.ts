import { describe, expect, test } from 'bun:test'
import { Writable } from 'node:stream'
import type { Sql } from '../../../src/lib/db.ts'
import { DatabaseUnavailableError } from '../../../src/lib/errors.ts'
import { insertColumns } from '../../../src/lib/log-columns.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'
import { createLogWriter, type PendingRow } from '../../../src/lib/log-writer.ts'
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
const rows = (n: number, from = 0): PendingRow[] =>
  Array.from({ length: n }, (_, i) => ({ partition: 0, offset: BigInt(from + i), record: record(`m${from + i}`) }))

const sqlError = (code: string, message: string) => Object.assign(new Error(message), { code })

type Statement = { kind: 'copy' | 'insert'; offsets: number[] }

/** The offsets in one INSERT: its kafka_offset column, sent as an array literal such as {"3","4"}. */
const insertedOffsets = (parameters: string[]) => (parameters[insertColumns.indexOf('kafka_offset')]!.match(/\d+/g) ?? []).map(Number)

/** The offsets in one COPY's text: the kafka_offset field of each line. */
const copiedOffsets = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split('\t')[insertColumns.indexOf('kafka_offset')]))

/**
 * A `sql` standing in for PostgreSQL's side of a write. A statement (a COPY, or an INSERT … ON CONFLICT DO
 * NOTHING through `unsafe`, in a transaction from `begin` or alone) fails as `failure(statement)` says;
 * otherwise the INSERT skips the rows in `stored`, and the COPY is refused whole (23505) if it holds one,
 * as PostgreSQL does. Rows a statement inserts join `stored`. Records each statement, the offsets inserted,
 * and the payloads passed to pg_notify in transactions that committed.
 */
function fakeSql(failure: (statement: Statement) => Error | undefined, stored = new Set<number>()) {
  const statements: Statement[] = []
  const inserted: number[] = []
  const notified: string[] = []
  const run = (statement: Statement): number[] => {
    statements.push(statement)
    const error =
      failure(statement) ??
      (statement.kind === 'copy' && statement.offsets.some((offset) => stored.has(offset)) ? sqlError('23505', 'duplicate key value') : undefined)
    if (error) throw error
    const fresh = statement.offsets.filter((offset) => !stored.has(offset))
    for (const offset of fresh) stored.add(offset)
    inserted.push(...fresh)
    return fresh
  }
  const copy = () => {
    let text = ''
    return new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk)
        done()
      },
      final(done) {
        try {
          run({ kind: 'copy', offsets: copiedOffsets(text) })
          done()
        } catch (error) {
          done(error as Error)
        }
      },
    })
  }
  const unsafe = (query: string, parameters?: string[]) => {
    if (query.startsWith('copy')) return { writable: async () => copy() }
    return (async () => {
      const fresh = run({ kind: 'insert', offsets: insertedOffsets(parameters!) })
      return fresh.map((offset) => ({ kafka_partition: 0, kafka_offset: BigInt(offset) }))
    })()
  }
  const sql = {
    unsafe,
    begin: async (body: (tx: unknown) => Promise<unknown>) => {
      const pending: string[] = []
      const tx = Object.assign((_strings: TemplateStringsArray, ...values: unknown[]) => pending.push(...(values[1] as string[])), { unsafe })
      const result = await body(tx)
      notified.push(...pending)
      return result
    },
  } as unknown as Sql
  return { sql, statements, inserted, notified }
}

const kinds = (statements: Statement[]) => statements.map((statement) => statement.kind)
const holding = (offset: number, error: Error) => (statement: Statement) => (statement.offsets.includes(offset) ? error : undefined)

describe('createLogWriter: COPY while batches are new, INSERT … ON CONFLICT once one holds a stored row', () => {
  test('a batch of new rows is one COPY: every row inserted and announced', async () => {
    const { sql, statements, inserted } = fakeSql(() => undefined)
    expect(await createLogWriter(sql).write(rows(100))).toEqual({ inserted: 100, rejected: [] })
    expect(kinds(statements)).toEqual(['copy'])
    expect(inserted).toHaveLength(100)
  })

  test('a batch holding a row already stored is refused by COPY and written by INSERT, which skips that row', async () => {
    const { sql, statements, inserted } = fakeSql(() => undefined, new Set([42]))
    expect(await createLogWriter(sql).write(rows(100))).toEqual({ inserted: 99, rejected: [] })
    expect(kinds(statements)).toEqual(['copy', 'insert'])
    expect(inserted).not.toContain(42)
  })

  test('after such a batch, batches go through INSERT until one holds no stored row; the next one is COPYed again', async () => {
    // A replay: the first two batches were stored before, the third is new.
    const { sql, statements } = fakeSql(() => undefined, new Set(Array.from({ length: 200 }, (_, i) => i)))
    const writer = createLogWriter(sql)
    const results = [
      await writer.write(rows(100, 0)),
      await writer.write(rows(100, 100)),
      await writer.write(rows(100, 200)),
      await writer.write(rows(100, 300)),
    ]
    expect(results.map((result) => result.inserted)).toEqual([0, 0, 100, 100])
    expect(kinds(statements)).toEqual(['copy', 'insert', 'insert', 'insert', 'copy'])
  })

  test('a batch whose bad row was rejected but held no stored row leaves COPY on for the next', async () => {
    const { sql, statements } = fakeSql(holding(5, sqlError('22P02', 'invalid input syntax for type json')))
    const writer = createLogWriter(sql)
    await writer.write(rows(10, 0))
    statements.length = 0
    expect(await writer.write(rows(10, 10))).toEqual({ inserted: 10, rejected: [] })
    expect(kinds(statements)).toEqual(['copy'])
  })
})

describe('createLogWriter: narrowing a refused batch down to its bad rows', () => {
  test('one bad row among 100 ends up in rejected, the other 99 are inserted, in about 2·log2(n) statements', async () => {
    const { sql, statements, inserted } = fakeSql(holding(37, sqlError('22P02', 'invalid input syntax for type json')))
    const result = await createLogWriter(sql).write(rows(100))
    expect(result.inserted).toBe(99)
    expect(result.rejected.map(({ row }) => Number(row.offset))).toEqual([37])
    expect((result.rejected[0]!.error as { code?: string }).code).toBe('22P02')
    expect(inserted.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 37))
    // The refused COPY, then the INSERTs narrowing it down.
    expect(statements[0]!.kind).toBe('copy')
    expect(statements.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(100)) + 2)
  })

  test('two bad rows are both rejected and everything else is stored', async () => {
    const { sql } = fakeSql(({ offsets }) => (offsets.includes(0) || offsets.includes(99) ? sqlError('23514', 'check constraint') : undefined))
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
    const { sql, notified } = fakeSql(holding(37, sqlError('22P02', 'invalid input syntax for type json')))
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
    expect(kinds(statements)).toEqual(['copy', 'copy'])
  })

  test('announce: false writes one plain statement', async () => {
    const { sql, notified, inserted, statements } = fakeSql(() => undefined)
    await createLogWriter(sql, { announce: false }).write(rows(5))
    expect([inserted.length, notified, kinds(statements)]).toEqual([5, [], ['copy']])
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
