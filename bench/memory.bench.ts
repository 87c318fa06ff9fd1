/**
 * Memory under large logs, and clean shutdown: the real ingest and consume services as separate processes, fed
 * ~900 kB logs in requests as large as the ingest service allows (config `grpc.maxRequestBytes`).
 *
 *   1. consumer load: 8 clients for 20 s; the consumer's and ingest's RSS sampled from /proc every 150 ms; then
 *      SIGTERM to the consumer once half of the acknowledged logs are stored (timed until it exits), a second
 *      consumer that stores the rest, and the wait until every acknowledged log is stored (bounded, and a
 *      timeout is reported as one).
 *   2. ingest load: a fresh ingest process, 32 clients for 25 s plus a few clients sending 15 MB requests (above
 *      the limit: how and how fast are they refused?); ingest RSS; SIGTERM while the clients still have requests
 *      in flight, timed until it exits.
 *
 * Targets: ingest ≤ 400 MB under the 32 clients; consumer ≤ 400 MB under the 8 clients with everything
 * acknowledged stored; each exits 0 within 10 s of SIGTERM. A scenario measures; it never asserts.
 */

import { Admin } from '@platformatic/kafka'
import { forEachLine, freePort, type Service, type ServiceName, spawnService } from '../scripts/services.ts'
import { loadConfig } from '../src/lib/config.ts'
import type { Sql } from '../src/lib/db.ts'
import { freshBenchDatabase } from './bench-database.ts'
import type { LargeLoadOptions, LargeLoadSummary, Refusals } from './large-load.ts'
import { memoryMb, rssSampler } from './process-memory.ts'
import type { BenchContext, Scenario } from './scenario.ts'

const MB = 1024 * 1024
const TARGET_RSS_MB = 400
const TARGET_EXIT_S = 10
/** How long a process gets after SIGTERM before it is killed (and reported as not having exited). */
const EXIT_LIMIT_MS = 30_000
// One per run, so two runs at once (or a test beside one) never drop each other's rows.
const DATABASE = `logstream_bench_memory_${process.pid}`

/** Sends SIGTERM and waits for the exit; kills the process if it has not exited after EXIT_LIMIT_MS. */
async function timedStop(service: Service): Promise<{ seconds: number; code: number | undefined; before?: number }> {
  if (service.exitCode !== null) return { seconds: 0, code: service.exitCode, before: service.exitCode }
  const began = performance.now()
  process.kill(service.pid, 'SIGTERM')
  const code = await Promise.race([service.exited, Bun.sleep(EXIT_LIMIT_MS).then(() => undefined)])
  const seconds = (performance.now() - began) / 1000
  if (code === undefined) await service.stop('SIGKILL')
  return { seconds, code }
}

/** Runs bench/large-load.ts in its own process; `onStart` when its load begins. */
async function runLargeLoad(options: LargeLoadOptions, onStart: () => void): Promise<LargeLoadSummary> {
  const child = Bun.spawn([process.execPath, `${import.meta.dir}/large-load.ts`, JSON.stringify(options)], { stdout: 'pipe', stderr: 'inherit' })
  let summary: LargeLoadSummary | undefined
  await forEachLine(child.stdout, (line) => {
    const parsed = JSON.parse(line) as { type: 'started' } | LargeLoadSummary
    if (parsed.type === 'started') onStart()
    else summary = parsed
  })
  if ((await child.exited) !== 0 || !summary) throw new Error('large-load generator failed')
  return summary
}

async function rowCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from logs`
  return row!.n
}

/** Polls until `expected` rows are stored or `timeoutMs` passes; the count reached either way. */
async function waitForRows(sql: Sql, expected: number, timeoutMs: number, progress: (n: number) => void): Promise<{ stored: number; ms: number }> {
  const began = Date.now()
  let stored = await rowCount(sql)
  while (stored < expected && Date.now() - began < timeoutMs) {
    progress(stored)
    await Bun.sleep(500)
    stored = await rowCount(sql)
  }
  progress(stored)
  return { stored, ms: Date.now() - began }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MiB`
const versus = (value: number, target: number) => (value <= target ? '✓' : '✗')

function refusalText(refusals: Refusals): string {
  const entries = Object.entries(refusals.byStatus)
  if (entries.length === 0) return 'none'
  return entries.map(([key, n]) => `${fmt(n)}× ${key} ("${refusals.examples[key]?.replaceAll('|', '\\|')}")`).join('; ')
}

function exitText(stop: { seconds: number; code: number | undefined; before?: number }): string {
  if (stop.before !== undefined) return `had already exited (code ${stop.before}) before SIGTERM`
  return stop.code === undefined ? `did not exit within ${EXIT_LIMIT_MS / 1000} s (killed)` : `${stop.seconds.toFixed(2)} s, exit code ${stop.code}`
}

