/**
 * The end-to-end benchmark's cost per stored log, stage by stage (CPU-µs from /proc, bytes on disk), beside
 * the same costs of the ceilings measured in the same run: its table, chart and results.json metrics.
 */
import { cpuMicrosPerLog, perLog, sumOf } from './cost-per-log.ts'
import type { TopicBytes } from './kafka-topic-bytes.ts'
import type { PostgresCpu } from './postgres-cpu.ts'
import type { LogsTableBytes } from './postgres-table-bytes.ts'
import { stackedBarChart } from './svg-chart.ts'

export const stages = ['loadGenerator', 'ingest', 'kafka', 'consume', 'postgres', 'query'] as const
export type Stage = (typeof stages)[number]
/** What LogStream's own deployment pays per log: everything but the client that sends. */
export const pipelineStages = stages.filter((stage) => stage !== 'loadGenerator')

const names: Record<Stage, string> = {
  loadGenerator: 'load generator (gRPC client)',
  ingest: 'ingest',
  kafka: 'Kafka broker JVM',
  consume: 'consume',
  postgres: 'PostgreSQL',
  query: 'query (idle: no API load)',
}
/** Short enough for the chart's legend. */
const chartNames: Record<Stage, string> = {
  loadGenerator: 'load generator',
  ingest: 'ingest',
  kafka: 'Kafka broker',
  consume: 'consume',
  postgres: 'PostgreSQL',
  query: 'query',
}
const colours: Record<Stage, string> = {
  loadGenerator: '#fdae6b',
  ingest: '#2b8cbe',
  kafka: '#756bb1',
  consume: '#31a354',
  postgres: '#e6550d',
  query: '#969696',
}

export interface StageCostMeasurement {
  /** Rows stored when the window closed (all acked logs, once the backlog drained). */
  logs: number
  windowSeconds: number
  /** CPU seconds over the window; PostgreSQL apart. undefined: the process was not found. */
  cpuSeconds: Record<Exclude<Stage, 'postgres'>, number | undefined>
  postgres: PostgresCpu | undefined
  loadAverage: { before: number[]; after: number[] }
  postgresBytes: LogsTableBytes
  kafkaBytes: TopicBytes | undefined
  kafkaMessages: number
  copy: { rows: number; rowBytes: number; postgres: PostgresCpu | undefined; bytes: LogsTableBytes }
  producer: { records: number; recordBytes: number; brokerCpuSeconds: number | undefined; clientCpuSeconds: number | undefined; bytes: TopicBytes | undefined }
}

/**
 * PostgreSQL's share: the whole server (exact) less what sampling saw other databases' backends use. Other
 * people's short-lived backends that no sample caught stay in it.
 */
export function pipelinePostgresSeconds(cpu: PostgresCpu | undefined): number | undefined {
  return cpu && cpu.totalSeconds - cpu.otherSeconds
}

export function stageCpuMicros(m: StageCostMeasurement): Record<Stage, number | undefined> {
  return cpuMicrosPerLog({ ...m.cpuSeconds, postgres: pipelinePostgresSeconds(m.postgres) }, m.logs)
}

const one = (n: number | undefined) => (n === undefined ? 'not measured' : n.toFixed(1))
const whole = (n: number | undefined) => (n === undefined ? 'not measured' : Math.round(n).toLocaleString('en-US'))
const ratio = (ours: number | undefined, ceiling: number | undefined) =>
  ours === undefined || ceiling === undefined || ceiling <= 0 ? '' : ` (ours ${(ours / ceiling).toFixed(1)}×)`

