import type { Sql } from '../../src/lib/db.ts'

export interface FakeSql {
  sql: Sql
  /** Queries awaited so far (a fragment built inside another query and never awaited is not one). */
  awaited(): number
}

/**
 * A stand-in for postgres.js's `sql` that never connects, for unit tests. Every query (a tagged-template
 * call, `sql.unsafe`, or one inside `sql.begin`) settles as `answer()` does, once awaited; as in
 * postgres.js, building a query runs nothing, so fragments nested in a query (sql`true`) stay inert.
 */
export function fakeSql(answer: () => Promise<unknown>): FakeSql {
  let awaited = 0
  const query = () => {
    let running: Promise<unknown> | undefined
    const run = () => {
      if (!running) {
        awaited++
        running = answer()
      }
      return running
    }
    return {
      // biome-ignore lint/suspicious/noThenProperty: a postgres.js query is a thenable that runs when awaited; the fake must be one too
      then: (onValue?: (value: unknown) => unknown, onError?: (error: unknown) => unknown) => run().then(onValue, onError),
      catch: (onError: (error: unknown) => unknown) => run().catch(onError),
      finally: (onSettled: () => void) => run().finally(onSettled),
    }
  }
  const sql: Sql = Object.assign(() => query(), {
    unsafe: () => query(),
    begin: async (run: (tx: Sql) => unknown) => run(sql),
  }) as unknown as Sql
  return { sql, awaited: () => awaited }
}

/** A fake whose every query fails with `error`. */
export const failingSql = (error: unknown) => fakeSql(() => Promise.reject(error))
