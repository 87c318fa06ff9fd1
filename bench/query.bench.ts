import { loadConfig } from '../src/lib/config.ts'
import { applySchema, connect, ensureDatabase, type Sql } from '../src/lib/db.ts'
import { formatMicros } from '../src/lib/log-entry.ts'
import { queryDatabaseUrl } from '../src/lib/log-search.ts'
import { createQueryApp } from '../src/lib/query-app.ts'
import { maintainPartitions } from '../src/lib/retention.ts'
import { percentile } from './percentile.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

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
  return schema
    .split('\n')
    .filter((line) => /^\s*CREATE INDEX/i.test(line))
    .join('\n')
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

interface Case {
  name: string
  target: number
  path: () => string
}

const round = (value: number) => Math.round(value * 10) / 10
const md5 = (value: string) => new Bun.CryptoHasher('md5').update(value).digest('hex')
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!

const SERVICES = ['api-gateway', 'auth', 'billing', 'checkout', 'inventory', 'search', 'notifications', 'recommendations'] as const
const REASONS = ['"card expired"', '"insufficient funds"', '"fraud suspected"', '"bank unavailable"'] as const

async function sizes(sql: Sql, rows: number) {
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

const scenario: Scenario = {
  name: 'query',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const rows = context.quick ? 1_000_000 : 10_000_000
    const iterations = context.quick ? 30 : 100
    const dataset = await prepareDataset(context.quick, rows, (done, total) => context.progress('query: generating rows', done, total))
    const sql = connect(queryDatabaseUrl(dataset.url), { max: 4 })
    const app = createQueryApp({ sql }).listen({ hostname: '127.0.0.1', port: 0 })
    const origin = `http://127.0.0.1:${app.server!.port}`
    try {
      const endMicros = dataset.end.getTime() * 1000
      const spanMicros = DATASET_DAYS * 86_400_000_000
      const hour = 3_600_000_000
      const randomHour = () => {
        const to = endMicros - Math.floor(Math.random() * (spanMicros - hour))
        return `from=${encodeURIComponent(formatMicros(to - hour))}&to=${encodeURIComponent(formatMicros(to))}`
      }
      // The data set's newest row is its "now": a dashboard asks up to now, and q/tags searches start
      // from their upper bound (the kept data set ages between runs, the real stream does not).
      const untilEnd = `to=${encodeURIComponent(formatMicros(endMicros))}`
      const fetchJson = async (path: string) => (await fetch(origin + path)).json() as Promise<{ logs: unknown[]; pagination: { next_cursor: string | null } }>

      // The cursor that starts page 50, found by walking 49 pages (not timed).
      let cursor: string | null = null
      for (let page = 1; page < 50; page++) {
        cursor = (await fetchJson(`/query?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).pagination.next_cursor
      }

      const cases: Case[] = [
        { name: 'latest 100', target: 50, path: () => '/query?limit=100' },
        { name: 'service + level=ERROR over 1 h', target: 50, path: () => `/query?service=${pick(SERVICES)}&level=ERROR&${randomHour()}` },
        { name: 'service over 1 h', target: 50, path: () => `/query?service=${pick(SERVICES)}&${randomHour()}` },
        { name: 'level=FATAL (rare), latest 100', target: 50, path: () => '/query?level=FATAL' },
        { name: 'trace look-up', target: 50, path: () => `/query/${md5(String(Math.floor(Math.random() * (rows / 8))))}` },
        { name: 'tags env:staging + version', target: 50, path: () => `/query?tags=env:staging&tags=version:v1.${Math.floor(Math.random() * 20)}&${untilEnd}` },
        { name: 'host, latest 100', target: 50, path: () => `/query?host=${pick(SERVICES)}-0${1 + Math.floor(Math.random() * 6)}` },
        { name: 'q full-text, common phrase (~3 %)', target: 200, path: () => `/query?q=${encodeURIComponent(pick(REASONS))}&${untilEnd}` },
        { name: 'q full-text, rare word', target: 200, path: () => `/query?q=u${Math.floor(Math.random() * 100_000)}&${untilEnd}` },
        {
          name: 'q full-text, two common words that never meet',
          target: 200,
          path: () => `/query?q=${encodeURIComponent(pick(['refused shipped', 'cache declined', 'timeout warehouse']))}&${untilEnd}`,
        },
        { name: 'tags, a tag no log has', target: 50, path: () => `/query?tags=team:nobody${Math.floor(Math.random() * 1000)}&${untilEnd}` },
        { name: 'q full-text + service over 1 h', target: 200, path: () => `/query?q=timeout&service=${pick(SERVICES)}&${randomHour()}` },
        { name: 'page 50 (limit 100)', target: 50, path: () => '/query?limit=100&page=50' },
        { name: 'cursor page 50 (limit 100)', target: 50, path: () => `/query?limit=100&cursor=${cursor}` },
      ]

      const results: { name: string; target: number; p50: number; p95: number; max: number; rowsAvg: number }[] = []
      for (const [index, item] of cases.entries()) {
        for (let warm = 0; warm < 3; warm++) await fetchJson(item.path())
        const times: number[] = []
        let returned = 0
        for (let i = 0; i < iterations; i++) {
          const path = item.path()
          const began = performance.now()
          const response = await fetch(origin + path)
          const body = (await response.json()) as { logs?: unknown[] }
          times.push(performance.now() - began)
          if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`)
          returned += body.logs?.length ?? 0
        }
        times.sort((a, b) => a - b)
        results.push({
          name: item.name,
          target: item.target,
          p50: percentile(times, 50),
          p95: percentile(times, 95),
          max: times.at(-1)!,
          rowsAvg: returned / iterations,
        })
        context.progress('query: measuring', index + 1, cases.length)
      }

      const size = await sizes(sql, rows)
      const markdown = [
        `${rows.toLocaleString('en-US')} generated rows over ${DATASET_DAYS} days (8 services, 5 levels, 48 hosts, 3 tags each, traces of 8 logs, templated messages) in \`${new URL(dataset.url).pathname.slice(1)}\`, kept between runs${dataset.preparedSeconds ? `; prepared in ${dataset.preparedSeconds} s this run` : ''}. Each query ${iterations} times (after 3 warm-ups) over real HTTP (Elysia on Bun, port 0), one at a time, random service / hour window / trace / word per request; latency as the client sees it.`,
        '',
        '| query | p50 ms | p95 ms | max ms | target p95 | rows returned (avg) |',
        '|---|---:|---:|---:|---:|---:|',
        ...results.map(
          (r) => `| ${r.name} | ${round(r.p50)} | ${round(r.p95)} | ${round(r.max)} | < ${r.target} ms ${r.p95 < r.target ? '✓' : '✗'} | ${round(r.rowsAvg)} |`,
        ),
        '',
        `Storage: **${round(size.perRow)} bytes per row** (table + all indexes, ${(size.totalBytes / 2 ** 30).toFixed(2)} GiB for ${rows.toLocaleString('en-US')} rows):`,
        '',
        '| part | bytes per row |',
        '|---|---:|',
        ...size.parts.map((part) => `| ${part.part} | ${round(part.perRow)} |`),
      ].join('\n')

      const metrics: Record<string, number> = { rows, bytes_per_row: round(size.perRow) }
      for (const r of results) {
        const key = r.name
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '_')
          .replace(/^_|_$/g, '')
        metrics[`${key}_p50_ms`] = round(r.p50)
        metrics[`${key}_p95_ms`] = round(r.p95)
      }
      return { title: 'Query API on a generated table', markdown, metrics }
    } finally {
      await app.server?.stop(true)
      await sql.end({ timeout: 5 })
    }
  },
}

export default scenario