const scenario: Scenario = {
  name: 'memory',
  async run(context: BenchContext) {
    const base = loadConfig()
    const maxRequestBytes = base.grpc.maxRequestBytes
    const entryBytes = 900_000
    const consumerPhase = { workers: 8, seconds: context.quick ? 6 : 20 }
    const ingestPhase = { workers: 32, seconds: context.quick ? 8 : 25, oversizeWorkers: 3, oversizeBytes: 15_000_000 }
    const drainTimeoutMs = context.quick ? 60_000 : 180_000

    const id = Date.now().toString(36)
    const topics = { consumer: `bench.memory.${id}`, ingest: `bench.memory.ingest.${id}`, dlq: `bench.memory.dlq.${id}` }
    const group = `bench-memory-${id}`
    const database = await freshBenchDatabase(base.databaseUrl, DATABASE)
    const { sql } = database
    const admin = new Admin({ clientId: 'bench-memory', bootstrapBrokers: base.kafka.brokers })
    // Short retention and small segments: these topics take GBs in seconds. Deleted at the end of the run anyway.
    const topicConfigs = [
      { name: 'retention.ms', value: String(15 * 60_000) },
      { name: 'segment.bytes', value: String(64 * MB) },
      { name: 'max.message.bytes', value: String(8 * MB) },
    ]
    await admin.createTopics({ topics: [topics.consumer, topics.ingest], partitions: base.kafka.partitions, replicas: -1, configs: topicConfigs })
    await admin.createTopics({ topics: [topics.dlq], partitions: 1, replicas: -1, configs: topicConfigs })

    const errors: string[] = []
    let lastStats: Record<string, unknown> | undefined
    const started: Service[] = []
    const start = (name: ServiceName, topic: string) => {
      let ready: () => void = () => {}
      const readyPromise = new Promise<void>((resolve) => {
        ready = resolve
      })
      const env = {
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: String(freePort()),
        OTLP_GRPC_PORT: '0',
        INGEST_HTTP_PORT: '0',
        CONSUME_HTTP_PORT: '0',
        KAFKA_TOPIC: topic,
        KAFKA_DLQ_TOPIC: topics.dlq,
        KAFKA_CONSUMER_GROUP: group,
        DATABASE_URL: database.url,
        CONSUME_STATS_INTERVAL_MS: '2000',
      }
      const service = spawnService(name, {
        env,
        onLine: (line) => {
          if (line.includes('"level":"error"')) errors.push(`${name}: ${line.slice(0, 400)}`)
          if (line.includes('"ingest.listening"') || line.includes('"kafka.consuming"') || line.includes('"consume.started"')) ready()
          if (line.includes('"consume.stats"')) lastStats = JSON.parse(line)
        },
      })
      started.push(service)
      // Ready when it says so; after 30 s we go on regardless (the load generator waits for the port itself).
      const whenReady = Promise.race([readyPromise.then(() => true), service.exited.then(() => false), Bun.sleep(30_000).then(() => false)])
      return { service, target: `127.0.0.1:${env.GRPC_PORT}`, whenReady }
    }

    try {
      // 1. Consumer load.
      const ingest1 = start('ingest', topics.consumer)
      const consume = start('consume', topics.consumer)
      const readiness = await Promise.all([ingest1.whenReady, consume.whenReady])
      const consumeRss = rssSampler(consume.service.pid, { intervalMs: 150 })
      const ingest1Rss = rssSampler(ingest1.service.pid, { intervalMs: 150 })
      let consumeLoadPeak = 0
      context.progress('memory: consumer load', 0, consumerPhase.seconds)
      const load1 = await runLargeLoad(
        {
          target: ingest1.target,
          seconds: consumerPhase.seconds,
          workers: consumerPhase.workers,
          maxRequestBytes,
          entryBytes,
          oversizeWorkers: 0,
          oversizeBytes: 0,
        },
        () => {},
      )
      consumeLoadPeak = consumeRss.peakMb
      context.progress('memory: consumer load', consumerPhase.seconds, consumerPhase.seconds)
      const stored = (n: number) => context.progress('memory: rows stored', n, load1.acceptedLogs)
      // SIGTERM in the middle of the backlog, with batches of large logs in hand: the consumer must exit within
      // the target and lose nothing, so a second consumer then stores the rest.
      const midway = await waitForRows(sql, Math.ceil(load1.acceptedLogs / 2), drainTimeoutMs, stored)
      const firstPeaks = { ...consumeRss.stop(), hwm: memoryMb(consume.service.pid, 'VmHWM') }
      const consumeStop = await timedStop(consume.service)
      const consume2 = start('consume', topics.consumer)
      await consume2.whenReady
      const consume2Rss = rssSampler(consume2.service.pid, { intervalMs: 150 })
      const drain = await waitForRows(sql, load1.acceptedLogs, drainTimeoutMs, stored)
      if (drain.stored < load1.acceptedLogs) process.stderr.write('\n')
      const secondPeaks = { ...consume2Rss.stop(), hwm: memoryMb(consume2.service.pid, 'VmHWM') }
      const consumePeaks = { peakMb: Math.max(firstPeaks.peakMb, secondPeaks.peakMb), hwm: Math.max(firstPeaks.hwm ?? 0, secondPeaks.hwm ?? 0) || undefined }
      const ingest1Peaks = { ...ingest1Rss.stop(), hwm: memoryMb(ingest1.service.pid, 'VmHWM') }
      const consume2Stop = await timedStop(consume2.service)
      const ingest1Stop = await timedStop(ingest1.service)
      const deadLetters = typeof lastStats?.deadLetters === 'number' ? lastStats.deadLetters : undefined
      await admin.deleteTopics({ topics: [topics.consumer] }).catch(() => {})

      // 2. Ingest load, on a fresh process and topic (nothing consumes it).
      const ingest2 = start('ingest', topics.ingest)
      const ingest2Ready = await ingest2.whenReady
      const ingest2Rss = rssSampler(ingest2.service.pid, { intervalMs: 150 })
      let sigterm: ReturnType<typeof timedStop> | undefined
      let loadPeakIngest = 0
      let loadHwmIngest: number | undefined
      context.progress('memory: ingest load', 0, ingestPhase.seconds)
      const load2 = await runLargeLoad({ target: ingest2.target, maxRequestBytes, entryBytes, ...ingestPhase }, () => {
        // SIGTERM as the load ends, while the clients still have requests in flight.
        setTimeout(() => {
          loadPeakIngest = ingest2Rss.peakMb
          loadHwmIngest = memoryMb(ingest2.service.pid, 'VmHWM')
          sigterm = timedStop(ingest2.service)
        }, ingestPhase.seconds * 1000)
      })
      context.progress('memory: ingest load', ingestPhase.seconds, ingestPhase.seconds)
      while (!sigterm) await Bun.sleep(50)
      const ingest2Stop = await sigterm
      const ingest2Peaks = ingest2Rss.stop()

      const consumerOk = consumePeaks.peakMb <= TARGET_RSS_MB && drain.stored >= load1.acceptedLogs
      const markdown = [
        `Real \`bun src/ingest.ts\` and \`bun src/consume.ts\` processes with default settings; logs of ${fmt(entryBytes)} B (a stack dump) from a separate generator process (bench/large-load.ts), one connection per client, each sending its next request when the last is answered. The ingest limit \`grpc.maxRequestBytes\` is ${fmt(maxRequestBytes)} B (${mb(maxRequestBytes)}), so a request carries ${load1.entriesPerRequest} logs (${mb(load1.requestBytes)}). RSS is VmRSS from /proc sampled every 150 ms (VmHWM, the kernel's exact peak, beside it).`,
        readiness.every(Boolean) && ingest2Ready ? '' : '\nA service did not report itself ready within 30 s; the load started anyway.\n',
        '',
        `**1. Consumer: ${consumerPhase.workers} clients for ${consumerPhase.seconds} s, then until every acknowledged log is stored**`,
        '',
        '| measure | result | target |',
        '| --- | --- | --- |',
        `| logs acknowledged (OK) | ${fmt(load1.acceptedLogs)} in ${fmt(load1.acceptedRequests)} requests (${mb((load1.acceptedLogs * entryBytes) / load1.seconds)}/s); ack p50 / p99 ${load1.latencyMs.p50} / ${load1.latencyMs.p99} ms | |`,
        `| requests refused | ${refusalText(load1.refusals)} | |`,
        `| logs stored vs acknowledged | ${fmt(drain.stored)} vs ${fmt(load1.acceptedLogs)}: ${drain.stored >= load1.acceptedLogs ? `all stored ${(drain.ms / 1000).toFixed(1)} s after the load ended` : `**wait timed out after ${drainTimeoutMs / 1000} s**, ${fmt(load1.acceptedLogs - drain.stored)} not stored`}${deadLetters ? `; ${fmt(deadLetters)} dead-lettered` : ''} | all stored |`,
        `| consumer peak RSS during the load | ${consumeLoadPeak} MB | |`,
        `| consumer peak RSS, load and drain, both consumers (VmHWM) | **${consumePeaks.peakMb} MB** (${consumePeaks.hwm ?? '?'} MB) ${versus(consumePeaks.peakMb, TARGET_RSS_MB)} | ≤ ${TARGET_RSS_MB} MB |`,
        `| ingest peak RSS (VmHWM) | ${ingest1Peaks.peakMb} MB (${ingest1Peaks.hwm ?? '?'} MB) | ≤ ${TARGET_RSS_MB} MB |`,
        `| consumer SIGTERM → exit, sent with ${fmt(load1.acceptedLogs - midway.stored)} of ${fmt(load1.acceptedLogs)} logs still to store | **${exitText(consumeStop)}** ${consumeStop.code === 0 && consumeStop.before === undefined && consumeStop.seconds <= TARGET_EXIT_S ? '✓' : '✗'} | ≤ ${TARGET_EXIT_S} s, exit 0 |`,
        `| a second consumer, started after that, stores the rest; its SIGTERM → exit (idle) | ${exitText(consume2Stop)} | ≤ ${TARGET_EXIT_S} s, exit 0 |`,
        `| ingest SIGTERM → exit (idle) | ${exitText(ingest1Stop)} | ≤ ${TARGET_EXIT_S} s, exit 0 |`,
        '',
        `**2. Ingest: ${ingestPhase.workers} clients for ${ingestPhase.seconds} s, plus ${ingestPhase.oversizeWorkers} clients sending ${mb(load2.oversize.requestBytes)} requests (${load2.oversize.entriesPerRequest} logs)**`,
        '',
        '| measure | result | target |',
        '| --- | --- | --- |',
        `| logs acknowledged (OK) | ${fmt(load2.acceptedLogs)} in ${fmt(load2.acceptedRequests)} of ${fmt(load2.requests)} requests (${mb((load2.acceptedLogs * entryBytes) / load2.seconds)}/s); ack p50 / p99 ${load2.latencyMs.p50} / ${load2.latencyMs.p99} ms | |`,
        `| requests within the limit refused | ${refusalText(load2.refusals)} | |`,
        `| ${mb(load2.oversize.requestBytes)} requests | ${fmt(load2.oversize.requests)} sent, ${fmt(load2.oversize.acceptedLogs)} logs accepted; refused: ${refusalText(load2.oversize.refusals)}; answered in p50 ${load2.oversize.msToAnswer.p50} ms, max ${load2.oversize.msToAnswer.max} ms | refused early |`,
        `| ingest peak RSS under the load (VmHWM) | **${loadPeakIngest} MB** (${loadHwmIngest ?? '?'} MB) ${versus(loadPeakIngest, TARGET_RSS_MB)} | ≤ ${TARGET_RSS_MB} MB |`,
        `| ingest peak RSS including shutdown | ${ingest2Peaks.peakMb} MB | |`,
        `| ingest SIGTERM → exit, sent at ${ingestPhase.seconds} s with requests in flight | **${exitText(ingest2Stop)}** ${ingest2Stop.code === 0 && ingest2Stop.before === undefined && ingest2Stop.seconds <= TARGET_EXIT_S ? '✓' : '✗'} | ≤ ${TARGET_EXIT_S} s, exit 0 |`,
        '',
        `Consumer target (≤ ${TARGET_RSS_MB} MB with everything acknowledged stored): ${consumerOk ? 'met' : '**not met**'}. Ingest target (≤ ${TARGET_RSS_MB} MB under ${ingestPhase.workers} clients): ${loadPeakIngest <= TARGET_RSS_MB ? 'met' : '**not met**'}.`,
        errors.length ? `\nError lines logged by the services (first 5 of ${errors.length}):\n\n\`\`\`\n${errors.slice(0, 5).join('\n')}\n\`\`\`` : '',
      ].join('\n')

      return {
        title: 'Memory under large logs, and shutdown',
        markdown,
        metrics: {
          maxRequestBytes,
          consumerLoadAckedLogs: load1.acceptedLogs,
          consumerLoadStoredLogs: drain.stored,
          consumerPeakRssMb: consumePeaks.peakMb,
          consumerSigtermExitSeconds: consumeStop.code === undefined ? -1 : Number(consumeStop.seconds.toFixed(2)),
          ingestPeakRssConsumerLoadMb: ingest1Peaks.peakMb,
          ingestPeakRssMb: loadPeakIngest,
          ingestAckedLogs: load2.acceptedLogs,
          ingestSigtermExitSeconds: ingest2Stop.code === undefined ? -1 : Number(ingest2Stop.seconds.toFixed(2)),
          oversizeRequests: load2.oversize.requests,
          oversizeAcceptedLogs: load2.oversize.acceptedLogs,
        },
      }
    } finally {
      for (const service of started) if (service.exitCode === null) await service.stop('SIGKILL')
      await admin.deleteTopics({ topics: [topics.consumer, topics.ingest, topics.dlq] }).catch(() => {})
      await admin.deleteGroups({ groups: [group] }).catch(() => {})
      await admin.close()
      await database.drop()
    }
  },
}

export default scenario