export function stageCostMarkdown(m: StageCostMeasurement): string {
  const micros = stageCpuMicros(m)
  const total = sumOf(micros, pipelineStages)
  const copyPostgres = perLog(pipelinePostgresSeconds(m.copy.postgres), m.copy.rows, 1e6)
  const brokerCeiling = perLog(m.producer.brokerCpuSeconds, m.producer.records, 1e6)
  const clientCeiling = perLog(m.producer.clientCpuSeconds, m.producer.records, 1e6)
  const seconds = { ...m.cpuSeconds, postgres: pipelinePostgresSeconds(m.postgres) }
  const reference: Partial<Record<Stage, string>> = {
    ingest: `Java producer client (ProducerPerformance, JVM start included): ${one(clientCeiling)} µs/record${ratio(micros.ingest, clientCeiling)}`,
    kafka: `broker during ProducerPerformance (${whole(m.producer.records)} records of ${m.producer.recordBytes} B): ${one(brokerCeiling)} µs/record${ratio(micros.kafka, brokerCeiling)}`,
    postgres: `COPY of ${whole(m.copy.rows)} generated rows (mean ${m.copy.rowBytes} B encoded): ${one(copyPostgres)} µs/row${ratio(micros.postgres, copyPostgres)}`,
  }
  const pg = m.postgres
  const pgPerLog = (s: number | undefined) => one(perLog(s, m.logs, 1e6))
  const pgBytes = m.postgresBytes
  const copyBytes = m.copy.bytes
  const logsBytes = (b: LogsTableBytes) => b.tableBytes + b.indexBytes
  const kafka = m.kafkaBytes
  const ceilingKafka = m.producer.bytes
  return [
    `**Cost per stored log.** CPU (user + system, from /proc) of each process from the start of the sustained run until the backlog had drained (${m.windowSeconds.toFixed(1)} s), divided by the ${whole(m.logs)} rows stored then. Load average (1/5/15 min) ${m.loadAverage.before.map((n) => n.toFixed(2)).join(' / ')} before, ${m.loadAverage.after.map((n) => n.toFixed(2)).join(' / ')} after: the 2 cores are shared, so read these as this run's, not as constants. The Kafka broker and PostgreSQL server also serve whatever else runs on the machine; for PostgreSQL that share is estimated and taken out (below), for the broker it is not.`,
    '',
    '| stage | CPU s | CPU-µs per stored log | same-run reference |',
    '| --- | --- | --- | --- |',
    ...stages.map(
      (stage) =>
        `| ${names[stage]} | ${seconds[stage] === undefined ? 'not measured' : seconds[stage].toFixed(2)} | ${one(micros[stage])} | ${reference[stage] ?? ''} |`,
    ),
    `| **total without the load generator** | | **${one(total)}** | |`,
    '',
    pg
      ? `PostgreSQL: the whole server used ${pgPerLog(pg.totalSeconds)} µs per log (postmaster, live backends, and exited ones through the postmaster's reaped-children time); sampling every 250 ms saw our database's backends use ${pgPerLog(pg.databaseSeconds)}, the background processes (WAL writer, checkpointer, …) ${pgPerLog(pg.serverSeconds)}, and other databases' backends ${pgPerLog(pg.otherSeconds)} (other people's tests), which is left out above. The benchmark's own polling (rows stored, ack-to-queryable samples) runs in our database and is counted.`
      : 'PostgreSQL: not measured (the server is not a process on this machine).',
    '',
    '| on disk | bytes per log | same-run reference |',
    '| --- | --- | --- |',
    `| PostgreSQL \`logs\` partitions: heap (+TOAST) / indexes / both | ${whole(perLog(pgBytes.tableBytes, m.logs))} / ${whole(perLog(pgBytes.indexBytes, m.logs))} / ${whole(perLog(logsBytes(pgBytes), m.logs))} | COPY's rows: ${whole(perLog(copyBytes.tableBytes, m.copy.rows))} / ${whole(perLog(copyBytes.indexBytes, m.copy.rows))} / ${whole(perLog(logsBytes(copyBytes), m.copy.rows))}${ratio(perLog(logsBytes(pgBytes), m.logs), perLog(logsBytes(copyBytes), m.copy.rows))} |`,
    `| PostgreSQL \`log_counts\` rollup (${whole(pgBytes.countsBytes)} B in all) | ${one(perLog(pgBytes.countsBytes, m.logs))} | |`,
    `| Kafka segments (\`*.log\` of the run's topic, ${whole(m.kafkaMessages)} messages, ${kafka?.partitions ?? 0} partitions) | ${whole(perLog(kafka?.segmentBytes, m.kafkaMessages))} | ProducerPerformance's topic: ${whole(perLog(ceilingKafka?.segmentBytes, m.producer.records))} per ${m.producer.recordBytes} B record${ratio(perLog(kafka?.segmentBytes, m.kafkaMessages), perLog(ceilingKafka?.segmentBytes, m.producer.records))} |`,
    `| Kafka partition folders, blocks allocated (segments, indexes, checkpoints) | ${whole(perLog(kafka?.allocatedBytes, m.kafkaMessages))} | ${whole(perLog(ceilingKafka?.allocatedBytes, m.producer.records))} |`,
    '',
    'PostgreSQL sizes are read right after the drain, before the later phases add rows; Kafka bytes are divided by the topic’s end offsets then. Neither producer compresses. The rows differ in content: the load generator sends the same 3,200 entries over and over (32 prebuilt requests of 100; only timestamps and Kafka offsets differ), whose repeated keys the btree indexes deduplicate, while the COPY rows are all different, with random trace ids; compare index bytes with that in mind.',
    '',
    '![CPU per log by stage](e2e-cpu-per-log.svg)',
  ].join('\n')
}

