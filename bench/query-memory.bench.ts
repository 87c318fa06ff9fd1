/**
 * The query API's memory under large logs (issue 13, "Responses bounded in memory"): 728 logs of 900 kB under
 * one service (bench/query-memory-data.ts, its own database), a real `bun src/query.ts` process, and a
 * separate client process (bench/query-memory-load.ts) that streams every answer without holding it. Four
 * phases, each on a fresh query process so that each peak is its own:
 *
 *   1. /query: 4 clients page `GET /query?service=big&limit=1000` by next_cursor until has_more is false
 *      (whether a page ends at the row limit or at a byte budget); each must receive all 728 logs.
 *   2. /export: 4 concurrent `GET /export?service=big` (NDJSON) read to the end: 728 lines each.
 *   3. trace look-up: 4 concurrent `GET /query/{trace_id}` of a trace holding 243 of the big logs.
 *   4. context: 4 concurrent `GET /query/{id}/context?before=200&after=200` around 4 big logs.
 *
 * The query process's VmRSS is sampled from /proc every 50 ms (VmHWM, the kernel's exact peak, beside it).
 * Target (issue 13): every answer 200, complete, with the query process ≤ 300 MB. A request has 60 s, and the
 * bench kills the query process if it reaches KILL_RSS_MB, so a run ends on any code. A scenario measures; it
 * never asserts.
 *
 * `BENCH_QUERY_COMMIT=<revision> bun run bench query-memory` measures that commit's query code (a clean copy,
 * bench/query-memory-process.ts) instead of the working tree: the "before" of a change, or a shared tree with
 * edits in progress.
 */
import { forEachLine } from '../scripts/services.ts'
import { memoryMb, rssSampler } from './process-memory.ts'
import { BIG_LOGS, BIG_SERVICE, MESSAGE_BYTES, prepareQueryMemoryDataset, type QueryMemoryDataset, TRACE_ID } from './query-memory-data.ts'
import type { ClientResult, ClientSpec, QueryLoadOptions, QueryLoadSummary } from './query-memory-load.ts'
import { checkoutForBench, resolveCommit, startQueryProcess } from './query-memory-process.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

const TARGET_RSS_MB = 300
/** The machine's safety: a query process this large is killed (and the phase reported as such). 24 GB here, shared. */
const KILL_RSS_MB = 6000
const REQUEST_TIMEOUT_MS = 60_000
/** Sampling goes on this long after the clients finish: a server still building an abandoned answer grows meanwhile. */
const TAIL_MS = 2000
const CONTEXT_SIDE = 200

interface Phase {
  key: string
  title: string
  clients: ClientSpec[]
  /** What one client must have received. */
  expected: string
  complete(client: ClientResult): boolean
  received(client: ClientResult): string
}

