/**
 * Live tail under load: real ingest, consume and query processes (separate Bun processes, default
 * settings), 50 GET /tail streams held by a separate client process (bench/tail-clients.ts), and a
 * separate load generator sending 10,000 logs/s over gRPC, then a lighter 3,000 logs/s. Every request's
 * first log carries a fresh trace id; its latency is the time from the generator's ingest acknowledgement
 * to its arrival at each stream whose filters match it. Also: logs missing, dropped or received twice,
 * the query process's peak RSS (VmHWM from /proc), each process's CPU. Targets (issue 14): p99 ≤ 2 s at
 * 10k logs/s with 50 streams, query RSS ≤ 300 MB. BENCH_TAIL_SECONDS sets the first phase's length,
 * BENCH_TAIL_STREAMS the number of streams (0: the same load with nobody tailing).
 */

import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { Admin } from '@platformatic/kafka'
import { forEachLine, freePort, type Service, type ServiceName, spawnService } from '../scripts/services.ts'
import { loadConfig } from '../src/lib/config.ts'
import { parseSearch, searchConditions, searchInput } from '../src/lib/log-search.ts'
import { freshBenchDatabase } from './bench-database.ts'
import { freshBenchTopics } from './bench-topics.ts'
import { type IngestProcess, startIngestProcess } from './ingest-process.ts'
import { type LoadSummary, runLoadGenerator } from './load-generator.ts'
import { percentile } from './percentile.ts'
import { memoryMb, rssSampler } from './process-memory.ts'
import type { BenchContext, Scenario } from './scenario.ts'
import type { ClientSummary, Receipt } from './tail-clients.ts'

const DATABASE = 'logstream_bench_tail'
const RATE = 10_000
/** Below what this machine stores end to end with everything else running, to see the tail's own share. */
const LIGHT_RATE = 3000
/** Open-loop clients: enough that slow acknowledgements do not hold the rate down. */
const WORKERS = 32
/** Longest wait after a phase for its logs to be stored and streamed. */
const DRAIN_LIMIT_MS = 60_000
const TARGET_P99_MS = 2000
const TARGET_RSS_MB = 300

/**
 * 50 streams as people would hold them: a few with no filter, most on a service, errors, a word or a
 * phrase, an attribute or a host. The generator's logs (load-generator.ts entry) cover 8 services, 7
 * levels, 6 message kinds, 12 hosts and two regions, so each filter takes a share of the 10k logs/s.
 */
const ALL_FILTERS = [
  ...Array.from({ length: 4 }, () => ''),
  ...['api-gateway', 'checkout', 'payments', 'search', 'auth', 'inventory', 'email', 'ledger'].flatMap((service) => [
    `service=${service}`,
    `service=${service}&level=info`,
  ]),
  ...Array.from({ length: 6 }, () => 'level=error'),
  ...['checkout', 'payments', 'auth', 'search', 'email', 'ledger'].map((service) => `service=${service}&level=warn,error`),
  ...Array.from({ length: 6 }, () => 'q=timeout'),
  ...Array.from({ length: 4 }, () => 'q="payment authorised"'),
  ...Array.from({ length: 4 }, () => 'attr.region=eu-west-1&level=error'),
  ...['host-03', 'host-07', 'host-11', 'host-00'].map((host) => `host=${host}`),
]
/** BENCH_TAIL_STREAMS=n keeps the first n (0: the same load with nobody tailing, for comparison). */
const FILTERS = ALL_FILTERS.slice(0, Number(process.env.BENCH_TAIL_STREAMS ?? ALL_FILTERS.length))

