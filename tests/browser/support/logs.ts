import type { Sql } from '../../../src/lib/db.ts'
import { formatMicros } from '../../../src/lib/log-entry.ts'

/**
 * Generated logs for the explorer's browser tests and screenshots: a few services and hosts, levels mostly
 * INFO with some errors, messages with recognisable words, metadata, tags and traces. Deterministic for a
 * seed, so a test can count what it expects.
 */
export interface GeneratedLog {
  micros: number
  service: string
  level: string
  message: string
  metadata: Record<string, unknown>
  host: string | null
  tags: string[]
  trace_id: string | null
  span_id: string | null
}

function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SERVICES = {
  api: ['api-1', 'api-2', 'api-3'],
  billing: ['billing-1', 'billing-2'],
  auth: ['auth-1'],
  worker: ['worker-1', 'worker-2'],
  web: ['web-1', 'web-2'],
} as const
type Service = keyof typeof SERVICES

const MESSAGES: Record<string, ((r: () => number, user: string) => string)[]> = {
  INFO: [
    (r, user) => `GET /v1/orders/${Math.floor(r() * 90000 + 10000)} 200 in ${Math.floor(r() * 80 + 3)} ms for ${user}`,
    (_r, user) => `session started for ${user}`,
    (r) => `cache refreshed: ${Math.floor(r() * 900 + 100)} keys`,
    (r) => `job report-${Math.floor(r() * 999)} finished`,
  ],
  DEBUG: [(r) => `pool stats: ${Math.floor(r() * 20)} idle, ${Math.floor(r() * 10)} busy`, () => 'config reloaded'],
  WARN: [(r) => `slow query took ${Math.floor(r() * 900 + 500)} ms`, () => 'retrying upstream call after timeout'],
  ERROR: [
    (_r, user) => `payment declined for customer ${user}`,
    () => 'upstream timeout after 3 retries: connection reset by peer',
    (r) => `POST /v1/checkout 500 in ${Math.floor(r() * 400 + 100)} ms`,
  ],
  FATAL: [() => 'out of memory: worker restarting'],
}

const hex = (r: () => number, digits: number) => Array.from({ length: digits }, () => Math.floor(r() * 16).toString(16)).join('')

/** `count` logs spread over the `spanMicros` before `nowMicros`, newest last. */
export function generateLogs(count: number, { nowMicros = Date.now() * 1000, spanMicros = 3_000e6, seed = 7 } = {}): GeneratedLog[] {
  const r = random(seed)
  const pick = <T>(items: readonly T[]) => items[Math.floor(r() * items.length)]!
  const logs: GeneratedLog[] = []
  let trace: { id: string; left: number } | undefined
  for (let i = 0; i < count; i++) {
    const service = pick(Object.keys(SERVICES) as Service[])
    const roll = r()
    const level = roll < 0.08 ? 'DEBUG' : roll < 0.78 ? 'INFO' : roll < 0.9 ? 'WARN' : roll < 0.99 ? 'ERROR' : 'FATAL'
    const user = `u${Math.floor(r() * 60 + 1000)}`
    if (!trace || trace.left === 0) trace = r() < 0.3 ? { id: hex(r, 32), left: 2 + Math.floor(r() * 4) } : undefined
    if (trace) trace.left--
    const status = level === 'ERROR' ? 500 : level === 'WARN' ? 429 : 200
    logs.push({
      micros: Math.round(nowMicros - spanMicros + ((i + r() * 0.9) / count) * spanMicros),
      service,
      level,
      message: pick(MESSAGES[level]!)(r, user),
      metadata: { http: { status, method: pick(['GET', 'POST']) }, 'user.id': user, duration_ms: Math.floor(r() * 400) },
      host: service === 'worker' && r() < 0.3 ? null : pick(SERVICES[service]),
      tags: [r() < 0.8 ? 'env:prod' : 'env:staging', pick(['region:eu', 'region:us'])],
      trace_id: trace ? trace.id : null,
      span_id: trace ? hex(r, 16) : null,
    })
  }
  return logs
}

let nextOffset = 1

/** Inserts logs as the consumer stores them (one statement, a bind parameter per column). */
export async function insertLogs(sql: Sql, logs: readonly GeneratedLog[]): Promise<void> {
  const offsets = logs.map(() => String(nextOffset++))
  await sql`
    insert into logs (timestamp, service, level, message, metadata, host, tags, trace_id, span_id, kafka_partition, kafka_offset)
    select t::timestamptz, s, l, m, md::jsonb, h, array(select jsonb_array_elements_text(tg::jsonb)), tr, sp, 0, o::bigint
    from unnest(
      ${logs.map((log) => formatMicros(log.micros))}::text[], ${logs.map((log) => log.service)}::text[], ${logs.map((log) => log.level)}::text[],
      ${logs.map((log) => log.message)}::text[], ${logs.map((log) => JSON.stringify(log.metadata))}::text[],
      ${logs.map((log) => log.host)}::text[], ${logs.map((log) => JSON.stringify(log.tags))}::text[],
      ${logs.map((log) => log.trace_id)}::text[], ${logs.map((log) => log.span_id)}::text[], ${offsets}::text[]
    ) as r(t, s, l, m, md, h, tg, tr, sp, o)`
}
