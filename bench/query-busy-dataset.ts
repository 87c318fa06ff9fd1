import { applySchema, type Sql } from '../src/lib/db.ts'
import { BUSY_HOSTS, BUSY_SERVICE, BUSY_SHARE, BUSY_TAG, insertRowsSql, signature } from './generated-logs.ts'
import { benchDatabaseUrl, type Dataset, indexSignature, insertGeneratedRows, openKeptDatabase, readMeta, recreateLogs, writeMeta } from './query-dataset.ts'

/**
 * The busy hour of issue 13: every row in the hour before the data set's end, BUSY_SHARE of them from one
 * service, BUSY_TAG on every log, hosts h1..h8. It reproduces a server that runs with autovacuum off and a
 * day's partition nobody analyzed: the partitions are created with schema.sql's indexes in place (as the
 * consumer writes into them, so the GIN indexes keep pending lists of up to 16 MB), autovacuum is turned off
 * on each of them, and the bench never runs ANALYZE or VACUUM here. A kept data set that has been analyzed
 * since (pg_statistic has rows for it) is generated again.
 */
export const BUSY_HOUR_MICROS = 3_600_000_000

export interface BusyState {
  /** Statistics rows of logs and its partitions: 0 when never analyzed. */
  statisticsRows: number
  /** pg_class.reltuples of the partitions holding rows: -1 when never vacuumed or analyzed. */
  reltuples: number[]
  autovacuumOff: boolean
  /** Pending-list pages and entries of each GIN index of the partitions holding rows (pgstattuple's pgstatginindex). */
  pending: { index: string; pages: number; tuples: number }[]
}

async function partitions(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits h join pg_class c on c.oid = h.inhrelid where h.inhparent = 'logs'::regclass order by 1`
  return rows.map((row) => row.name)
}

async function partitionsWithRows(sql: Sql): Promise<string[]> {
  const names: string[] = []
  for (const name of await partitions(sql)) {
    const [row] = await sql.unsafe<{ any: boolean }[]>(`select exists (select 1 from "${name}") as any`)
    if (row?.any) names.push(name)
  }
  return names
}

export async function busyState(sql: Sql): Promise<BusyState> {
  const [stats] = await sql<{ count: string }[]>`
    select count(*)::text as count from pg_statistic
    where starelid = 'logs'::regclass or starelid in (select inhrelid from pg_inherits where inhparent = 'logs'::regclass)`
  const filled = await partitionsWithRows(sql)
  const classes = await sql<{ reltuples: number; options: string[] | null }[]>`
    select reltuples, reloptions as options from pg_class where relname = any(${filled}::text[])`
  await sql`create extension if not exists pgstattuple`
  const pending = await sql<{ index: string; pages: number; tuples: string }[]>`
    select i.relname as index, (pgstatginindex(i.oid)).pending_pages as pages, (pgstatginindex(i.oid)).pending_tuples::text as tuples
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid join pg_am a on a.oid = i.relam
    where t.relname = any(${filled}::text[]) and a.amname = 'gin' order by 1`
  return {
    statisticsRows: Number(stats!.count),
    reltuples: classes.map((row) => row.reltuples),
    autovacuumOff: classes.every((row) => row.options?.some((option) => /^autovacuum_enabled=(off|false)$/.test(option)) ?? false),
    pending: pending.map((row) => ({ index: row.index, pages: row.pages, tuples: Number(row.tuples) })),
  }
}

/** Turns autovacuum (and its ANALYZE) off on every partition, the default one included. */
async function autovacuumOff(sql: Sql): Promise<void> {
  for (const name of await partitions(sql)) await sql.unsafe(`alter table "${name}" set (autovacuum_enabled = off, toast.autovacuum_enabled = off)`)
}

/**
 * Brings the kept busy-hour database to `rows` rows of the current definition, never analyzed. The rows are
 * inserted with every index in place, as a consumer would write them (slower than indexing after loading, but
 * the GIN pending lists and the never-set statistics are what this data set is for).
 */
export async function prepareBusyDataset(quick: boolean, rows: number, progress: (done: number, total: number) => void): Promise<Dataset> {
  const url = benchDatabaseUrl(quick ? 'logstream_bench_query_busy_quick' : 'logstream_bench_query_busy')
  const began = performance.now()
  const sql = await openKeptDatabase(url)
  try {
    const indexes = await indexSignature()
    // Loaded with the indexes in place: an index change means loading again.
    const data = signature(`busy hour, indexes in place, autovacuum off\n${insertRowsSql('busy')}\n${indexes}`)
    const meta = await readMeta(sql)
    const analyzed = meta ? (await busyState(sql)).statisticsRows > 0 : false
    if (meta && meta.rows === rows && meta.data === data && !analyzed) {
      // Idempotent, and no ANALYZE: it only adds what a schema change brought (log_counts and its trigger,
      // filled once from the rows), so a set kept from before such a change measures today's schema.
      await applySchema(sql)
      return { url, rows, end: meta.end, preparedSeconds: Math.round((performance.now() - began) / 1000), prepared: 'reused' }
    }

    const reason = !meta
      ? 'none kept'
      : meta.rows !== rows
        ? `kept one has ${meta.rows} rows`
        : meta.data !== data
          ? 'generated rows or indexes changed'
          : 'kept one was analyzed since'
    const end = new Date()
    await recreateLogs(sql, end, 2)
    await autovacuumOff(sql)
    await insertGeneratedRows(sql, 'busy', rows, end, BUSY_HOUR_MICROS, progress)
    const [newest] = await sql<{ end_at: Date }[]>`select max(timestamp) as end_at from logs`
    await writeMeta(sql, { rows, end: newest!.end_at, indexes, data })
    return { url, rows, end: newest!.end_at, preparedSeconds: Math.round((performance.now() - began) / 1000), prepared: `generated (${reason})` }
  } finally {
    await sql.end()
  }
}

export const BUSY_DESCRIPTION = `all in the hour before the data set's newest row, ${Math.round(BUSY_SHARE * 100)} % from \`${BUSY_SERVICE}\`, the seven other services sharing the rest, hosts h1..h${BUSY_HOSTS}, tag \`${BUSY_TAG}\` on every log`