/** The clients process: resolves once every stream has answered; `finish` stops it and returns what it saw. */
async function startClients(url: string) {
  const child = Bun.spawn([process.execPath, `${import.meta.dir}/tail-clients.ts`, JSON.stringify({ url, filters: FILTERS })], {
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const receipts: Receipt[] = []
  const clients: ClientSummary[] = []
  let ready: () => void = () => {}
  const isReady = new Promise<void>((resolve) => {
    ready = resolve
  })
  const reading = forEachLine(child.stdout, (line) => {
    if (line.trim() === '') return
    const parsed = JSON.parse(line) as { type: 'ready' } | Receipt | ClientSummary
    if (parsed.type === 'ready') ready()
    else if (parsed.type === 'receipt') receipts.push(parsed)
    else clients.push(parsed)
  })
  await Promise.race([isReady, child.exited.then(() => Promise.reject(new Error('tail clients exited before every stream answered')))])
  return {
    pid: child.pid,
    receipts,
    async finish() {
      child.kill('SIGTERM')
      await reading
      await child.exited
      return { receipts, clients }
    },
  }
}

const CLOCK_TICK_MS = 10

/** utime + stime of a process in milliseconds, 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS
  } catch {
    return 0
  }
}

/** CPU of every process whose command is `comm` (e.g. postgres: all its backends), summed. */
function cpuMsOf(comm: string): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) total += cpuMs(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return total
}

/** Busy and total milliseconds of the whole machine (all cores) since boot, from /proc/stat. */
function machineMs(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = fields.reduce((sum, value) => sum + value, 0)
  return { busy: (total - fields[3]! - fields[4]!) * CLOCK_TICK_MS, total: total * CLOCK_TICK_MS }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : `${fmt(n)} ms`)

/** What one phase (a rate for some seconds) measured. */
interface Phase {
  rate: number
  seconds: number
  load: LoadSummary
  /** Sampled trace id -> Date.now() of its ingest acknowledgement. */
  samples: Map<string, number>
  cpu: string
  machineBusy: number
  /** ack -> stream per expected (stream, log) pair, ascending. */
  latencies: number[]
  /** ack -> the first stream to get it, per sampled log. */
  firsts: number[]
  /** ack -> ingested_at (the consumer's insert transaction began), per sampled log. */
  storedLags: number[]
  expected: number
  missing: number
  unexpected: number
}

const scenario: Scenario = {
  name: 'tail',
  async run(context: BenchContext) {
    const seconds = Number(process.env.BENCH_TAIL_SECONDS ?? (context.quick ? 15 : 60))
    const lightRate = LIGHT_RATE
    const lightSeconds = context.quick ? 10 : 20
    const warmupSeconds = context.quick ? 3 : 5
    const base = loadConfig()
    const id = Date.now().toString(36)
    const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]

    const database = await freshBenchDatabase(base.databaseUrl, DATABASE)
    const { sql } = database
    const admin = new Admin({ clientId: 'bench-tail', bootstrapBrokers: base.kafka.brokers })
    const { topic, dlq } = await freshBenchTopics(admin, 'tail', id, base.kafka.partitions)

    const httpPort = freePort()
    const env = {
      HTTP_PORT: String(httpPort),
      HTTP_HOST: '127.0.0.1',
      CONSUME_HTTP_PORT: '0',
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlq,
      KAFKA_CONSUMER_GROUP: `bench-tail-${id}`,
      DATABASE_URL: database.url,
      CONSUME_STATS_INTERVAL_MS: '600000',
    }
    const errors: string[] = []
    let tailListening = false
    const onLine = (name: ServiceName) => (line: string) => {
      if (line.includes('"level":"error"')) errors.push(`${name}: ${line}`)
      if (line.includes('"event":"tail.listening"')) tailListening = true
    }
    const services: Partial<Record<ServiceName, Service>> = {}
    let ingest: IngestProcess | undefined
    let clients: Awaited<ReturnType<typeof startClients>> | undefined
    const exitCodes: number[] = []
    try {
      services.consume = spawnService('consume', { env, onLine: onLine('consume') })
      services.query = spawnService('query', { env, onLine: onLine('query') })
      ingest = await startIngestProcess({ KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: dlq })
      const target = ingest.grpc
      const queryPid = services.query.pid
      const url = `http://127.0.0.1:${httpPort}`
      const deadline = Date.now() + 30_000
      const healthy = () =>
        fetch(`${url}/health`)
          .then((response) => response.ok)
          .catch(() => false)
      while (!tailListening || !(await healthy())) {
        if (Date.now() > deadline) throw new Error('query service did not come up')
        await Bun.sleep(100)
      }
      clients = await startClients(url)
      const running = clients

      // Warm-up: JIT, connections, the first partitions' pages; not measured (its one sampled log is left out).
      const warmup = new Set<string>()
      await runLoadGenerator({ target, workers: WORKERS, seconds: warmupSeconds, rate: RATE, entriesPerRequest: 100, sampleEvery: 1_000_000_000 }, (line) => {
        if (line.type === 'sample') warmup.add(line.traceId)
      })

      const cpuPids = { query: queryPid, consume: services.consume.pid, ingest: ingest.pid, 'tail clients': running.pid }
      const cpuNow = (): Record<string, number> => ({
        ...Object.fromEntries(Object.entries(cpuPids).map(([name, pid]) => [name, cpuMs(pid)])),
        postgres: cpuMsOf('postgres'),
        kafka: cpuMsOf('java'),
      })

      /** One phase: `rate` logs/s for `phaseSeconds`, then a bounded wait for every sampled log at every stream that should get it. */
      const phase = async (rate: number, phaseSeconds: number, label: string): Promise<Phase> => {
        const samples = new Map<string, number>()
        const cpuBefore = cpuNow()
        const machineBefore = machineMs()
        const load = await runLoadGenerator({ target, workers: WORKERS, seconds: phaseSeconds, rate, entriesPerRequest: 100, sampleEvery: 1 }, (line) => {
          if (line.type === 'sample') samples.set(line.traceId, line.ackedAt)
          else context.progress(label, Math.min(line.second, phaseSeconds), phaseSeconds)
        })
        const machineAfter = machineMs()
        const cpuAfter = cpuNow()
        const cpu = Object.entries(cpuAfter)
          .map(([name, after]) => `${name} ${((after - cpuBefore[name]!) / (load.seconds * 1000)).toFixed(2)}`)
          .join(', ')
        const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)

        const traces = [...samples.keys()]
        const waitStarted = Date.now()
        const storedCount = async () => (await sql<{ n: number }[]>`select count(*)::int as n from logs where trace_id = any(${traces}::text[])`)[0]!.n
        while ((await storedCount()) < traces.length && Date.now() - waitStarted < DRAIN_LIMIT_MS) await Bun.sleep(500)
        // Every sampled log is expected at each stream whose filters match it, as /query's conditions decide.
        const expected = new Map<number, Set<string>>()
        let expectedPairs = 0
        for (const [client, filter] of FILTERS.entries()) {
          const search = parseSearch(searchInput(new URLSearchParams(filter)))
          const rows = await sql<{ trace_id: string }[]>`select trace_id from logs where trace_id = any(${traces}::text[]) and ${searchConditions(sql, search)}`
          expected.set(client, new Set(rows.map((row) => row.trace_id)))
          expectedPairs += rows.length
        }
        const arrived = () => running.receipts.filter((receipt) => samples.has(receipt.trace)).length
        while (arrived() < expectedPairs && Date.now() - waitStarted < DRAIN_LIMIT_MS) await Bun.sleep(250)

        const latencies: number[] = []
        const firstArrival = new Map<string, number>()
        const seen = new Set<string>()
        let unexpected = 0
        for (const receipt of running.receipts) {
          const ackedAt = samples.get(receipt.trace)
          if (ackedAt === undefined) continue
          const key = `${receipt.client} ${receipt.trace}`
          if (!expected.get(receipt.client)?.has(receipt.trace) || seen.has(key)) {
            unexpected++
            continue
          }
          seen.add(key)
          latencies.push(receipt.at - ackedAt)
          firstArrival.set(receipt.trace, Math.min(firstArrival.get(receipt.trace) ?? Number.POSITIVE_INFINITY, receipt.at - ackedAt))
        }
        const storedLags = (
          await sql<{ trace_id: string; at: number }[]>`
            select trace_id, (extract(epoch from ingested_at) * 1000)::float8 as at from logs where trace_id = any(${traces}::text[])`
        ).map((row) => row.at - samples.get(row.trace_id)!)
        const ascending = (values: number[]) => values.sort((a, b) => a - b)
        return {
          rate,
          seconds: phaseSeconds,
          load,
          samples,
          cpu,
          machineBusy,
          latencies: ascending(latencies),
          firsts: ascending([...firstArrival.values()]),
          storedLags: ascending(storedLags),
          expected: expectedPairs,
          missing: expectedPairs - latencies.length,
          unexpected,
        }
      }

      const rss = rssSampler(queryPid, { intervalMs: 250 })
      const atTarget = await phase(RATE, seconds, `tail: ${fmt(RATE)} logs/s`)
      const light = await phase(lightRate, lightSeconds, `tail: ${fmt(lightRate)} logs/s`)
      const peakRss = Math.max(memoryMb(queryPid, 'VmHWM') ?? 0, rss.stop().peakMb)
      const { clients: summaries } = await running.finish()
      clients = undefined

      exitCodes.push(await services.query.stop())
      exitCodes.push(await services.consume.stop())
      exitCodes.push(await ingest.stop())
      delete services.query
      delete services.consume
      ingest = undefined

      const dropped = summaries.reduce((sum, client) => sum + client.dropped, 0)
      const gaps = summaries.reduce((sum, client) => sum + client.gaps, 0)
      const delivered = summaries.reduce((sum, client) => sum + client.logs, 0)
      const ended = summaries.filter((client) => client.ended !== undefined)
      const refused = summaries.filter((client) => client.status !== 200)
      const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
      const verdict = (ok: boolean) => (ok ? '✓' : '✗')
      const row = (phase: Phase, target: boolean) => {
        const p = (values: number[], q: number) => percentile(values, q, Number.NaN)
        const p99 = p(phase.latencies, 99)
        return [
          `| **${fmt(phase.rate)} logs/s** for ${phase.seconds} s: accepted | ${fmt(phase.load.acceptedLogs / phase.load.seconds)} logs/s (${phase.load.failedRequests} failed requests; ack p50 / p99 ${phase.load.latencyMs.p50} / ${phase.load.latencyMs.p99} ms) | ${target ? fmt(phase.rate) : ''} |`,
          `| ack → received at a stream, every (stream, log) pair: p50 / p95 / p99 / max | ${ms(p(phase.latencies, 50))} / ${ms(p(phase.latencies, 95))} / ${ms(p99)} / ${ms(phase.latencies.at(-1) ?? Number.NaN)} | ${target ? `p99 ≤ ${fmt(TARGET_P99_MS)} ms ${verdict(p99 <= TARGET_P99_MS)}` : ''} |`,
          `| ack → first stream: p50 / p99 | ${ms(p(phase.firsts, 50))} / ${ms(p(phase.firsts, 99))} | |`,
          `| ack → the consumer's insert began (ingested_at; its commit, then the tail, come after): p50 / p99 | ${ms(p(phase.storedLags, 50))} / ${ms(p(phase.storedLags, 99))} | |`,
          `| pairs received / expected; missing; unexpected or twice | ${fmt(phase.latencies.length)} / ${fmt(phase.expected)}; ${fmt(phase.missing)}; ${fmt(phase.unexpected)} | all; 0; 0 |`,
          `| CPU, cores (user + system ÷ wall time; load generator not counted; postgres is every backend on the server) | ${phase.cpu}; machine ${(phase.machineBusy * 100).toFixed(0)} % busy | |`,
        ]
      }
      const markdown = [
        `Real ingest, consume and query processes (default settings); ${FILTERS.length} /tail streams held by a separate process (${FILTERS.filter((f) => f === '').length} unfiltered, the rest by service, level, q, attribute or host: bench/tail.bench.ts); a separate load generator, open loop, ${WORKERS} gRPC clients × 100-entry requests. Each request's first log carries a fresh trace id; its latency runs from the generator's ingest acknowledgement to its arrival at each stream whose filters match it (expected pairs from /query's own conditions). After a ${warmupSeconds} s warm-up: the target rate, then ${fmt(lightRate)} logs/s. Load average ${loadBefore} before, ${loadAfter} after (${cpus().length} cores, shared).`,
        '',
        '| measure | result | target |',
        '| --- | --- | --- |',
        ...row(atTarget, true),
        ...row(light, false),
        `| query process peak RSS (VmHWM) | ${fmt(peakRss)} MB | ≤ ${TARGET_RSS_MB} MB ${verdict(peakRss <= TARGET_RSS_MB)} |`,
        `| logs dropped for slow streams (event: dropped) / gap events | ${fmt(dropped)} / ${fmt(gaps)} | |`,
        `| events delivered to the ${FILTERS.length} streams | ${fmt(delivered)} | |`,
        `| streams refused / ended early | ${refused.length} / ${ended.length}${ended.length ? ` (${ended[0]!.ended})` : ''} | 0 / 0 |`,
        `| service exit codes after SIGTERM (query, consume, ingest) | ${exitCodes.join(', ')} | 0 |`,
        errors.length ? `\nError lines logged by services (first 5):\n\n\`\`\`\n${errors.slice(0, 5).join('\n')}\n\`\`\`` : '',
      ].join('\n')

      const pct = (values: number[], q: number) => percentile(values, q, 0)
      return {
        title: 'Live tail',
        markdown,
        metrics: {
          tailLatencyP50Ms: pct(atTarget.latencies, 50),
          tailLatencyP95Ms: pct(atTarget.latencies, 95),
          tailLatencyP99Ms: pct(atTarget.latencies, 99),
          tailLatencyMaxMs: atTarget.latencies.at(-1) ?? 0,
          tailLightLatencyP99Ms: pct(light.latencies, 99),
          tailPairsMissing: atTarget.missing + light.missing,
          tailDropped: dropped,
          tailGaps: gaps,
          peakRssQueryMb: peakRss,
          acceptedLogsPerSecond: Math.round(atTarget.load.acceptedLogs / atTarget.load.seconds),
        },
      }
    } finally {
      // Whatever failed, nothing this run started is left running.
      await clients?.finish().catch(() => {})
      for (const service of Object.values(services)) await service?.stop().catch(() => 0)
      await ingest?.stop().catch(() => 0)
      await admin.deleteTopics({ topics: [topic, dlq] }).catch(() => {})
      await admin.close()
      await database.drop()
    }
  },
}

export default scenario