interface PhaseResult {
  phase: Phase
  load: QueryLoadSummary | undefined
  loadError?: string
  idleMb: number | undefined
  peakMb: number
  hwmMb: number | undefined
  killedAtMb: number | undefined
  clientPeakMb: number
  problems: Record<string, number>
  stop: { code: number; seconds: number; killed: boolean }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`
/** The answer's own flag for "stopped short": `truncated` at the top level, or inside `within` (e.g. pagination). */
const truncated = (client: ClientResult, within?: string) =>
  (within ? (client.lastFields[within] as { truncated?: unknown } | undefined)?.truncated : client.lastFields.truncated) === true
const allOk = (client: ClientResult) => Object.keys(client.statuses).every((status) => status === '200') && !client.stopped

function phases(dataset: QueryMemoryDataset, clients: number): Phase[] {
  const times = <T>(make: (k: number) => T) => Array.from({ length: clients }, (_, k) => make(k))
  // Around big logs far enough from either end to have 200 big neighbours on each side.
  const middle = Math.floor(dataset.bigIds.length / 2)
  const contextIds = times((k) => dataset.bigIds[middle - 120 + k * 80]!)
  return [
    {
      key: 'query',
      title: `\`GET /query?service=${BIG_SERVICE}&limit=1000\`, paged by next_cursor to the end`,
      clients: times(() => ({ path: `/query?service=${BIG_SERVICE}&limit=1000`, format: 'json' })),
      expected: `${BIG_LOGS} logs, all distinct`,
      complete: (c) => allOk(c) && c.counts.logs === BIG_LOGS && c.distinctIds === BIG_LOGS,
      received: (c) => `${fmt(c.counts.logs ?? 0)} logs (${fmt(c.distinctIds)} distinct) in ${c.requests} page${c.requests === 1 ? '' : 's'}`,
    },
    {
      key: 'export',
      title: `\`GET /export?service=${BIG_SERVICE}\` (NDJSON), read to the end`,
      clients: times(() => ({ path: `/export?service=${BIG_SERVICE}`, format: 'ndjson' })),
      expected: `${BIG_LOGS} lines, no error line`,
      complete: (c) => allOk(c) && c.lines === BIG_LOGS && c.errorLines === 0,
      received: (c) => `${fmt(c.lines)} lines${c.errorLines ? ` (${c.errorLines} error line)` : ''}`,
    },
    {
      key: 'trace',
      title: `\`GET /query/{trace_id}\`, a trace of ${dataset.traceLogs} logs (${dataset.traceBigLogs} of them big)`,
      clients: times(() => ({ path: `/query/${TRACE_ID}`, format: 'json' })),
      expected: `${dataset.traceLogs} logs, or fewer with \`pagination.truncated\``,
      // A look-up may stop short of the whole trace if it says so (pagination.truncated: its documented contract).
      complete: (c) =>
        allOk(c) && c.distinctIds === (c.counts.logs ?? 0) && (c.counts.logs === dataset.traceLogs || ((c.counts.logs ?? 0) > 0 && truncated(c, 'pagination'))),
      received: (c) =>
        `${fmt(c.counts.logs ?? 0)} logs in ${c.requests} request${c.requests === 1 ? '' : 's'}${truncated(c, 'pagination') ? ', truncated' : ''}`,
    },
    {
      key: 'context',
      title: `\`GET /query/{id}/context?before=${CONTEXT_SIDE}&after=${CONTEXT_SIDE}\` around ${clients} different big logs`,
      clients: contextIds.map((id) => ({ path: `/query/${id}/context?before=${CONTEXT_SIDE}&after=${CONTEXT_SIDE}`, format: 'json' })),
      expected: `the log, ${CONTEXT_SIDE} before, ${CONTEXT_SIDE} after, or fewer with \`truncated\``,
      complete: (c) => allOk(c) && c.counts.log === 1 && ((c.counts.before === CONTEXT_SIDE && c.counts.after === CONTEXT_SIDE) || truncated(c)),
      received: (c) => `log ${c.counts.log ?? 0}, before ${c.counts.before ?? 0}, after ${c.counts.after ?? 0}${truncated(c) ? ', truncated' : ''}`,
    },
  ]
}

/** Runs bench/query-memory-load.ts in its own process; its peak RSS is sampled too. */
async function runLoad(options: QueryLoadOptions): Promise<{ summary: QueryLoadSummary; clientPeakMb: number }> {
  const child = Bun.spawn([process.execPath, `${import.meta.dir}/query-memory-load.ts`, JSON.stringify(options)], { stdout: 'pipe', stderr: 'inherit' })
  const sampler = rssSampler(child.pid, { intervalMs: 200 })
  let summary: QueryLoadSummary | undefined
  await forEachLine(child.stdout, (line) => {
    const parsed = JSON.parse(line) as { type: 'started' } | QueryLoadSummary
    if (parsed.type === 'summary') summary = parsed
  })
  const code = await child.exited
  const { peakMb } = sampler.stop()
  if (code !== 0 || !summary) throw new Error(`query-memory-load exited with code ${code}`)
  return { summary, clientPeakMb: peakMb }
}

async function runPhase(phase: Phase, dataset: QueryMemoryDataset, root: string | undefined): Promise<PhaseResult> {
  const query = await startQueryProcess({ DATABASE_URL: dataset.url }, root)
  try {
    const idleMb = memoryMb(query.pid, 'VmRSS')
    let killedAtMb: number | undefined
    const sampler = rssSampler(query.pid, {
      intervalMs: 50,
      limitMb: KILL_RSS_MB,
      onLimit: (rss) => {
        killedAtMb = rss
        query.kill()
      },
    })
    let load: Awaited<ReturnType<typeof runLoad>> | undefined
    let loadError: string | undefined
    try {
      load = await runLoad({ origin: query.origin, timeoutMs: REQUEST_TIMEOUT_MS, clients: phase.clients })
    } catch (error) {
      loadError = (error as Error).message
    }
    await Bun.sleep(TAIL_MS)
    const hwmMb = memoryMb(query.pid, 'VmHWM')
    const { peakMb } = sampler.stop()
    const stop = await query.stop()
    return { phase, load: load?.summary, loadError, idleMb, peakMb, hwmMb, killedAtMb, clientPeakMb: load?.clientPeakMb ?? 0, problems: query.problems, stop }
  } finally {
    if (query.exitCode === null) query.kill()
  }
}

