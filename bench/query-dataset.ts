import { loadConfig } from '../src/lib/config.ts'
import { applySchema, connect, ensureDatabase, type Sql } from '../src/lib/db.ts'
import { maintainPartitions } from '../src/lib/retention.ts'
import { insertRowsSql, type Shape, signature } from './generated-logs.ts'

/**
 * The query benchmark's kept databases: a data set is generated once and reused by later runs while its
 * definition (row count, the generating statement, schema.sql's indexes) stays the same.
 *
 * The 6-day table (`prepareSpreadDataset`): rows spread evenly over six days (~70k an hour), loaded without
 * secondary indexes, indexed after, then VACUUM ANALYZE: the planner sees fresh statistics. Its busy-hour
 * counterpart is in query-busy-dataset.ts.
 */
export const DATASET_DAYS = 6
const CHUNK_ROWS = 500_000
export const META_TABLE = 'bench_query_meta'

export interface Dataset {
  url: string
  rows: number
  /** Newest timestamp in the data set, the "now" of every bench query. */
  end: Date
  /** Seconds spent loading or re-indexing this run (0 when the kept data set was reused). */
  preparedSeconds: number
  /** What this run did to it: reused, reindexed, or generated (and why). */
  prepared: string
}

export interface DatasetMeta {
  rows: number
  end: Date
  indexes: string
  data: string | null
}

