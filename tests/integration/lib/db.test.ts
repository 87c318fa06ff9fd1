import { afterAll, describe, expect, test } from 'bun:test'
import { connect, maintenanceUrl } from '../../../src/lib/db.ts'
import { baseConfig } from '../../support/infra.ts'

/**
 * The driver as installed (scripts/patch-postgres.ts): a statement that fails after sending rows must not
 * leave empty slots in the next result on the same connection (porsager/postgres#1181). One connection,
 * so both statements share it; nothing is written.
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