/**
 * The code the query process runs: the working tree (said with its commit, and whether src/ differs from it),
 * or with BENCH_QUERY_COMMIT=<revision> a clean copy of that commit (bench/query-memory-process.ts).
 */
async function queryCode(workDir: string): Promise<{ root: string | undefined; text: string }> {
  const revision = process.env.BENCH_QUERY_COMMIT?.trim()
  if (revision) {
    const commit = await resolveCommit(revision)
    return { root: await checkoutForBench(commit, workDir), text: `commit ${commit.slice(0, 7)}, a clean copy (BENCH_QUERY_COMMIT=${revision})` }
  }
  const commit = (await Bun.$`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || 'unknown'
  const dirty = (await Bun.$`git status --porcelain -- src schema.sql`.nothrow().quiet().text()).trim()
  return { root: undefined, text: `working tree at commit ${commit}${dirty ? ', with uncommitted changes in src/ or schema.sql' : ''}` }
}

function statusText(client: ClientResult): string {
  return Object.entries(client.statuses)
    .map(([status, n]) => `${n}× ${status}`)
    .join(', ')
}

function phaseRow(result: PhaseResult): string {
  const { phase, load } = result
  const peak = Math.max(result.peakMb, result.hwmMb ?? 0)
  const memory = result.killedAtMb
    ? `**killed at ${fmt(result.killedAtMb)} MB**`
    : `**${fmt(result.peakMb)} MB** (${result.hwmMb === undefined ? '?' : fmt(result.hwmMb)} MB)`
  if (!load) return `| ${phase.title} | load failed: ${result.loadError} | (${phase.expected}) | | | ${memory} ✗ |`
  const statuses: Record<string, number> = {}
  for (const client of load.clients) for (const [status, n] of Object.entries(client.statuses)) statuses[status] = (statuses[status] ?? 0) + n
  const complete = load.clients.filter(phase.complete).length
  const ok = complete === load.clients.length && peak <= TARGET_RSS_MB && !result.killedAtMb
  const received = [...new Set(load.clients.map(phase.received))].join('; ')
  const slowest = Math.max(...load.clients.map((client) => client.seconds))
  const largest = Math.max(...load.clients.map((client) => client.largestResponseBytes))
  const cells = [
    phase.title,
    Object.entries(statuses)
      .map(([status, n]) => `${n}× ${status}`)
      .join(', '),
    `${complete} of ${load.clients.length} complete (${phase.expected}); ${received}`,
    `${slowest.toFixed(1)} s`,
    mib(largest),
    `${memory} ${ok ? '✓' : '✗'}`,
  ]
  return `| ${cells.join(' | ')} |`
}

function clientRows(result: PhaseResult): string[] {
  return (result.load?.clients ?? []).map((client, k) => {
    const cells = [
      `${result.phase.key} #${k + 1}`,
      statusText(client),
      result.phase.received(client),
      mib(client.bytes),
      `${client.seconds.toFixed(1)} s (slowest request ${client.slowestRequestSeconds.toFixed(1)} s)`,
      (client.firstFailure ?? client.stopped ?? '').replaceAll('|', '\\|').slice(0, 200),
    ]
    return `| ${cells.join(' | ')} |`
  })
}