export function benchDatabaseUrl(name: string): string {
  const url = new URL(loadConfig().databaseUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** The CREATE INDEX statements of schema.sql: the bench rebuilds indexes when these change. */
export async function indexSignature(): Promise<string> {
  const schema = await Bun.file(new URL('../schema.sql', import.meta.url)).text()
  return schema
    .split('\n')
    .filter((line) => /^\s*CREATE INDEX/i.test(line))
    .join('\n')
}

/** Creates the database (with a large maintenance_work_mem for index builds) and its bookkeeping table. */
export async function openKeptDatabase(url: string): Promise<Sql> {
  await ensureDatabase(url)
  const name = new URL(url).pathname.slice(1)
  const admin = connect(url, { max: 1 })
  try {
    // Index builds on millions of rows are much faster with more sort memory than the server default.
    await admin.unsafe(`alter database "${name}" set maintenance_work_mem = '512MB'`)
    await admin`create table if not exists ${admin(META_TABLE)} (rows bigint not null, end_at timestamptz not null, indexes text not null)`
    // Added when the generated data changed (attributes in metadata): a data set kept from before has none and is generated again.
    await admin`alter table ${admin(META_TABLE)} add column if not exists data text`
  } finally {
    await admin.end()
  }
  return connect(url, { max: 1 })
}

export async function readMeta(sql: Sql): Promise<DatasetMeta | undefined> {
  const [meta] = await sql<{ rows: string; end_at: Date; indexes: string; data: string | null }[]>`
    select rows::text, end_at, indexes, data from ${sql(META_TABLE)}`
  return meta && { rows: Number(meta.rows), end: meta.end_at, indexes: meta.indexes, data: meta.data }
}

export async function writeMeta(sql: Sql, meta: DatasetMeta): Promise<void> {
  await sql`delete from ${sql(META_TABLE)}`
  await sql`insert into ${sql(META_TABLE)} ${sql({ rows: meta.rows, end_at: meta.end, indexes: meta.indexes, data: meta.data })}`
}

export async function dropSecondaryIndexes(sql: Sql): Promise<void> {
  const indexes = await sql<{ name: string }[]>`
    select i.relname as name from pg_index x
    join pg_class i on i.oid = x.indexrelid
    where x.indrelid = 'logs'::regclass and not x.indisprimary`
  for (const { name } of indexes) await sql`drop index if exists ${sql(name)}`
}

/** An empty logs table with schema.sql and daily partitions covering `days` up to `end` (and two ahead). */
export async function recreateLogs(sql: Sql, end: Date, days: number): Promise<void> {
  await sql`drop table if exists logs cascade`
  await sql`delete from ${sql(META_TABLE)}`
  await applySchema(sql)
  await maintainPartitions(sql, { retentionDays: days + 1, aheadDays: 2, now: end })
}

/** Inserts `rows` generated rows of `shape`, evenly spaced over `spanMicros` up to `end`, in chunks. */
export async function insertGeneratedRows(
  sql: Sql,
  shape: Shape,
  rows: number,
  end: Date,
  spanMicros: number,
  progress: (done: number, total: number) => void,
): Promise<void> {
  const statement = insertRowsSql(shape)
  const start = new Date(end.getTime() - spanMicros / 1000).toISOString()
  const stepMicros = spanMicros / rows
  for (let first = 1; first <= rows; first += CHUNK_ROWS) {
    const last = Math.min(rows, first + CHUNK_ROWS - 1)
    await sql.unsafe(statement, [first, last, start, stepMicros])
    progress(last, rows)
  }
}

/**
 * Brings the kept 6-day database to `rows` rows of the current definition and schema.sql's indexes:
 * regenerates the data only when missing, of the wrong size or of another definition, and rebuilds the
 * indexes only when schema.sql's change.
 */
export async function prepareSpreadDataset(quick: boolean, rows: number, progress: (done: number, total: number) => void): Promise<Dataset> {
  const url = benchDatabaseUrl(quick ? 'logstream_bench_query_quick' : 'logstream_bench_query')
  const began = performance.now()
  const seconds = () => Math.round((performance.now() - began) / 1000)
  const sql = await openKeptDatabase(url)
  try {
    const indexes = await indexSignature()
    const data = signature(`${DATASET_DAYS} days\n${insertRowsSql('spread')}`)
    const meta = await readMeta(sql)
    if (meta && meta.rows === rows && meta.data === data) {
      if (meta.indexes === indexes) return { url, rows, end: meta.end, preparedSeconds: 0, prepared: 'reused' }
      await dropSecondaryIndexes(sql)
      await applySchema(sql)
      await sql`analyze logs`
      await writeMeta(sql, { ...meta, indexes })
      return { url, rows, end: meta.end, preparedSeconds: seconds(), prepared: 'reindexed (schema.sql indexes changed)' }
    }

    const reason = !meta ? 'none kept' : meta.rows !== rows ? `kept one has ${meta.rows} rows` : 'generated rows changed'
    const end = new Date()
    await recreateLogs(sql, end, DATASET_DAYS)
    // Loading first and indexing after is several times faster than maintaining the indexes row by row.
    await dropSecondaryIndexes(sql)
    await insertGeneratedRows(sql, 'spread', rows, end, DATASET_DAYS * 86_400_000_000, progress)
    await applySchema(sql)
    await sql`vacuum analyze logs`
    const [newest] = await sql<{ end_at: Date }[]>`select max(timestamp) as end_at from logs`
    await writeMeta(sql, { rows, end: newest!.end_at, indexes, data })
    return { url, rows, end: newest!.end_at, preparedSeconds: seconds(), prepared: `generated (${reason})` }
  } finally {
    await sql.end()
  }
}

export interface StorageSizes {
  parts: { part: string; perRow: number }[]
  perRow: number
  totalBytes: number
}

/** Bytes per row of the table and of each index, over all partitions. */
export async function storageSizes(sql: Sql, rows: number): Promise<StorageSizes> {
  const parts = await sql<{ part: string; bytes: string }[]>`
    select 'table (heap + toast)' as part, sum(pg_table_size(h.inhrelid))::text as bytes
    from pg_inherits h where h.inhparent = 'logs'::regclass
    union all
    select regexp_replace(c.relname, '^logs_(\\d+|default)_', ''), sum(pg_relation_size(i.indexrelid))::text
    from pg_inherits h join pg_index i on i.indrelid = h.inhrelid join pg_class c on c.oid = i.indexrelid
    where h.inhparent = 'logs'::regclass group by 1`
  const [total] = await sql<{ bytes: string }[]>`
    select sum(pg_total_relation_size(h.inhrelid))::text as bytes from pg_inherits h where h.inhparent = 'logs'::regclass`
  return {
    parts: parts.map((part) => ({ part: part.part, perRow: Number(part.bytes) / rows })).sort((a, b) => b.perRow - a.perRow),
    perRow: Number(total!.bytes) / rows,
    totalBytes: Number(total!.bytes),
  }
}

/**
 * Waits until no other session of this database runs a statement (a query the service still runs for a
 * request whose client has gone would slow the next measurement), at most `maxMs`; returns the ms waited.
 */
export async function waitForIdleDatabase(sql: Sql, maxMs = 60_000): Promise<number> {
  const began = performance.now()
  for (;;) {
    const [row] = await sql<{ busy: number }[]>`
      select count(*)::int as busy from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend' and state <> 'idle'`
    const waited = performance.now() - began
    if (row!.busy === 0 || waited >= maxMs) return waited
    await Bun.sleep(200)
  }
}
