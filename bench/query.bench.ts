import { writeFileSync } from 'node:fs'
import { connect } from '../src/lib/db.ts'
import { formatMicros } from '../src/lib/log-entry.ts'
import { BUSY_SERVICE } from './generated-logs.ts'
import { BUSY_DESCRIPTION, BUSY_HOUR_MICROS, busyState, prepareBusyDataset } from './query-busy-dataset.ts'
import { DATASET_DAYS, type Dataset, prepareSpreadDataset, storageSizes, waitForIdleDatabase } from './query-dataset.ts'
import { type ExportTiming, timeExport, warmUpExport } from './query-export.ts'
import {
  busyStateLine,
  CONCURRENT_FULL_TEXT_TARGET_MS,
  CONCURRENT_TARGET_MS,
  concurrentTable,
  exportTable,
  type PartTargets,
  sequentialTable,
  storageTable,
  targetSummary,
  timingMetrics,
} from './query-report.ts'
import { startQueryServer } from './query-server-process.ts'
import { queryShapes, type ShapeData } from './query-shapes.ts'
import { type ConcurrentTiming, type SequentialTiming, timeConcurrent, timeSequential } from './query-timing.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

/**
 * `bun run bench query`: the query API, a real `bun src/query.ts` process (bench/query-server-process.ts), on two kept
 * data sets:
 *   1. the 6-day table (10M rows, ~70k an hour, analyzed): every query shape (bench/query-shapes.ts) one
 *      request at a time, and /export of 100k rows with the server's RSS sampled from /proc;
 *   2. the busy hour of issue 13 (10M rows in one hour, one service holding most, a tag on every log, never
 *      analyzed, autovacuum off): the same one at a time, the same exports, then each shape from 50 concurrent
 *      clients for a fixed time.
 * The busy hour runs first (its load is the longest step). `--quick`: 1M and 300k rows, 30 iterations, 4 s of
 * load per shape. BENCH_QUERY_PARTS=spread or busy runs one part only (while working on it); each part's
 * section is also written to bench/.work/query-<part>.md when it is done.
 */
const CLIENTS = 50
const EXPORT_ROWS = 100_000

interface Settings {
  spreadRows: number
  busyRows: number
  iterations: number
  budgetMs: number
  loadMs: number
  exportRuns: number
}

const settings = (quick: boolean): Settings =>
  quick
    ? { spreadRows: 1_000_000, busyRows: 300_000, iterations: 30, budgetMs: 20_000, loadMs: 4_000, exportRuns: 2 }
    : { spreadRows: 10_000_000, busyRows: 10_000_000, iterations: 100, budgetMs: 60_000, loadMs: 15_000, exportRuns: 3 }

interface PartResult extends PartTargets {
  errorEvents: Record<string, { count: number; first: string }>
  /** Seconds spent waiting, before a measurement, for statements of earlier requests to end. */
  idleWaitSeconds: number
}

