import { applySchema, connect, ensureDatabase, type Sql } from '../src/lib/db.ts'
import { maintainPartitions } from '../src/lib/retention.ts'
import { loadConfig } from '../src/lib/config.ts'

/**
 * Generated data set: realistic enough that the planner faces what production would give it.
 * Services and levels are skewed, ~80 % of logs belong to a trace of 8 consecutive logs, messages come
 * from templates with ids and numbers in them, and timestamps are spread evenly over six days.
 */
export const DATASET_DAYS = 6
const CHUNK_ROWS = 500_000
const META_TABLE = 'bench_query_meta'

export function benchDatabaseUrl(quick: boolean): string {
  const url = new URL(loadConfig().databaseUrl)
  url.pathname = quick ? '/logstream_bench_query_quick' : '/logstream_bench_query'
  return url.toString()
}

/** The CREATE INDEX statements of schema.sql: the bench rebuilds indexes when these change. */
async function indexSignature(): Promise<string> {
  const schema = await Bun.file(new URL('../schema.sql', import.meta.url)).text()
  return schema.split('\n').filter((line) => /^\s*CREATE INDEX/i.test(line)).join('\n')
}

async function dropSecondaryIndexes(sql: Sql): Promise<void> {
  const indexes = await sql<{ name: string }[]>`
    select i.relname as name from pg_index x
    join pg_class i on i.oid = x.indexrelid
    where x.indrelid = 'logs'::regclass and not x.indisprimary`
  for (const { name } of indexes) await sql`drop index if exists ${sql(name)}`
}

async function loadRows(sql: Sql, rows: number, end: Date, progress: (done: number, total: number) => void): Promise<void> {
  const spanMicros = DATASET_DAYS * 86_400_000_000
  const start = new Date(end.getTime() - DATASET_DAYS * 86_400_000).toISOString()
  const stepMicros = spanMicros / rows
  for (let first = 1; first <= rows; first += CHUNK_ROWS) {
    const last = Math.min(rows, first + CHUNK_ROWS - 1)
    await sql`
      insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, ingested_at, kafka_partition, kafka_offset)
      select ts, svc, lvl, msg, meta, trace, span, svc || '-' || lpad((1 + floor(r3 * 6))::int::text, 2, '0'), tags,
             ts + interval '80 milliseconds', (i % 3)::int, i
      from (
        select i, r1, r2, r3, r4, r5, r6,
          ${start}::timestamptz + (floor(i * ${stepMicros}::float8) * interval '1 microsecond') as ts,
          (array['api-gateway','auth','billing','checkout','inventory','search','notifications','recommendations'])[1 + floor(power(r1, 1.6) * 8)::int] as svc,
          case when r2 < 0.15 then 'DEBUG' when r2 < 0.80 then 'INFO' when r2 < 0.92 then 'WARN' when r2 < 0.99 then 'ERROR' else 'FATAL' end as lvl,
          case when r4 < 0.8 then md5((i / 8)::text) end as trace,
          case when r4 < 0.8 then left(md5(i::text), 16) end as span,
          array['env:' || case when r3 < 0.9 then 'prod' else 'staging' end,
                'region:' || (array['us-east-1','us-west-2','eu-west-1','ap-south-1'])[1 + floor(r5 * 4)::int],
                'version:v1.' || floor(r6 * 20)::int] as tags,
          jsonb_build_object('user_id', 'u' || floor(r5 * 100000)::int, 'duration_ms', floor(r6 * 2000)::int,
                             'http_status', (array[200,200,200,201,204,400,404,500,503])[1 + floor(r3 * 9)::int]) as meta,
          case floor(r5 * 8)::int
            when 0 then format('GET /api/v1/orders/%s returned %s in %s ms', floor(r6 * 1e6)::int, (array[200,404,500])[1 + floor(r3 * 3)::int], floor(r1 * 900)::int)
            when 1 then format('user u%s logged in from 10.%s.%s.%s', floor(r6 * 100000)::int, floor(r1 * 255)::int, floor(r3 * 255)::int, floor(r2 * 255)::int)
            when 2 then format('payment declined for customer u%s: %s', floor(r6 * 100000)::int, (array['card expired','insufficient funds','fraud suspected','bank unavailable'])[1 + floor(r3 * 4)::int])
            when 3 then format('connection refused to db-%s:5432, retry %s of 5', floor(r6 * 12)::int, 1 + floor(r3 * 5)::int)
            when 4 then format('cache miss for key session:%s', left(md5((i * 7)::text), 12))
            when 5 then format('timeout after %s ms calling %s', 1000 + floor(r6 * 29000)::int, (array['inventory','billing','search','auth'])[1 + floor(r3 * 4)::int])
            when 6 then format('processed batch of %s events in %s ms', floor(r6 * 5000)::int, floor(r3 * 800)::int)
            else format('order %s shipped to warehouse %s', floor(r6 * 1e6)::int, (array['AMS1','FRA2','IAD3','SIN1'])[1 + floor(r3 * 4)::int])
          end as msg
        from (
          -- random() in the select list is volatile, so it is evaluated once per row, not hoisted.
          select i, random() as r1, random() as r2, random() as r3, random() as r4, random() as r5, random() as r6
          from generate_series(${first}::bigint, ${last}::bigint) as i
        ) as r
      ) as g`
    progress(last, rows)
  }
}

