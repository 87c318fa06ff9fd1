import type { Sql } from './db.ts'

/**
 * Plans chosen per query shape, not by the planner's statistics. A partition that has never been analyzed
 * (autovacuum off, nobody running ANALYZE) makes PostgreSQL guess 0.5 % for every equality, and it then
 * ANDs bitmaps of millions of index entries (service = the busy service, level = ERROR) for a query that
 * an ordered index scan answers after reading a few hundred rows. Each shape therefore runs with planner
 * settings that leave only the plans it was designed for (README, Query API):
 *   - ordered: newest N with btree filters. Only ordered index scans remain, so the rows come from the
 *     best ordered index ((service, timestamp) when a service is given, else the primary key) newest first,
 *     every other condition a filter, and the scan stops at the limit.
 *   - bitmap: look-ups driven by one index (the trace index, a GIN index): bitmap scans only, never a walk
 *     of the primary key with a filter. The statements of this shape name only the driving conditions in
 *     an inner query (see drivenQuery in search-windows.ts), so no other index can be ANDed in.
 */
export type PlanShape = 'ordered' | 'bitmap'

const SETTINGS: Record<PlanShape, readonly string[]> = {
  ordered: ['enable_bitmapscan', 'enable_sort', 'enable_seqscan'],
  bitmap: ['enable_indexscan', 'enable_indexonlyscan', 'enable_seqscan'],
}
// Estimates without statistics (hundreds of thousands of rows for a GIN look-up that finds a hundred) made
// PostgreSQL start parallel workers: on a few cores shared by many requests, waiting for them cost more
// than the look-up itself.
const NO_PARALLEL = { name: 'max_parallel_workers_per_gather', value: '0' }

/** True for a postgres.js transaction handle (it has savepoint; the pool has begin). */
const inTransaction = (sql: Sql) => typeof (sql as { savepoint?: unknown }).savepoint === 'function'

/** Sets the settings of `shape` for the rest of the current transaction, in one round trip. */
async function apply(tx: Sql, shape: PlanShape): Promise<void> {
  const settings = [...SETTINGS[shape].map((name) => ({ name, value: 'off' })), NO_PARALLEL]
  await tx`
    select set_config(name, value, true)
    from unnest(${settings.map((setting) => setting.name)}::text[], ${settings.map((setting) => setting.value)}::text[]) as s(name, value)`
}

/**
 * Runs `run` with the plans of `shape`. On the pool it opens a transaction of its own; inside a caller's
 * transaction the settings hold until that transaction ends (the callers, e.g. the context look-up, run
 * statements of one shape in it).
 */
export async function withPlan<T>(sql: Sql, shape: PlanShape, run: (tx: Sql) => Promise<T>): Promise<T> {
  if (inTransaction(sql)) {
    await apply(sql, shape)
    return run(sql)
  }
  return sql.begin(async (tx) => {
    await apply(tx as unknown as Sql, shape)
    return run(tx as unknown as Sql)
  }) as Promise<T>
}

/** Runs `run` in a transaction whose plans must use bitmap scans (GIN, or btree ranges), never ordered or sequential scans. */
export const withGinPlans = <T>(sql: Sql, run: (tx: Sql) => Promise<T>): Promise<T> => withPlan(sql, 'bitmap', run)
