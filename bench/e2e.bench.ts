/**
 * End to end: a separate load-generator process sends 100-entry gRPC requests to the real ingest
 * service; the consumer writes to PostgreSQL; we measure accepted logs/s, the rate rows become
 * queryable, ack-to-queryable lag, ack latency below saturation, each service's peak RSS, and that a
 * consumer SIGKILLed mid-run loses and duplicates nothing.
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { Admin } from '@platformatic/kafka'
import { freePort, type Service, type ServiceName, spawnService } from '../scripts/services.ts'
import { encodeLogRecord } from '../src/lib/codec.ts'
import { loadConfig } from '../src/lib/config.ts'
import type { Sql } from '../src/lib/db.ts'
import { ensureTopics } from '../src/lib/kafka.ts'
import { freshBenchDatabase } from './bench-database.ts'
import { freshBenchTopics } from './bench-topics.ts'
import { asPendingRows, copyCeiling, sampleRecords } from './copy-ceiling.ts'
import { kafkaBrokerPid, kafkaLogDir } from './kafka-broker-process.ts'
import { topicDiskBytes } from './kafka-topic-bytes.ts'
import { type LoadSample, type LoadSummary, runLoadGenerator } from './load-generator.ts'
import { percentile } from './percentile.ts'
import { postmasterPid, watchPostgresCpu } from './postgres-cpu.ts'
import { logsTableBytes } from './postgres-table-bytes.ts'
import { processCpuSeconds, waitForIdle } from './process-cpu.ts'
import { runProducerPerformance } from './producer-performance.ts'
import type { BenchContext, Scenario } from './scenario.ts'
import { stageCostChart, stageCostMarkdown, stageCostMetrics } from './stage-cost.ts'
import { barChart, lineChart } from './svg-chart.ts'
import { sampleValueSizes } from './topic-sample.ts'

/** Peak resident set size in MB, from the kernel's high-water mark: exact, however short the peak was. */
function peakRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return Math.round(kb / 1024)
  } catch {
    return 0
  }
}

/**
 * Polls for sampled trace ids until each is visible through SQL; records ack -> visible lag. Samples still not
 * visible when `finish` gives up are counted as such, not dropped from the report unseen.
 */
function lagTracker(sql: Sql) {
  const pending = new Map<string, number>()
  const lags: number[] = []
  let running = true
  let gaveUp = false
  const loop = (async () => {
    while ((running || pending.size > 0) && !gaveUp) {
      if (pending.size > 0) {
        const ids = [...pending.keys()]
        const seen = await sql<{ trace_id: string }[]>`select distinct trace_id from logs where trace_id = any(${ids})`
        const now = Date.now()
        for (const { trace_id } of seen) {
          lags.push(now - pending.get(trace_id)!)
          pending.delete(trace_id)
        }
      }
      await Bun.sleep(25)
    }
  })()
  return {
    add: (sample: LoadSample) => pending.set(sample.traceId, sample.ackedAt),
    async finish(timeoutMs: number) {
      running = false
      await Promise.race([loop, Bun.sleep(timeoutMs)])
      gaveUp = true
      await loop
      return Object.assign(
        lags.sort((a, b) => a - b),
        { unseen: pending.size },
      )
    },
  }
}

/**
 * The most frequent reasons requests failed, over all runs: counts summed, numbers in the texts folded (an
 * overload message names the bytes held, which would make every refusal a reason of its own).
 */
function failureReasons(summaries: LoadSummary[], top = 5): string {
  const counts = new Map<string, number>()
  for (const summary of summaries) {
    for (const [reason, n] of Object.entries(summary.errors)) {
      const key = reason.replace(/\d+/g, 'N').slice(0, 100)
      counts.set(key, (counts.get(key) ?? 0) + n)
    }
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1])
  const shown = sorted.slice(0, top).map(([reason, n]) => `(${n}× ${reason.replaceAll('|', '\\|')})`)
  return [...shown, ...(sorted.length > top ? [`(and ${sorted.length - top} other reasons)`] : [])].join(' ')
}

/** Messages in `topic` now: the sum of its partitions' end offsets. */
async function topicMessages(admin: Admin, topic: string, partitions: number): Promise<number> {
  const [listed] = await admin.listOffsets({
    topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })) }],
  })
  return (listed?.partitions ?? []).reduce((sum, partition) => sum + Number(partition.offset), 0)
}

