import { afterAll, describe, expect, test } from 'bun:test'
import { connect, maintenanceUrl } from '../../../src/lib/db.ts'
import { baseConfig } from '../../support/infra.ts'

/**
 * The driver as installed (scripts/patch-postgres.ts): a statement that fails after sending rows must not
 * leave empty slots in the next result on the same connection (porsager/postgres#1181), and a COPY refused
 * after its data was sent must fail, not hang (porsager/postgres#1173). One connection, so statements share
 * it; nothing is written outside a temporary table.
 */
const sql = connect(maintenanceUrl(baseConfig.databaseUrl), { max: 1 })
afterAll(() => sql.end())

// Three rows are sent before the fourth divides by zero.
const failingMidStream = () => sql`select i, 1 / (4 - i) as boom from generate_series(1, 10) i`.catch((error: Error) => error)

describe('a statement that fails after sending rows', () => {
  test('fails with the server error', async () => {
    const error = await failingMidStream()
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toBe('division by zero')
  })

  test('leaves the next query on the connection dense', async () => {
    await failingMidStream()
    const rows = await sql<{ x: number }[]>`select x from generate_series(1, 5) x`
    expect(rows.length).toBe(5)
    expect(rows.map((row) => row.x)).toEqual([1, 2, 3, 4, 5])
  })

  test('leaves a pipelined query dense', async () => {
    const [, rows] = await Promise.all([failingMidStream(), sql<{ x: number }[]>`select x from generate_series(1, 5) x`])
    expect(Object.keys(rows)).toEqual(['0', '1', '2', '3', '4'])
    expect(rows.map((row) => row.x)).toEqual([1, 2, 3, 4, 5])
  })
})

describe('a COPY FROM STDIN the server refuses after the data was sent', () => {
  /** COPYs `text` into a temporary one-column table with a primary key inside a transaction; what it ends with. */
  const copyInTransaction = (text: string) =>
    sql
      .begin(async (tx) => {
        await tx`create temporary table if not exists copied (n integer primary key) on commit delete rows`
        await tx`insert into copied values (2)`
        const stream = await tx`copy copied (n) from stdin`.writable()
        await new Promise<void>((resolve, reject) => {
          stream.on('error', reject)
          stream.once('finish', resolve)
          stream.end(text)
        })
        return 'committed'
      })
      .catch((error: { code?: string }) => error.code)

  test('fails with the server error (a duplicate key, a malformed row) and rolls back, where the unpatched driver waits for ever', async () => {
    expect(await copyInTransaction('1\n2\n3\n')).toBe('23505')
    expect(await copyInTransaction('x\n')).toBe('22P02')
  })

  test('leaves the connection usable: the next COPY commits', async () => {
    await copyInTransaction('2\n')
    expect(await copyInTransaction('1\n3\n')).toBe('committed')
  })
})
