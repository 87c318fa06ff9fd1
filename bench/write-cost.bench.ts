/**
 * What each part of the schema costs the consumer's write path, per row: the real log writer (a COPY per batch,
 * as for new rows, announcements included) stores the same generated rows in 5000-row batches
 * into a fresh database per variant, each variant the schema less one feature or with one setting changed.
 * Measured: the PostgreSQL backend's CPU (its /proc stat: the writer's one connection), our process's CPU, WAL
 * bytes and bytes on disk per row. The backend's CPU leaves out autovacuum and the checkpointer, so a variant
 * that defers work to them (a larger GIN pending list) looks cheaper here than it is: the end-to-end benchmark
 * counts every PostgreSQL process.
 */

import { loadConfig } from '../src/lib/config.ts'
import type { Sql } from '../src/lib/db.ts'
import { createLogWriter } from '../src/lib/log-writer.ts'
import { freshBenchDatabase } from './bench-database.ts'
import { asPendingRows, sampleRecords } from './copy-ceiling.ts'
import { processCpuSeconds } from './process-cpu.ts'
import type { BenchContext, Scenario } from './scenario.ts'

const BATCH_ROWS = 5000

/** Applied to partitioned indexes' partitions too: a partitioned index itself takes no storage parameters. */
const everyGinIndex = (setting: string) =>
  `do $$ declare r record; begin
     for r in select c.oid::regclass as name from pg_class c where c.relkind = 'i' and c.reloptions::text like '%gin_pending_list_limit%' loop
       execute format('alter index %s set (${setting})', r.name);
     end loop; end $$`

interface Variant {
  name: string
  what: string
  statements: string[]
  /** One row in every this many is stored before the run, so every batch holds one: the writer's INSERT path. */
  storedEvery?: number
}

const variants: Variant[] = [
  { name: 'schema.sql', what: 'as shipped', statements: [] },
  {
    name: 'INSERT … ON CONFLICT',
    what: 'nothing: how a batch holding a stored row is written (a replay)',
    statements: [],
    storedEvery: BATCH_ROWS,
  },
  { name: 'no full-text index', what: '`q` could not be served', statements: ['drop index logs_message_fts_idx'] },
  {
    name: 'full text without numbers',
    what: 'numbers unsearchable by `q`',
    statements: [
      'drop index logs_message_fts_idx',
      'create text search configuration bench_words (copy = simple)',
      'alter text search configuration bench_words drop mapping for int, uint, float, sfloat, version',
      "create index logs_message_fts_idx on logs using gin (to_tsvector('bench_words'::regconfig, message)) with (gin_pending_list_limit = 16384)",
    ],
  },
  { name: 'no metadata index', what: '`attr.` filters scan', statements: ['drop index logs_metadata_idx'] },
  { name: 'no content key index', what: 'client retries stored twice', statements: ['drop index logs_content_key_idx'] },
  { name: 'no log_counts trigger', what: 'histograms count rows', statements: ['alter table logs disable trigger logs_counted_insert'] },
  { name: 'GIN pending lists 64 MB', what: 'merges deferred (see above)', statements: [everyGinIndex('gin_pending_list_limit = 65536')] },
]

interface Cost {
  pgMicrosPerRow: number
  clientMicrosPerRow: number
  rowsPerSecond: number
  walBytesPerRow: number
  bytesPerRow: number
}

const walBytes = async (sql: Sql) => Number((await sql<{ b: string }[]>`select wal_bytes::text as b from pg_stat_wal`)[0]!.b)

async function measure(variant: Variant, rows: ReturnType<typeof sampleRows>): Promise<Cost> {
  const database = await freshBenchDatabase(loadConfig().databaseUrl, 'logstream_bench_write_cost', 1)
  const { sql } = database
  try {
    for (const statement of variant.statements) await sql.unsafe(statement)
    if (variant.storedEvery) await createLogWriter(sql).write(rows.filter((_, i) => i % variant.storedEvery! === 0))
    const pid = (await sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid
    const writer = createLogWriter(sql)
    const wal0 = await walBytes(sql)
    const pg0 = processCpuSeconds(pid) ?? 0
    const client0 = process.cpuUsage()
    const began = performance.now()
    for (let i = 0; i < rows.length; i += BATCH_ROWS) await writer.write(rows.slice(i, i + BATCH_ROWS))
    const seconds = (performance.now() - began) / 1000
    const pg = (processCpuSeconds(pid) ?? 0) - pg0
    const client = process.cpuUsage(client0)
    const wal = (await walBytes(sql)) - wal0
    const [size] = await sql<{ bytes: string }[]>`
      select sum(pg_total_relation_size(inhrelid))::text as bytes from pg_inherits where inhparent = 'logs'::regclass`
    return {
      pgMicrosPerRow: (pg * 1e6) / rows.length,
      clientMicrosPerRow: (client.user + client.system) / rows.length,
      rowsPerSecond: rows.length / seconds,
      walBytesPerRow: wal / rows.length,
      bytesPerRow: Number(size!.bytes) / rows.length,
    }
  } finally {
    await database.drop()
  }
}

const sampleRows = (count: number) => asPendingRows(sampleRecords(count, 7))

const scenario: Scenario = {
  name: 'write-cost',
  async run(context: BenchContext) {
    const count = context.quick ? 50_000 : 200_000
    const rows = sampleRows(count)
    const results: [Variant, Cost][] = []
    for (const [index, variant] of variants.entries()) {
      context.progress('write-cost', index, variants.length)
      results.push([variant, await measure(variant, rows)])
    }
    context.progress('write-cost', variants.length, variants.length)
    const [, base] = results[0]!
    const f = (n: number) => n.toFixed(1)
    const change = (ours: number, ref: number) => `${ours >= ref ? '+' : ''}${(((ours - ref) / ref) * 100).toFixed(0)} %`
    const markdown = [
      `${count.toLocaleString('en-US')} generated rows (bench/copy-ceiling.ts sampleRecords, all with their own timestamps), written by the consumer's log writer in ${BATCH_ROWS}-row batches (one COPY each, but for the INSERT row) into a fresh database per variant. PostgreSQL CPU is the writing backend's alone (no autovacuum, no checkpointer); WAL is the whole server's (pg_stat_wal), so other work on it counts.`,
      '',
      '| variant | what it gives up | PostgreSQL CPU-µs per row | ours CPU-µs per row | rows/s | WAL B/row | bytes/row on disk |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
      ...results.map(
        ([variant, cost], index) =>
          `| ${variant.name} | ${variant.what} | ${f(cost.pgMicrosPerRow)}${index ? ` (${change(cost.pgMicrosPerRow, base.pgMicrosPerRow)})` : ''} | ${f(cost.clientMicrosPerRow)} | ${Math.round(cost.rowsPerSecond).toLocaleString('en-US')} | ${Math.round(cost.walBytesPerRow)} | ${Math.round(cost.bytesPerRow)}${index ? ` (${change(cost.bytesPerRow, base.bytesPerRow)})` : ''} |`,
      ),
    ].join('\n')
    const metrics: Record<string, number> = {}
    for (const [variant, cost] of results) {
      const key = variant.name.replace(/[^a-z0-9]+/gi, '_').toLowerCase()
      metrics[`${key}_pgMicrosPerRow`] = Math.round(cost.pgMicrosPerRow * 10) / 10
      metrics[`${key}_bytesPerRow`] = Math.round(cost.bytesPerRow)
    }
    return { title: 'Write path cost per row, by schema feature', markdown, metrics }
  },
}

export default scenario