const scenario: Scenario = {
  name: 'query-memory',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const clients = context.quick ? 2 : 4
    const dataset = await prepareQueryMemoryDataset((done, total) => context.progress('query-memory: loading', done, total))
    const code = await queryCode(context.workDir)
    const results: PhaseResult[] = []
    const list = phases(dataset, clients)
    for (const [index, phase] of list.entries()) {
      context.progress('query-memory: phases', index, list.length)
      results.push(await runPhase(phase, dataset, code.root))
    }
    context.progress('query-memory: phases', list.length, list.length)

    const peakOf = (result: PhaseResult) => (result.killedAtMb ? result.killedAtMb : Math.max(result.peakMb, result.hwmMb ?? 0))
    const met = (result: PhaseResult) =>
      !!result.load && result.load.clients.every(result.phase.complete) && !result.killedAtMb && peakOf(result) <= TARGET_RSS_MB
    const problems = results.flatMap((result) => Object.entries(result.problems).map(([key, n]) => `${result.phase.key}: ${n}× ${key}`))
    const hexLogs = Math.ceil(BIG_LOGS / 2)
    const markdown = [
      `${fmt(BIG_LOGS)} logs of ${fmt(MESSAGE_BYTES)} B under service \`${BIG_SERVICE}\` in the last hour (${hexLogs} random hex, which TOAST stores whole, and ${BIG_LOGS - hexLogs} stack dumps, which it compresses): ${mib(dataset.messageBytes)} of message text, ${mib(dataset.storedMessageBytes)} as stored; ${fmt(dataset.traceLogs)} logs in one trace; ${fmt(dataset.smallLogs)} small logs of other services; the logs table with its indexes ${mib(dataset.tableBytes)}. Inserted with SQL into \`logstream_bench_query_memory\` (kept between runs${dataset.loadSeconds ? `; loaded in ${dataset.loadSeconds} s this run` : ''}).`,
      '',
      `A real \`bun src/query.ts\` (${code.text}) with default settings (\`DB_POOL_MAX\` 25, \`QUERY_TIMEOUT_MS\` 10000), a fresh process for each phase; its VmRSS sampled from /proc every 50 ms until ${TAIL_MS / 1000} s after the clients finish (VmHWM, the kernel's exact peak, in brackets). Idle after start: ${results.map((result) => `${result.idleMb ?? '?'}`).join(' / ')} MB. ${clients} concurrent clients per phase in a separate process (bench/query-memory-load.ts) that reads each answer as it streams and holds none (its own peak RSS: ${results.map((result) => result.clientPeakMb).join(' / ')} MB); JSON answers are followed by \`next_cursor\` while \`has_more\` is true. Each request has ${REQUEST_TIMEOUT_MS / 1000} s; the bench kills a query process that reaches ${fmt(KILL_RSS_MB)} MB (the machine's safety).`,
      '',
      `| phase | answers | received per client | slowest client | largest answer | query peak RSS (VmHWM), target ≤ ${TARGET_RSS_MB} MB |`,
      '| --- | --- | --- | ---: | ---: | --- |',
      ...results.map(phaseRow),
      '',
      '| client | answers | received | bytes | time | first failure |',
      '| --- | --- | --- | ---: | --- | --- |',
      ...results.flatMap(clientRows),
      '',
      `Query process exits after SIGTERM: ${results.map((result) => (result.killedAtMb ? 'killed by the bench' : result.stop.killed ? `did not exit in 10 s (SIGKILL)` : `${result.stop.seconds.toFixed(1)} s, code ${result.stop.code}`)).join(' / ')}.`,
      problems.length ? `Warnings and errors the query process logged: ${problems.join('; ')}.` : 'The query process logged no warning or error.',
      '',
      `Target (issue 13: every answer 200 and complete, query RSS ≤ ${TARGET_RSS_MB} MB): ${results.map((result) => `${result.phase.key} ${met(result) ? '✓' : '✗'}`).join(', ')}; ${results.every(met) ? 'met' : '**not met**'}.`,
    ].join('\n')

    const metrics: Record<string, number> = { bigLogs: BIG_LOGS, messageBytes: MESSAGE_BYTES }
    for (const result of results) {
      const key = result.phase.key
      metrics[`${key}PeakRssMb`] = peakOf(result)
      metrics[`${key}CompleteClients`] = result.load?.clients.filter(result.phase.complete).length ?? 0
      metrics[`${key}Non200`] =
        result.load?.clients.reduce(
          (sum, c) =>
            sum +
            Object.entries(c.statuses)
              .filter(([s]) => s !== '200')
              .reduce((n, [, k]) => n + k, 0),
          0,
        ) ?? -1
      metrics[`${key}SlowestClientSeconds`] = Number(Math.max(0, ...(result.load?.clients.map((c) => c.seconds) ?? [])).toFixed(1))
    }
    return { title: 'Query API memory with large logs', markdown, metrics }
  },
}

export default scenario