export function stageCostChart(m: StageCostMeasurement): string {
  const micros = stageCpuMicros(m)
  const segment = (stage: Stage, value: number | undefined) => ({ label: chartNames[stage], value: value ?? 0, colour: colours[stage] })
  return stackedBarChart('CPU-µs per stored log, by process', 'CPU-µs per log', [
    { label: 'LogStream (sustained run)', segments: pipelineStages.map((stage) => segment(stage, micros[stage])) },
    {
      label: 'ceilings: ProducerPerformance + COPY',
      segments: [
        segment('kafka', perLog(m.producer.brokerCpuSeconds, m.producer.records, 1e6)),
        segment('postgres', perLog(pipelinePostgresSeconds(m.copy.postgres), m.copy.rows, 1e6)),
      ],
    },
    { label: 'load generator', segments: [segment('loadGenerator', micros.loadGenerator)] },
  ])
}

export function stageCostMetrics(m: StageCostMeasurement): Record<string, number> {
  const micros = stageCpuMicros(m)
  const entries: [string, number | undefined][] = [
    ...stages.map((stage): [string, number | undefined] => [`cpuMicrosPerLog${stage[0]!.toUpperCase()}${stage.slice(1)}`, micros[stage]]),
    ['cpuMicrosPerLogTotalWithoutLoadGenerator', sumOf(micros, pipelineStages)],
    ['cpuMicrosPerLogPostgresWholeServer', perLog(m.postgres?.totalSeconds, m.logs, 1e6)],
    ['cpuMicrosPerLogPostgresOtherDatabases', perLog(m.postgres?.otherSeconds, m.logs, 1e6)],
    ['cpuMicrosPerRowCopyCeilingPostgres', perLog(pipelinePostgresSeconds(m.copy.postgres), m.copy.rows, 1e6)],
    ['cpuMicrosPerRecordProducerPerformanceBroker', perLog(m.producer.brokerCpuSeconds, m.producer.records, 1e6)],
    ['cpuMicrosPerRecordProducerPerformanceClient', perLog(m.producer.clientCpuSeconds, m.producer.records, 1e6)],
    ['bytesPerLogPostgresTable', perLog(m.postgresBytes.tableBytes, m.logs)],
    ['bytesPerLogPostgresIndexes', perLog(m.postgresBytes.indexBytes, m.logs)],
    ['bytesPerLogPostgresLogCounts', perLog(m.postgresBytes.countsBytes, m.logs)],
    ['bytesPerRowCopyCeilingPostgres', perLog(m.copy.bytes.tableBytes + m.copy.bytes.indexBytes, m.copy.rows)],
    ['bytesPerLogKafkaSegments', perLog(m.kafkaBytes?.segmentBytes, m.kafkaMessages)],
    ['bytesPerLogKafkaAllocated', perLog(m.kafkaBytes?.allocatedBytes, m.kafkaMessages)],
    ['bytesPerRecordProducerPerformanceSegments', perLog(m.producer.bytes?.segmentBytes, m.producer.records)],
    ['costWindowSeconds', m.windowSeconds],
    ['costLoadAverage1m', m.loadAverage.after[0]],
  ]
  return Object.fromEntries(
    entries.filter((entry): entry is [string, number] => entry[1] !== undefined).map(([key, value]) => [key, Math.round(value * 10) / 10]),
  )
}
