/**
 * The PostgreSQL ceiling for loading logs: one COPY (src/lib/log-copy.ts) of all the given rows
 * into the real `logs` table with every index of schema.sql. Nothing that must also stay idempotent can be
 * faster, so consumer throughput is reported as a fraction of this. Reused by the end-to-end benchmark.
 */
import type { Sql } from '../src/lib/db.ts'
import { copyRows } from '../src/lib/log-copy.ts'
import type { LogRecord } from '../src/lib/log-entry.ts'
import type { PendingRow } from '../src/lib/log-writer.ts'

export interface CopyCeiling {
  rows: number
  seconds: number
  rowsPerSecond: number
}

/** COPYs `rows` into `logs` (which should be empty of them) in one statement and times it, commit included. */
export async function copyCeiling(sql: Sql, rows: readonly PendingRow[]): Promise<CopyCeiling> {
  const started = performance.now()
  await sql.begin((tx) => copyRows(tx, rows))
  const seconds = (performance.now() - started) / 1000
  return { rows: rows.length, seconds, rowsPerSecond: rows.length / seconds }
}

const services = ['api-gateway', 'checkout', 'payments', 'search', 'auth', 'inventory', 'email', 'recommendations']
const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'] as const
const words = [
  'request',
  'completed',
  'user',
  'order',
  'timeout',
  'retry',
  'cache',
  'miss',
  'db',
  'query',
  'slow',
  'ok',
  'failed',
  'connection',
  'payload',
  'validated',
]

/**
 * Deterministic, realistic log records (a sentence of a message, a small metadata object, trace and span ids on
 * most, one to three tags; 163–330 B encoded, 253 B on average for seed 7: benchmarks measure and report the
 * size of the records they use), timestamped within the last hour so they land in today's partition.
 */
export function sampleRecords(count: number, seed = 1): LogRecord[] {
  let state = seed >>> 0 || 1
  const next = () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 4294967296
  }
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!
  const hex = (digits: number) => {
    let out = ''
    while (out.length < digits)
      out += Math.floor(next() * 4294967296)
        .toString(16)
        .padStart(8, '0')
    return out.slice(0, digits)
  }
  const base = Date.now() * 1000 - 3_600_000_000
  const records: LogRecord[] = []
  for (let i = 0; i < count; i++) {
    const sentence = Array.from({ length: 8 + Math.floor(next() * 8) }, () => pick(words)).join(' ')
    const traced = next() < 0.8
    records.push({
      timestampMicros: base + Math.floor((i / count) * 3_500_000_000) + Math.floor(next() * 1000),
      service: pick(services),
      level: pick(levels),
      message: `${sentence} id=${Math.floor(next() * 1e6)} took ${Math.floor(next() * 900)}ms`,
      metadata: JSON.stringify({
        user_id: String(Math.floor(next() * 1e5)),
        region: pick(['eu-west-1', 'us-east-1', 'ap-south-1']),
        status: pick([200, 201, 404, 500]),
      }),
      traceId: traced ? hex(32) : '',
      spanId: traced ? hex(16) : '',
      host: `node-${Math.floor(next() * 20)}`,
      tags: Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(['env:prod', 'team:core', 'tier:web', 'canary', 'region:eu', 'v2'])),
    })
  }
  return records
}

/** `records` as the consumer's pending rows: three partitions, each with consecutive offsets, as Kafka assigns them. */
export const asPendingRows = (records: readonly LogRecord[]): PendingRow[] =>
  records.map((record, i) => ({ partition: i % 3, offset: BigInt(Math.floor(i / 3)), record }))