export interface Dataset {
  url: string
  rows: number
  /** Newest timestamp in the data set, the "now" of every bench query. */
  end: Date
  /** Seconds spent loading or re-indexing this run (0 when the kept data set was reused). */
  preparedSeconds: number
}

/**
 * Brings the kept bench database to `rows` rows and the current schema.sql indexes: regenerates the data
 * only when missing or of the wrong size, rebuilds the indexes only when schema.sql's change.
 */
export async function prepareDataset(quick: boolean, rows: number, progress: (done: number, total: number) => void): Promise<Dataset> {
  const url = benchDatabaseUrl(quick)
  const began = performance.now()
  await ensureDatabase(url)
  const name = new URL(url).pathname.slice(1)
  const admin = connect(url, { max: 1 })
  try {
    // Index builds on millions of rows are much faster with more sort memory than the server default.
    await admin.unsafe(`alter database "${name}" set maintenance_work_mem = '512MB'`)
    await admin`create table if not exists ${admin(META_TABLE)} (rows bigint not null, end_at timestamptz not null, indexes text not null)`
  } finally {
    await admin.end()
  }

  const sql = connect(url, { max: 1 })
  try {
    const signature = await indexSignature()
    const [meta] = await sql<{ rows: string; end_at: Date; indexes: string }[]>`select rows::text, end_at, indexes from ${sql(META_TABLE)}`
    if (meta && Number(meta.rows) === rows) {
      if (meta.indexes !== signature) {
        await dropSecondaryIndexes(sql)
        await applySchema(sql)
        await sql`analyze logs`
        await sql`update ${sql(META_TABLE)} set indexes = ${signature}`
      }
      return { url, rows, end: meta.end_at, preparedSeconds: Math.round((performance.now() - began) / 1000) }
    }

    const end = new Date()
    await sql`drop table if exists logs cascade`
    await sql`delete from ${sql(META_TABLE)}`
    await applySchema(sql)
    await maintainPartitions(sql, { retentionDays: DATASET_DAYS + 1, aheadDays: 2, now: end })
    // Loading first and indexing after is several times faster than maintaining the indexes row by row.
    await dropSecondaryIndexes(sql)
    await loadRows(sql, rows, end, progress)
    await applySchema(sql)
    await sql`vacuum analyze logs`
    const [newest] = await sql<{ end_at: Date }[]>`select max(timestamp) as end_at from logs`
    await sql`insert into ${sql(META_TABLE)} ${sql({ rows, end_at: newest!.end_at, indexes: signature })}`
    return { url, rows, end: newest!.end_at, preparedSeconds: Math.round((performance.now() - began) / 1000) }
  } finally {
    await sql.end()
  }
}