async function rowCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from logs`
  return row!.n
}

/**
 * Rows inserted so far, from PostgreSQL's statistics: cheap enough to poll every second, unlike count(*)
 * over millions of rows, which would itself load the database being measured. Lags by up to a second.
 */
async function rowsInserted(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select coalesce(sum(n_tup_ins), 0)::bigint::float8 as n from pg_stat_user_tables where relname like 'logs\_%'`
  return row!.n
}

/** Waits until the statistics report `expected` rows, then returns the exact count. */
async function waitForRows(sql: Sql, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while ((await rowsInserted(sql)) < expected && Date.now() < deadline) await Bun.sleep(100)
  let count = await rowCount(sql)
  while (count < expected && Date.now() < deadline) {
    await Bun.sleep(500)
    count = await rowCount(sql)
  }
  return count
}

const scenario: Scenario = {
  name: 'e2e',
  async run(context: BenchContext) {
    const seconds = Number(process.env.BENCH_E2E_SECONDS ?? (context.quick ? 10 : 60))
    const workers = Number(process.env.BENCH_E2E_WORKERS ?? 32)
    const base = loadConfig()
    const id = Date.now().toString(36)
    const database = await freshBenchDatabase(base.databaseUrl, 'logstream_bench_e2e', 4)
    const { sql } = database
    const admin = new Admin({ clientId: 'bench', bootstrapBrokers: base.kafka.brokers })
    const { topic, dlq } = await freshBenchTopics(admin, 'e2e', id, base.kafka.partitions)

    const grpcPort = freePort()
    const httpPort = freePort()
    const env = {
      GRPC_PORT: String(grpcPort),
      OTLP_GRPC_PORT: '0',
      INGEST_HTTP_PORT: '0',
      CONSUME_HTTP_PORT: '0',
      HTTP_PORT: String(httpPort),
      GRPC_HOST: '127.0.0.1',
      HTTP_HOST: '127.0.0.1',
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlq,
      KAFKA_CONSUMER_GROUP: `bench-${id}`,
      DATABASE_URL: database.url,
      CONSUME_STATS_INTERVAL_MS: '5000',
    }
    const errors: string[] = []
    const start = (name: ServiceName) => spawnService(name, { env, onLine: (line) => line.includes('"level":"error"') && errors.push(`${name}: ${line}`) })
    const services: Record<ServiceName, Service> = { ingest: start('ingest'), consume: start('consume'), query: start('query') }
    const peaks: Record<string, number> = {}
    const trackPeaks = setInterval(() => {
      for (const [name, service] of Object.entries(services)) peaks[name] = Math.max(peaks[name] ?? 0, peakRssMb(service.pid))
    }, 500)

    const target = `127.0.0.1:${grpcPort}`
    const lag = lagTracker(sql)
    const storedPerSecond: number[] = []
    let lastCount = 0
    const sampleStored = setInterval(async () => {
      const count = await rowsInserted(sql)
      storedPerSecond.push(count - lastCount)
      lastCount = count
    }, 1000)

    // Cost per log: CPU of each process over the sustained run and its drain. The services must have finished
    // starting first, or their start-up would be charged to the logs.
    const brokerPort = Number(base.kafka.brokers[0]?.split(':').at(-1))
    const brokerPid = kafkaBrokerPid(brokerPort)
    const postmaster = await postmasterPid(sql)
    const databaseName = new URL(database.url).pathname.slice(1)
    await waitForIdle([services.ingest.pid, services.consume.pid, services.query.pid])
    const stageCpu = () => ({
      ingest: processCpuSeconds(services.ingest.pid),
      kafka: brokerPid === undefined ? undefined : processCpuSeconds(brokerPid),
      consume: processCpuSeconds(services.consume.pid),
      query: processCpuSeconds(services.query.pid),
    })
    const loadBefore = loadavg()
    const cpuBefore = stageCpu()
    const postgresCpu = postmaster === undefined ? undefined : watchPostgresCpu(postmaster, databaseName)
    const windowStarted = performance.now()

    // 1. Sustained saturation: as fast as the stack answers.
    const acceptedPerSecond: number[] = []
    const sustained = await runLoadGenerator({ target, workers, seconds, rate: 0, entriesPerRequest: 100, sampleEvery: 20 }, (line) => {
      if (line.type === 'second') {
        acceptedPerSecond.push(line.acceptedLogs)
        context.progress('e2e sustained', line.second, seconds)
      } else lag.add(line)
    })
    const drainStarted = Date.now()
    const drainTimeoutMs = 120_000
    let stored = await waitForRows(sql, sustained.acceptedLogs, drainTimeoutMs)
    const drainMs = Date.now() - drainStarted
    // The storage rate is acked rows over the time until all were stored: if the wait timed out, that time is
    // unknown and the rate is not measured (reported as such, not computed from the timeout).
    const drained = stored >= sustained.acceptedLogs
    const storedBySustained = stored
    const cpuAfter = stageCpu()
    const postgresWindow = postgresCpu?.finish()
    const windowSeconds = (performance.now() - windowStarted) / 1000
    const loadAfter = loadavg()
    clearInterval(sampleStored)
    const diff = (after: number | undefined, before: number | undefined) => (after === undefined || before === undefined ? undefined : after - before)
    const cpuSeconds = {
      loadGenerator: sustained.cpuSeconds,
      ingest: diff(cpuAfter.ingest, cpuBefore.ingest),
      kafka: diff(cpuAfter.kafka, cpuBefore.kafka),
      consume: diff(cpuAfter.consume, cpuBefore.consume),
      query: diff(cpuAfter.query, cpuBefore.query),
    }
    // Bytes per log on disk as the sustained run left them, before the later phases add rows.
    const postgresBytes = await logsTableBytes(sql)
    const logDir = brokerPid === undefined ? undefined : kafkaLogDir(brokerPid)
    const kafkaBytes = logDir === undefined ? undefined : topicDiskBytes(logDir, topic)
    const kafkaMessages = await topicMessages(admin, topic, base.kafka.partitions).catch(() => sustained.acceptedLogs)
    const lags = await lag.finish(10_000)

    // 2. Below saturation: a rate the whole pipeline sustains (under half of what ingest accepted, and
    // under what storage kept up with), open loop; ack latency and ack -> queryable lag are meaningful here.
    // (When the drain timed out, the rows stored so far over the time so far stand in, to choose this rate only.)
    const storageRate = drained ? sustained.acceptedLogs / ((sustained.seconds * 1000 + drainMs) / 1000) : undefined
    const storageEstimate = storageRate ?? storedBySustained / ((sustained.seconds * 1000 + drainMs) / 1000)
    const lightRate = Math.max(1000, Math.floor(Math.min((sustained.acceptedLogs / sustained.seconds) * 0.5, storageEstimate * 0.7) / 1000) * 1000)
    const lightLag = lagTracker(sql)
    const light = await runLoadGenerator(
      { target, workers: 8, seconds: Math.min(20, seconds), rate: lightRate, entriesPerRequest: 100, sampleEvery: 5 },
      (line) => {
        if (line.type === 'sample') lightLag.add(line)
      },
    )
    const lightLags = await lightLag.finish(30_000)

    // 3. Crash safety: SIGKILL the consumer midway through a run, restart it, compare rows to acks.
    const crashSeconds = Math.min(30, seconds)
    const crashRun = runLoadGenerator({ target, workers, seconds: crashSeconds, rate: 0, entriesPerRequest: 100, sampleEvery: 1_000_000 }, () => {})
    await Bun.sleep((crashSeconds * 1000) / 2)
    await services.consume.stop('SIGKILL')
    services.consume = start('consume')
    const crash = await crashRun
    const expected = sustained.acceptedLogs + light.acceptedLogs + crash.acceptedLogs
    const crashTimeoutMs = 180_000
    stored = await waitForRows(sql, expected, crashTimeoutMs)
    const [dupes] = await sql<{ n: number }[]>`select count(*)::int as n from (select 1 from logs group by kafka_partition, kafka_offset having count(*) > 1) d`

    clearInterval(trackPeaks)
    for (const [name, service] of Object.entries(services)) peaks[name] = Math.max(peaks[name] ?? 0, peakRssMb(service.pid))
    const exitCodes = await Promise.all(Object.values(services).map((service) => service.stop('SIGTERM')))

    // The size of what ingest actually wrote to Kafka in this run, read back from the topic.
    const sizes = await sampleValueSizes(base.kafka.brokers, topic)

    // Ceilings, measured in the same run with our services stopped: Kafka's own producer on the same
    // broker with records of the size ingest wrote, and COPY of the same kind of rows into the same table.
    const records = sampleRecords(context.quick ? 50_000 : 300_000, 7)
    const copyRowBytes = Math.round(records.slice(0, 1000).reduce((sum, r) => sum + encodeLogRecord(r).length, 0) / 1000)
    const recordBytes = sizes.meanBytes || copyRowBytes
    const ceilingTopic = `${topic}.ceiling`
    await ensureTopics(admin, [{ topic: ceilingTopic, partitions: base.kafka.partitions, retentionMs: 600_000 }])
    context.progress('e2e ceilings', 0, 2)
    const ceilingRecords = context.quick ? 200_000 : 1_000_000
    const brokerCpuBefore = brokerPid === undefined ? undefined : processCpuSeconds(brokerPid)
    const kafkaCeiling = await runProducerPerformance({
      brokers: base.kafka.brokers,
      topic: ceilingTopic,
      records: ceilingRecords,
      recordBytes,
    })
    const ceilingBrokerCpu = diff(brokerPid === undefined ? undefined : processCpuSeconds(brokerPid), brokerCpuBefore)
    const ceilingKafkaBytes = logDir === undefined ? undefined : topicDiskBytes(logDir, ceilingTopic)
    context.progress('e2e ceilings', 1, 2)
    await sql`truncate logs`
    const copyRows = asPendingRows(records)
    const copyPostgresCpu = postmaster === undefined ? undefined : watchPostgresCpu(postmaster, databaseName)
    const copy = await copyCeiling(sql, copyRows)
    const copyPostgresWindow = copyPostgresCpu?.finish()
    const copyBytes = await logsTableBytes(sql)
    context.progress('e2e ceilings', 2, 2)
    const cost = {
      logs: storedBySustained,
      windowSeconds,
      cpuSeconds,
      postgres: postgresWindow,
      loadAverage: { before: loadBefore, after: loadAfter },
      postgresBytes,
      kafkaBytes,
      kafkaMessages,
      copy: { rows: copy.rows, rowBytes: copyRowBytes, postgres: copyPostgresWindow, bytes: copyBytes },
      producer: {
        records: ceilingRecords,
        recordBytes,
        brokerCpuSeconds: ceilingBrokerCpu,
        clientCpuSeconds: kafkaCeiling.clientCpuSeconds,
        bytes: ceilingKafkaBytes,
      },
    }

    await admin.deleteTopics({ topics: [topic, dlq, ceilingTopic] }).catch(() => {})
    await admin.close()
    await database.drop()

    const rate = sustained.acceptedLogs / sustained.seconds
    const queryableRate = storageRate
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
    const notDrained = `not measured: ${fmt(storedBySustained)} of ${fmt(sustained.acceptedLogs)} acked rows stored when the ${drainTimeoutMs / 1000} s wait timed out`
    writeFileSync(
      `${context.reportDir}/e2e-throughput.svg`,
      lineChart('End-to-end throughput (sustained run)', 'seconds', 'logs per second', [
        { label: 'acknowledged by ingest', colour: '#2b8cbe', points: acceptedPerSecond.map((v, i) => [i + 1, v]) },
        { label: 'stored in PostgreSQL', colour: '#e6550d', points: storedPerSecond.map((v, i) => [i + 1, v]) },
      ]),
    )
    writeFileSync(
      `${context.reportDir}/e2e-latency.svg`,
      barChart(`Latency percentiles (ms) at ${lightRate.toLocaleString('en-US')} logs/s unless saturated`, 'milliseconds', [
        { label: 'ack p50', value: light.latencyMs.p50, colour: '#2b8cbe' },
        { label: 'ack p99', value: light.latencyMs.p99, colour: '#2b8cbe' },
        { label: 'ack p99 saturated', value: sustained.latencyMs.p99, colour: '#74a9cf' },
        { label: 'ack→queryable p50', value: percentile(lightLags, 50, 0), colour: '#e6550d' },
        { label: 'ack→queryable p99', value: percentile(lightLags, 99, 0), colour: '#e6550d' },
      ]),
    )

    writeFileSync(`${context.reportDir}/e2e-cpu-per-log.svg`, stageCostChart(cost))

    const markdown = [
      `${workers} concurrent gRPC clients in a separate process, 100 entries per request (${sizes.messages ? `mean Kafka value ${sizes.meanBytes} B, measured on ${fmt(sizes.messages)} records of the run's topic` : 'record size not measured: none read back from the topic'}); services as separate Bun processes with default settings.`,
      '',
      '| measure | result | target |',
      '| --- | --- | --- |',
      `| accepted logs/s, sustained ${Math.round(sustained.seconds)} s | ${Math.round(rate).toLocaleString('en-US')} | ≥ 30,000 |`,
      `| rows queryable/s (acked rows ÷ time until all were stored) | ${queryableRate === undefined ? notDrained : fmt(queryableRate)} | |`,
      `| ingest vs Kafka ProducerPerformance (${recordBytes} B records, acks=all, idempotent) | ${Math.round(rate).toLocaleString('en-US')} vs ${Math.round(kafkaCeiling.recordsPerSec).toLocaleString('en-US')} = ${((rate / kafkaCeiling.recordsPerSec) * 100).toFixed(0)} % | |`,
      `| storage vs COPY of ${fmt(copy.rows)} generated rows (mean ${copyRowBytes} B encoded) into the same table and indexes | ${queryableRate === undefined ? `not measured vs ${fmt(copy.rowsPerSecond)}` : `${fmt(queryableRate)} vs ${fmt(copy.rowsPerSecond)} = ${((queryableRate / copy.rowsPerSecond) * 100).toFixed(0)} %`} | |`,
      `| backlog drained after load stopped | ${drained ? `${(drainMs / 1000).toFixed(1)} s` : `not within ${drainTimeoutMs / 1000} s (${fmt(sustained.acceptedLogs - storedBySustained)} rows left)`} | |`,
      `| ack latency at ${lightRate.toLocaleString('en-US')} logs/s (p50 / p99) | ${light.latencyMs.p50} / ${light.latencyMs.p99} ms | p99 ≤ 100 ms |`,
      `| ack latency saturated (p50 / p99) | ${sustained.latencyMs.p50} / ${sustained.latencyMs.p99} ms | |`,
      `| ack → queryable at ${lightRate.toLocaleString('en-US')} logs/s (p50 / p99, ${lightLags.length} samples${lightLags.unseen ? `, ${lightLags.unseen} not queryable within 30 s of the run's end` : ''}) | ${percentile(lightLags, 50, 0)} / ${percentile(lightLags, 99, 0)} ms | p99 ≤ 2,000 ms |`,
      `| ack → queryable saturated (p50 / p99, ${lags.length} samples${lags.unseen ? `, ${lags.unseen} not queryable within 10 s of the drain` : ''}; grows with the backlog) | ${percentile(lags, 50, 0)} / ${percentile(lags, 99, 0)} ms | |`,
      `| peak RSS ingest / consume / query | ${peaks.ingest} / ${peaks.consume} / ${peaks.query} MB | ≤ 300 MB each |`,
      `| consumer SIGKILLed mid-run: rows stored vs logs acked | ${fmt(stored)} vs ${fmt(expected)} (${dupes!.n} duplicate offsets)${stored < expected ? `; the wait for the rest timed out after ${crashTimeoutMs / 1000} s` : ''} | equal |`,
      `| failed requests (sustained / light / crash run) | ${sustained.failedRequests} / ${light.failedRequests} / ${crash.failedRequests} ${failureReasons([sustained, light, crash])} | |`,
      `| service exit codes after SIGTERM | ${exitCodes.join(', ')} | 0 |`,
      '',
      '![throughput](e2e-throughput.svg)',
      '',
      '![latency](e2e-latency.svg)',
      '',
      stageCostMarkdown(cost),
      errors.length ? `\nError lines logged by services (first 5):\n\n\`\`\`\n${errors.slice(0, 5).join('\n')}\n\`\`\`` : '',
    ].join('\n')

    return {
      title: 'End to end',
      markdown,
      metrics: {
        acceptedLogsPerSecond: Math.round(rate),
        ...(queryableRate === undefined ? {} : { queryableRowsPerSecond: Math.round(queryableRate) }),
        meanRecordBytes: recordBytes,
        ackP50LightMs: light.latencyMs.p50,
        ackP99LightMs: light.latencyMs.p99,
        ackToQueryableP50Ms: percentile(lightLags, 50, 0),
        ackToQueryableP99Ms: percentile(lightLags, 99, 0),
        ackToQueryableSaturatedP99Ms: percentile(lags, 99, 0),
        peakRssIngestMb: peaks.ingest ?? 0,
        peakRssConsumeMb: peaks.consume ?? 0,
        peakRssQueryMb: peaks.query ?? 0,
        kafkaCeilingRecordsPerSecond: Math.round(kafkaCeiling.recordsPerSec),
        copyCeilingRowsPerSecond: Math.round(copy.rowsPerSecond),
        crashRowsStored: stored,
        crashLogsAcked: expected,
        ...stageCostMetrics(cost),
      },
    }
  },
}

export default scenario
