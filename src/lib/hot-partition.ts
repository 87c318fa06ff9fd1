import type { Sql } from './db.ts'
import type { Logger } from './log.ts'
import { partitionName } from './retention.ts'

/**
 * Keeps the partition being written (today's) cheap to query while it grows, whatever the server's
 * autovacuum does: a planner that has never seen its statistics, or a GIN pending list of hundreds of
 * thousands of entries that every full-text or tag search must scan, turns a query of milliseconds into
 * seconds (README, Query API). Safe to run from every consumer process: ANALYZE and gin_clean_pending_list
 * are idempotent and cheap when there is nothing to do.
 */

export interface HotPartitionOptions {
  /** Rows changed since the last ANALYZE that make a new one worthwhile. */
  analyzeAfterRows: number
  now?: Date
}

export interface HotPartitionResult {
  partition: string
  analyzed: boolean
  /** Pending-list pages merged into each GIN index, by index name. */
  cleaned: Record<string, number>
}

/** Analyzes today's partition when enough rows changed since its last ANALYZE, and merges its GIN pending lists. */
export async function maintainHotPartition(sql: Sql, options: HotPartitionOptions): Promise<HotPartitionResult | undefined> {
  const partition = partitionName(options.now ?? new Date())
  const [stats] = await sql<{ changed: string | null }[]>`
    select n_mod_since_analyze::text as changed from pg_stat_user_tables where relname = ${partition}`
  if (!stats) return undefined
  const analyzed = Number(stats.changed ?? 0) >= options.analyzeAfterRows
  // DDL-like commands take no bind parameters; the name comes from partitionName, never from input.
  if (analyzed) await sql.unsafe(`analyze "${partition}"`)
  const indexes = await sql<{ name: string }[]>`
    select i.relname as name from pg_index x
    join pg_class i on i.oid = x.indexrelid
    join pg_class t on t.oid = x.indrelid
    join pg_am a on a.oid = i.relam
    where t.relname = ${partition} and a.amname = 'gin'`
  const cleaned: Record<string, number> = {}
  for (const { name } of indexes) {
    const [row] = await sql<{ pages: string }[]>`select gin_clean_pending_list(${name}::regclass)::text as pages`
    cleaned[name] = Number(row?.pages ?? 0)
  }
  return { partition, analyzed, cleaned }
}

/** False when the server's autovacuum is off: nothing else would then keep statistics fresh or pending lists short. */
export async function autovacuumEnabled(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ setting: string }[]>`select setting from pg_settings where name = 'autovacuum'`
  return row?.setting === 'on'
}

/** Says at start, once, when the server's autovacuum is off, and what still keeps today's partition usable. */
export async function warnIfAutovacuumOff(sql: Sql, log: Logger): Promise<void> {
  try {
    if (!(await autovacuumEnabled(sql))) {
      log.warn('database.autovacuum-off', {
        detail:
          "the server's autovacuum is off: LogStream's consumers analyze today's partition and merge its GIN pending lists themselves (HOT_PARTITION_INTERVAL_MS), but older partitions and dead rows get no vacuum",
      })
    }
  } catch (error) {
    log.debug('database.autovacuum-unknown', { error })
  }
}
