/**
 * Kafka's own producer benchmark (org.apache.kafka.tools.ProducerPerformance, from the broker's Maven jars):
 * the ceiling a Java producer reaches on this broker and machine, to compare our services against.
 */
import { kafkaLibsDir, toolsLog4j } from '../scripts/infra/kafka-broker.ts'

export interface ProducerPerformanceOptions {
  brokers: string[]
  topic: string
  records: number
  recordBytes: number
  /** Producer settings, e.g. { acks: 'all', 'linger.ms': '5' }; idempotence and acks=all by default. */
  props?: Record<string, string>
}

export interface ProducerPerformanceResult {
  recordsPerSec: number
  mbPerSec: number
  avgLatencyMs: number
  maxLatencyMs: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  p999Ms: number
  /** The settings it ran with, for the report. */
  props: Record<string, string>
  /** User + system CPU seconds of the producer's JVM over its whole life (JVM start and JIT included), if known. */
  clientCpuSeconds: number | undefined
}

export const defaultProducerProps: Record<string, string> = {
  acks: 'all',
  'enable.idempotence': 'true',
  'linger.ms': '5',
  'batch.size': '262144',
}

// "100000 records sent, 95057.0 records/sec (27.17 MB/sec), 250.67 ms avg latency, 413.00 ms max latency, 266 ms 50th, 392 ms 95th, 407 ms 99th, 412 ms 99.9th."
const SUMMARY =
  /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/

export function parseProducerPerformance(output: string): Omit<ProducerPerformanceResult, 'props' | 'clientCpuSeconds'> {
  const lines = output.split('\n').filter((line) => SUMMARY.test(line))
  const match = lines.at(-1)?.match(SUMMARY)
  if (!match) throw new Error(`ProducerPerformance printed no summary line:\n${output.slice(-2000)}`)
  const [, , rate, mb, avg, max, p50, p95, p99, p999] = match.map(Number)
  return { recordsPerSec: rate!, mbPerSec: mb!, avgLatencyMs: avg!, maxLatencyMs: max!, p50Ms: p50!, p95Ms: p95!, p99Ms: p99!, p999Ms: p999! }
}

/** Runs ProducerPerformance at full speed (--throughput -1) and returns its final summary. */
export async function runProducerPerformance(options: ProducerPerformanceOptions): Promise<ProducerPerformanceResult> {
  const props = { ...defaultProducerProps, ...options.props, 'bootstrap.servers': options.brokers.join(',') }
  // biome-ignore format: each flag stays on one line with its value
  const command = [
    'java', '-Xmx512m', `-Dlog4j2.configurationFile=${toolsLog4j}`, '-cp', `${kafkaLibsDir}/*`,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic', options.topic,
    '--num-records', String(options.records),
    '--record-size', String(options.recordBytes),
    '--throughput', '-1',
    '--producer-props', ...Object.entries(props).map(([key, value]) => `${key}=${value}`),
  ]
  const child = Bun.spawn(command, { stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  if (code !== 0) throw new Error(`ProducerPerformance exited ${code}:\n${(stdout + stderr).slice(-2000)}`)
  const usage = child.resourceUsage()
  return { ...parseProducerPerformance(stdout), props, clientCpuSeconds: usage && Number(usage.cpuTime.total) / 1e6 }
}
