import { formatMicros } from '../log-entry.ts'

/**
 * What a consumer tells the query processes after storing rows: `pg_notify(LOGS_STORED_CHANNEL, payload)`
 * in the transaction that inserted them, one or more payloads per write. PostgreSQL delivers a notification
 * only when that transaction commits, and only the rows this statement really inserted are named (a
 * re-delivered row skipped by ON CONFLICT is not), so a replay of the topic announces nothing twice.
 *
 * A payload names rows by Kafka key: per partition, runs of consecutive offsets that were all inserted,
 * plus the time spans their timestamps fall in. The key (timestamp, kafka_partition, kafka_offset) leads
 * with the timestamp, so the spans are what lets the reader find the rows through the primary key and
 * partition pruning; every combination of a span and a run can be read as one bounded index range.
 */
export const LOGS_STORED_CHANNEL = 'logs_stored'

export const AnnouncementLimits = {
  /** PostgreSQL refuses a payload of 8000 bytes or more; a margin below it. */
  payloadBytes: 7900,
  /**
   * Widest time span: a wider one would make the reader scan every other row stored in that time. Rows
   * further apart in time than this get spans of their own.
   */
  spanMicros: 1_000_000,
} as const

/** One row that a write inserted. */
export interface StoredKey {
  partition: number
  offset: bigint
  /** Its timestamp in epoch microseconds, exactly as written (formatMicros of this is the stored value). */
  micros: number
}

/** Consecutive offsets first..last of one partition, every one of them inserted. */
export interface OffsetRun {
  partition: number
  first: bigint
  last: bigint
}

export interface Announcement {
  /** [from, to] in epoch microseconds, inclusive; together they cover the timestamp of every row named. */
  spans: [number, number][]
  runs: OffsetRun[]
}

function spansOf(sortedMicros: readonly number[]): [number, number][] {
  const spans: [number, number][] = []
  for (const micros of sortedMicros) {
    const current = spans.at(-1)
    if (current && micros - current[0] <= AnnouncementLimits.spanMicros) current[1] = micros
    else spans.push([micros, micros])
  }
  return spans
}

function runsOf(keys: readonly StoredKey[]): OffsetRun[] {
  const byPartition = new Map<number, bigint[]>()
  for (const key of keys) {
    const offsets = byPartition.get(key.partition)
    if (offsets) offsets.push(key.offset)
    else byPartition.set(key.partition, [key.offset])
  }
  const runs: OffsetRun[] = []
  for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) {
    const offsets = byPartition.get(partition)!.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    let run: OffsetRun | undefined
    for (const offset of offsets) {
      if (run && offset === run.last + 1n) run.last = offset
      else if (!run || offset !== run.last) {
        run = { partition, first: offset, last: offset }
        runs.push(run)
      }
    }
  }
  return runs
}

/** Offsets are strings: a JSON number past 2^53 would lose digits on the reader's side. */
function encode(keys: readonly StoredKey[]): string {
  const spans = spansOf(keys.map((key) => key.micros))
  const runs = runsOf(keys).map((run) => [run.partition, run.first.toString(), run.last.toString()])
  return JSON.stringify({ s: spans, r: runs })
}

function split(timeOrdered: readonly StoredKey[], out: string[]): void {
  const payload = encode(timeOrdered)
  if (payload.length <= AnnouncementLimits.payloadBytes || timeOrdered.length === 1) {
    out.push(payload)
    return
  }
  // Halving in time order keeps each half's spans apart; scattered offsets or timestamps only ever
  // cost more, smaller payloads, never a payload PostgreSQL would refuse.
  const middle = timeOrdered.length >>> 1
  split(timeOrdered.slice(0, middle), out)
  split(timeOrdered.slice(middle), out)
}

/** The payloads announcing `keys` (the rows one statement inserted), each under AnnouncementLimits.payloadBytes. */
export function announcements(keys: readonly StoredKey[]): string[] {
  if (keys.length === 0) return []
  const out: string[] = []
  split(
    [...keys].sort((a, b) => a.micros - b.micros),
    out,
  )
  return out
}

const OFFSET = /^\d{1,19}$/

const isSpan = (value: unknown): value is [number, number] =>
  Array.isArray(value) && value.length === 2 && value.every(Number.isFinite) && (value[0] as number) <= (value[1] as number)

/** A payload read back; undefined for anything this version did not write (the reader then reports a gap). */
export function parseAnnouncement(payload: string): Announcement | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  const { s, r } = (parsed ?? {}) as { s?: unknown; r?: unknown }
  if (!Array.isArray(s) || !Array.isArray(r) || s.length === 0 || r.length === 0 || !s.every(isSpan)) return undefined
  const runs: OffsetRun[] = []
  for (const item of r) {
    if (!Array.isArray(item) || item.length !== 3) return undefined
    const [partition, first, last] = item as unknown[]
    if (!Number.isInteger(partition) || typeof first !== 'string' || typeof last !== 'string' || !OFFSET.test(first) || !OFFSET.test(last)) return undefined
    if (BigInt(first) > BigInt(last)) return undefined
    runs.push({ partition: partition as number, first: BigInt(first), last: BigInt(last) })
  }
  return { spans: s as [number, number][], runs }
}

/** A span's bounds as the RFC 3339 text the reader's statement casts to timestamptz, to the microsecond. */
export const spanText = ([from, to]: [number, number]): [string, string] => [formatMicros(from), formatMicros(to)]
