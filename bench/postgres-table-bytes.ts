/**
 * Disk used by stored logs in one database: every partition of `logs` (heap with its TOAST, and indexes, apart)
 * and the `log_counts` rollup the insert trigger keeps, from PostgreSQL's own size functions.
 */
import type { Sql } from '../src/lib/db.ts'

export interface LogsTableBytes {
  /** Heap, TOAST, free-space and visibility maps of every partition of `logs`. */
  tableBytes: number
  /** Every index of every partition of `logs`. */
  indexBytes: number
  /** `log_counts` with its indexes (0 if the table is absent). */
  countsBytes: number
}

export async function logsTableBytes(sql: Sql): Promise<LogsTableBytes> {
  const [row] = await sql<LogsTableBytes[]>`
    select
      coalesce(sum(pg_table_size(relid)), 0)::float8 as "tableBytes",
      coalesce(sum(pg_indexes_size(relid)), 0)::float8 as "indexBytes",
      coalesce(pg_total_relation_size(to_regclass('log_counts')), 0)::float8 as "countsBytes"
    from pg_partition_tree('logs') where isleaf`
  return row!
}