/** Walks 49 pages of /query?limit=100 (untimed) for the cursor that starts page 50. */
async function page50Cursor(origin: string): Promise<string | null> {
  let cursor: string | null = null
  for (let page = 1; page < 50; page++) {
    const response: Response = await fetch(`${origin}/query?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
    cursor = ((await response.json()) as { pagination?: { next_cursor: string | null } }).pagination?.next_cursor ?? null
  }
  return cursor
}

/**
 * Ids of logs spread over the data, as /query returns them (untimed): the context shapes look logs up by
 * the ids clients have. 20 pages of 500 logs, each ending at a random time.
 */
async function sampleLogIds(origin: string, end: Date, spanMicros: number): Promise<string[]> {
  const ids: string[] = []
  for (let page = 0; page < 20; page++) {
    const to = formatMicros(end.getTime() * 1000 - Math.floor(Math.random() * spanMicros))
    const response = await fetch(`${origin}/query?limit=500&to=${encodeURIComponent(to)}`)
    ids.push(...((await response.json()) as { logs: { id: string }[] }).logs.map((log) => log.id))
  }
  return ids
}

async function measure(context: BenchContext, label: string, dataset: Dataset, spanMicros: number, busy: boolean, s: Settings): Promise<PartResult> {
  const server = await startQueryServer(dataset.url)
  const admin = connect(dataset.url, { max: 1 })
  let idleWaitMs = 0
  const settle = async () => {
    idleWaitMs += await waitForIdleDatabase(admin)
  }
  try {
    const data: ShapeData = {
      rows: dataset.rows,
      end: dataset.end,
      spanMicros,
      busy,
      page50Cursor: await page50Cursor(server.origin),
      logIds: await sampleLogIds(server.origin, dataset.end, spanMicros),
    }
    const shapes = queryShapes(data)
    const sequential: SequentialTiming[] = []
    for (const [index, shape] of shapes.entries()) {
      await settle()
      sequential.push(await timeSequential(server.origin, shape, { iterations: s.iterations, budgetMs: s.budgetMs, warmups: 3, timeoutMs: 60_000 }))
      context.progress(`query: ${label}, one at a time`, index + 1, shapes.length)
    }

    const untilEnd = `to=${encodeURIComponent(formatMicros(dataset.end.getTime() * 1000))}`
    const service = busy ? BUSY_SERVICE : 'api-gateway'
    const exportPaths: [string, string][] = [
      [`NDJSON, newest ${EXPORT_ROWS.toLocaleString('en-US')}`, `/export?limit=${EXPORT_ROWS}&${untilEnd}`],
      [`CSV, newest ${EXPORT_ROWS.toLocaleString('en-US')}`, `/export?format=csv&limit=${EXPORT_ROWS}&${untilEnd}`],
      [`NDJSON, service=${service}`, `/export?service=${service}&limit=${EXPORT_ROWS}&${untilEnd}`],
    ]
    await settle()
    await warmUpExport(server.origin, `/export?limit=10000&${untilEnd}`)
    const exports: ExportTiming[] = []
    for (const [index, [name, path]] of exportPaths.entries()) {
      await settle()
      exports.push(await timeExport(server.origin, server.pid, name, path, s.exportRuns))
      context.progress(`query: ${label}, export`, index + 1, exportPaths.length + 1)
    }
    // Ten times the rows, last: memory that grows with the export shows here (query-export.ts).
    await settle()
    const long = Math.min(10 * EXPORT_ROWS, dataset.rows)
    const longExport = await timeExport(server.origin, server.pid, `NDJSON, newest ${long.toLocaleString('en-US')}`, `/export?limit=${long}&${untilEnd}`, 1)
    context.progress(`query: ${label}, export`, exportPaths.length + 1, exportPaths.length + 1)

    const concurrent: ConcurrentTiming[] = []
    if (busy) {
      for (const [index, shape] of shapes.entries()) {
        await settle()
        concurrent.push(await timeConcurrent(server.origin, shape, { clients: CLIENTS, durationMs: s.loadMs, timeoutMs: 60_000 }))
        context.progress(`query: ${label}, ${CLIENTS} clients`, index + 1, shapes.length)
      }
    }
    return { label, sequential, concurrent, exports, longExport, errorEvents: server.errorEvents(), idleWaitSeconds: Math.round(idleWaitMs / 1000) }
  } finally {
    await server.stop()
    await admin.end()
  }
}

/** What the service logged as errors, and how long measurements waited for earlier statements to end. */
const afterLine = (result: PartResult) => {
  const entries = Object.entries(result.errorEvents)
  const errors = entries.length
    ? ` The query service logged errors: ${entries.map(([event, { count, first }]) => `${event} × ${count} (the first: \`${first}\`)`).join(', ')}.`
    : ''
  return `${errors} Before each measurement the bench waited until the database ran no statement of an earlier request: ${result.idleWaitSeconds} s in all.`
}

/** The commit the query service ran, and whether src/ or schema.sql differed from it (other work in the same tree). */
async function codeVersion(): Promise<string> {
  const commit = (await Bun.$`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || 'unknown'
  const dirty = (await Bun.$`git status --porcelain -- src schema.sql`.nothrow().quiet().text()).split('\n').filter((line) => line.trim())
  return `commit ${commit}${dirty.length ? ` with uncommitted changes in ${dirty.map((line) => line.slice(3)).join(', ')}` : ''}`
}

const howMeasured = (s: Settings) =>
  `Each shape ${s.iterations} times one request at a time (after up to 3 warm-ups; at most ${s.budgetMs / 1000} s per shape: \`n\` says when that cut it short), over real HTTP to a separate \`bun src/query.ts\` process (defaults: pool of 25, 10 s statement timeout), a new random service / window / trace / id / word per request; latency as the client sees it, body read. Exports, after the query shapes and one untimed 10,000-row export: ${s.exportRuns} runs each, body read as fast as the client can, the query process's RSS (VmRSS) sampled every 50 ms; then one export of ten times the rows (its peak against theirs says whether memory grows with the export).`

interface Part {
  result: PartResult
  section: string
  metrics: Record<string, number>
}

async function spreadPart(context: BenchContext, s: Settings): Promise<Part> {
  const dataset = await prepareSpreadDataset(context.quick, s.spreadRows, (done, total) => context.progress('query: generating rows', done, total))
  const result = await measure(context, '6-day table', dataset, DATASET_DAYS * 86_400_000_000, false, s)
  const sql = connect(dataset.url, { max: 1 })
  const size = await storageSizes(sql, dataset.rows).finally(() => sql.end())
  const section = [
    `### ${dataset.rows.toLocaleString('en-US')} rows over ${DATASET_DAYS} days, analyzed`,
    '',
    `Generated rows (8 services, 5 levels, 48 hosts, 3 tags each, traces of 8 logs, templated messages, metadata \`user.id\` / \`http.{method,status}\` / \`region\` / \`duration_ms\`) in \`${new URL(dataset.url).pathname.slice(1)}\`, kept between runs: ${dataset.prepared}${dataset.preparedSeconds ? ` in ${dataset.preparedSeconds} s` : ''}. ${howMeasured(s)}${afterLine(result)}`,
    '',
    sequentialTable(result.sequential),
    '',
    exportTable(result.exports, result.longExport),
    '',
    storageTable(size, dataset.rows),
  ].join('\n')
  const metrics = { rows: dataset.rows, bytes_per_row: Math.round(size.perRow * 10) / 10, ...timingMetrics('', result) }
  return { result, section, metrics }
}

async function busyPart(context: BenchContext, s: Settings): Promise<Part> {
  const dataset = await prepareBusyDataset(context.quick, s.busyRows, (done, total) => context.progress('query: busy hour rows', done, total))
  const sql = connect(dataset.url, { max: 1 })
  try {
    const before = await busyState(sql)
    const result = await measure(context, 'busy hour', dataset, BUSY_HOUR_MICROS, true, s)
    const after = await busyState(sql)
    const size = await storageSizes(sql, dataset.rows)
    const section = [
      `### Busy hour: ${dataset.rows.toLocaleString('en-US')} rows in one hour, never analyzed`,
      '',
      `Rows ${BUSY_DESCRIPTION}, in \`${new URL(dataset.url).pathname.slice(1)}\`, kept between runs: ${dataset.prepared}${dataset.preparedSeconds ? ` in ${dataset.preparedSeconds} s (${Math.round(dataset.rows / dataset.preparedSeconds).toLocaleString('en-US')} rows/s, inserted with every index in place)` : ''}. The benchmark never runs ANALYZE or VACUUM on it, and autovacuum is off on its partitions (a server running with autovacuum off, nothing else maintaining the day's partition).`,
      '',
      busyStateLine('Before the queries', before),
      busyStateLine('After them', after),
      '',
      `One at a time: ${howMeasured(s)}${afterLine(result)}`,
      '',
      sequentialTable(result.sequential),
      '',
      exportTable(result.exports, result.longExport),
      '',
      `With ${CLIENTS} concurrent clients (fetch loops in the bench process, a separate process from the query service; the same 2 cores): each shape for ${s.loadMs / 1000} s, one shape at a time, a new random path per request; requests still in flight at the end are awaited and counted. Failed = any answer other than 200, or none within 60 s. Targets: none failed or 503, p99 ≤ ${CONCURRENT_TARGET_MS / 1000} s, full text (\`q\`) ≤ ${CONCURRENT_FULL_TEXT_TARGET_MS / 1000} s. Exports are not in this part (one download holds a pool connection for its whole length; they are measured above).`,
      '',
      concurrentTable(result.concurrent),
      '',
      storageTable(size, dataset.rows),
    ].join('\n')
    return { result, section, metrics: { busy_rows: dataset.rows, busy_bytes_per_row: Math.round(size.perRow * 10) / 10, ...timingMetrics('busy_', result) } }
  } finally {
    await sql.end()
  }
}

const scenario: Scenario = {
  name: 'query',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const s = settings(context.quick)
    // Read at the start: the services load src/ when they start, and other work may commit meanwhile.
    const code = await codeVersion()
    const only = (process.env.BENCH_QUERY_PARTS ?? 'spread,busy').split(',')
    // The busy hour first: its load is the longest step, and its rate says early whether a full run is worth finishing.
    // Each part's section is also written as soon as it is done, so a long run that fails later keeps it.
    const keep = (name: string) => (part: Part) => {
      writeFileSync(`${context.workDir}/query-${name}.md`, `${part.section}\n`)
      return part
    }
    const busy = only.includes('busy') ? await busyPart(context, s).then(keep('busy')) : undefined
    const spread = only.includes('spread') ? await spreadPart(context, s).then(keep('spread')) : undefined
    const parts = [spread, busy].filter((part) => part !== undefined)
    const markdown = [`Query service: ${code} at the start. ${targetSummary(parts.map((part) => part.result))}`, ...parts.map((part) => part.section)].join(
      '\n\n',
    )
    return { title: 'Query API on a generated table', markdown, metrics: Object.assign({}, ...parts.map((part) => part.metrics)) }
  },
}

export default scenario
