/**
 * The consumer's two write statements compared as the consumer runs them: the real log writer with two batches
 * in flight (CONSUME_MAX_IN_FLIGHT_BATCHES' default) stores the same server-timestamped rows (no content key,
 * like the end-to-end load) into a fresh database, once taking its COPY path (new rows) and once its INSERT …
 * ON CONFLICT path (one row of every batch stored beforehand, as in a replay), alternately, three times each.
 * PostgreSQL's CPU is the whole server's over the window (bench/postgres-cpu.ts), a CHECKPOINT at its end
 * included, so writes deferred to the checkpointer count; the sampled share of other databases is left out.
 */

import { loadConfig } from '../src/lib/config.ts'
import { createLogWriter } from '../src/lib/log-writer.ts'
import { freshBenchDatabase } from './bench-database.ts'
import { asPendingRows, sampleRecords } from './copy-ceiling.ts'
import { postmasterPid, watchPostgresCpu } from './postgres-cpu.ts'
import type { BenchContext, Scenario } from './scenario.ts'

const BATCH_ROWS = 5000
const IN_FLIGHT = 2
const DATABASE = 'logstream_bench_write_path'

type Path = 'COPY' | 'INSERT … ON CONFLICT'

interface Cost {
  pgMicrosPerRow: number
  clientMicrosPerRow: number
  rowsPerSecond: number
}

// Timestamped by the server, as the end-to-end load is: no content key.
const sampleRows = (count: number) => asPendingRows(sampleRecords(count, 11).map((record) => ({ ...record, timestampFromServer: true })))

async function measure(path: Path, rows: ReturnType<typeof sampleRows>): Promise<Cost> {
  const database = await freshBenchDatabase(loadConfig().databaseUrl, DATABASE, IN_FLIGHT + 1)
  const { sql } = database
  try {
    if (path !== 'COPY') await createLogWriter(sql).write(rows.filter((_, i) => i % BATCH_ROWS === 0))
    await sql`checkpoint`
    const postmaster = await postmasterPid(sql)
    if (postmaster === undefined) throw new Error('write-path: PostgreSQL is not a local process, so its CPU cannot be read')
    const watch = watchPostgresCpu(postmaster, DATABASE)
    const writer = createLogWriter(sql)
    const client0 = process.cpuUsage()
    const began = performance.now()
    let next = 0
    const writeBatches = async () => {
      while (next < rows.length) {
        const from = next
        next += BATCH_ROWS
        await writer.write(rows.slice(from, from + BATCH_ROWS))
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, writeBatches))
    await sql`checkpoint`
    const seconds = (performance.now() - began) / 1000
    const client = process.cpuUsage(client0)
    const pg = watch.finish()!
    return {
      pgMicrosPerRow: ((pg.totalSeconds - pg.otherSeconds) * 1e6) / rows.length,
      clientMicrosPerRow: (client.user + client.system) / rows.length,
      rowsPerSecond: rows.length / seconds,
    }
  } finally {
    await database.drop()
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const scenario: Scenario = {
  name: 'write-path',
  async run(context: BenchContext) {
    const count = context.quick ? 50_000 : 300_000
    const rounds = context.quick ? 1 : 3
    const rows = sampleRows(count)
    const paths: Path[] = ['COPY', 'INSERT … ON CONFLICT']
    const costs = new Map<Path, Cost[]>(paths.map((path) => [path, []]))
    for (let round = 0; round < rounds; round++) {
      for (const [index, path] of paths.entries()) {
        context.progress('write-path', round * paths.length + index, rounds * paths.length)
        costs.get(path)!.push(await measure(path, rows))
      }
    }
    context.progress('write-path', rounds * paths.length, rounds * paths.length)
    const f = (n: number) => n.toFixed(1)
    const each = (path: Path, key: keyof Cost) =>
      costs
        .get(path)!
        .map((cost) => (key === 'rowsPerSecond' ? Math.round(cost[key]).toLocaleString('en-US') : f(cost[key])))
        .join(', ')
    const markdown = [
      `${count.toLocaleString('en-US')} generated rows (bench/copy-ceiling.ts sampleRecords, timestamped by the server) written by the consumer's log writer in ${BATCH_ROWS}-row batches, ${IN_FLIGHT} in flight, into a fresh database; the two paths alternate, ${rounds} round(s). PostgreSQL CPU is the whole server's over the window, a final CHECKPOINT included, less what sampling saw other databases use.`,
      '',
      '| path | PostgreSQL CPU-µs per row (each round) | ours CPU-µs per row | rows/s |',
      '| --- | ---: | ---: | ---: |',
      ...paths.map((path) => `| ${path} | ${each(path, 'pgMicrosPerRow')} | ${each(path, 'clientMicrosPerRow')} | ${each(path, 'rowsPerSecond')} |`),
    ].join('\n')
    const metrics: Record<string, number> = {}
    for (const [path, key] of [
      ['COPY', 'copy'],
      ['INSERT … ON CONFLICT', 'insert'],
    ] as const) {
      metrics[`${key}_pgMicrosPerRow`] = Math.round(median(costs.get(path)!.map((cost) => cost.pgMicrosPerRow)) * 10) / 10
      metrics[`${key}_clientMicrosPerRow`] = Math.round(median(costs.get(path)!.map((cost) => cost.clientMicrosPerRow)) * 10) / 10
    }
    return { title: "The consumer's write paths: COPY against INSERT … ON CONFLICT", markdown, metrics }
  },
}

export default scenario
