import { type Level, Levels, normaliseLevel } from './levels.ts'
import { oldestKeptDay } from './retention.ts'

/** A validated, normalised log entry: what goes into Kafka and, field for field, into PostgreSQL. */
export interface LogRecord {
  /** Microseconds since the Unix epoch; a double holds these exactly for the next 285 years. */
  timestampMicros: number
  service: string
  level: Level
  message: string
  /** A JSON object, as text. */
  metadata: string
  traceId: string
  spanId: string
  host: string
  tags: string[]
  /**
   * True when the ingest service gave the entry its time because it came without one. Such an entry is
   * stored once per Kafka message; one timestamped by its sender, once per content (content-key.ts).
   */
  timestampFromServer?: boolean
}

/** A LogEntry as it arrives from a client (proto3: absent strings are empty). */
export interface LogEntryInput {
  timestamp?: { seconds?: number | string | bigint | { toString(): string } | null; nanos?: number | null } | null
  service?: string | null
  level?: string | null
  message?: string | null
  metadata?: string | null
  trace_id?: string | null
  span_id?: string | null
  host?: string | null
  tags?: (string | null)[] | null
  /** Set in Kafka messages only, by the ingest service (codec.ts); a client's value is ignored. */
  timestamp_from_server?: boolean | null
}

export interface Violation {
  field: string
  reason: string
}

/**
 * Limits in the spirit of Datadog's intake (1 MB per log, 200-character tags). They keep one entry from
 * dominating a Kafka batch or a PostgreSQL row, and each is reported by name when exceeded. A message
 * may use the whole 1 MiB; the entry limit then bounds message, metadata and the rest together.
 */
export const Limits = {
  entryBytes: 1024 * 1024,
  messageBytes: 1024 * 1024,
  metadataBytes: 256 * 1024,
  serviceChars: 256,
  hostChars: 256,
  tags: 100,
  tagChars: 200,
} as const

const HEX_TRACE = /^[0-9a-f]{32}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const HEX_SPAN = /^[0-9a-f]{16}$/
const ZERO = /^0+$/
// PostgreSQL text and jsonb cannot hold NUL; accepting one would make the row unstorable downstream.
const NUL = '\u0000'
// Protobuf Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_SECONDS = -62_135_596_800
const MAX_SECONDS = 253_402_300_799

const utf8Bytes = (value: string) => Buffer.byteLength(value, 'utf8')

// With the u flag a surrogate pair is one code point, so only a surrogate standing alone matches. UTF-8
// cannot encode one: on the way to Kafka it would silently become U+FFFD, so it is refused instead.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u
const UNPAIRED = 'holds an unpaired UTF-16 surrogate, which UTF-8 cannot encode'

/**
 * How deep metadata may nest objects and arrays (the top-level object is level 1). PostgreSQL parses
 * jsonb recursively and fails a document nested past its max_stack_depth (54001); this documented limit
 * sits far below any server's, so what intake accepts is always storable.
 */
export const METADATA_MAX_DEPTH = 100
/**
 * jsonb keeps numbers as numeric, which refuses (22003) more than 131072 digits before the point or 16383
 * after it; at most this many digits and this exponent keep every accepted number well within both.
 */
export const METADATA_NUMBER_LIMIT = 1000

const JSON_NUMBER = /-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y

const hexUnit = (text: string, at: number) => (text.slice(at, at + 2) === '\\u' ? Number.parseInt(text.slice(at + 2, at + 6), 16) : -1)
const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff

/**
 * What PostgreSQL jsonb would refuse in `text`, already known to be valid JSON: a \u0000 escape, an
 * unpaired surrogate escape, nesting deeper than METADATA_MAX_DEPTH, a number numeric cannot hold.
 * One pass over the text, without recursion, so a hostile document costs no stack.
 */
function jsonbProblem(text: string): string | undefined {
  let depth = 0
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at)
    if (char === 0x22) {
      at++
      while (text.charCodeAt(at) !== 0x22) {
        if (text.charCodeAt(at) !== 0x5c) {
          at++
          continue
        }
        const unit = hexUnit(text, at)
        if (unit === 0) return 'must not contain the NUL character (\\u0000)'
        if (isHigh(unit) && isLow(hexUnit(text, at + 6))) at += 12
        else if (isHigh(unit) || isLow(unit)) return `holds an unpaired surrogate escape (${text.slice(at, at + 6)}), which PostgreSQL jsonb refuses`
        else at += unit >= 0 ? 6 : 2
      }
    } else if (char === 0x7b || char === 0x5b) {
      depth++
      if (depth > METADATA_MAX_DEPTH) return `nests objects and arrays more than ${METADATA_MAX_DEPTH} levels deep; the limit is ${METADATA_MAX_DEPTH}`
    } else if (char === 0x7d || char === 0x5d) {
      depth--
    } else if (char === 0x2d || (char >= 0x30 && char <= 0x39)) {
      JSON_NUMBER.lastIndex = at
      const [whole = '', integer = '', fraction = '', exponent = '0'] = JSON_NUMBER.exec(text) ?? []
      if (integer.length + fraction.length > METADATA_NUMBER_LIMIT || Math.abs(Number(exponent)) > METADATA_NUMBER_LIMIT) {
        const shown = whole.length > 24 ? `${whole.slice(0, 24)}…` : whole
        return `holds a number (${shown}) beyond ${METADATA_NUMBER_LIMIT} digits or an exponent beyond ±${METADATA_NUMBER_LIMIT}`
      }
      at += whole.length - 1
    }
  }
  return undefined
}

export type ValidationResult = { ok: true; record: LogRecord; bytes: number } | { ok: false; violation: Violation }

function invalid(field: string, reason: string): ValidationResult {
  return { ok: false, violation: { field, reason } }
}

/**
 * Which client timestamps intake accepts: none that retention would delete soon after storing, none from
 * a clock far ahead (it would top every newest-first list until that time). Entries without a timestamp
 * get the server's time and are never refused by this.
 */
export interface TimestampWindow {
  /** RETENTION_DAYS: retention keeps this many UTC days, today included (retention.ts). */
  retentionDays: number
  /** INGEST_MAX_FUTURE_SECONDS: how far ahead of the server's clock a timestamp may be. */
  maxFutureSeconds: number
}

/**
 * An entry is judged against the retention cut-off as it will be this long from now, so one accepted just
 * before midnight on the oldest kept day is not dropped by the first pass after midnight, before the
 * consumer has stored it (Kafka and the consumer take seconds; the margin leaves room for a lagging one).
 */
export const RETENTION_EDGE_MARGIN_MS = 3_600_000

/** The oldest timestamp, in microseconds, intake accepts at `nowMicros`. */
export function oldestAcceptedMicros(nowMicros: number, retentionDays: number): number {
  return oldestKeptDay(new Date(Math.floor(nowMicros / 1000) + RETENTION_EDGE_MARGIN_MS), retentionDays).getTime() * 1000
}

function outsideWindow(micros: number, nowMicros: number, window: TimestampWindow): Violation | undefined {
  const oldest = oldestAcceptedMicros(nowMicros, window.retentionDays)
  if (micros < oldest)
    return {
      field: 'timestamp',
      reason: `is ${formatMicros(micros)}, before ${formatMicros(oldest)}, the oldest time kept (RETENTION_DAYS=${window.retentionDays}); the next retention pass would delete it`,
    }
  if (micros > nowMicros + window.maxFutureSeconds * 1_000_000)
    return {
      field: 'timestamp',
      reason: `is ${formatMicros(micros)}, more than INGEST_MAX_FUTURE_SECONDS=${window.maxFutureSeconds} seconds ahead of the server's clock (${formatMicros(nowMicros)}); fix the sender's clock or leave the timestamp out to get the server's time`,
    }
  return undefined
}

function timestampMicros(input: LogEntryInput['timestamp'], now: () => number, window: TimestampWindow | undefined): number | Violation {
  if (!input) return now()
  const seconds = Number(input.seconds?.toString() ?? 0)
  const nanos = input.nanos ?? 0
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    return { field: 'timestamp', reason: 'seconds must be within 0001-01-01 and 9999-12-31' }
  }
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    return { field: 'timestamp', reason: 'nanos must be between 0 and 999999999' }
  }
  const micros = seconds * 1_000_000 + Math.floor(nanos / 1000)
  return (window && outsideWindow(micros, now(), window)) ?? micros
}

function normaliseTraceId(value: string): string | undefined {
  const lower = value.toLowerCase()
  const hex = UUID.test(lower) ? lower.replaceAll('-', '') : lower
  return HEX_TRACE.test(hex) && !ZERO.test(hex) ? hex : undefined
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    return false
  }
}

const nowMicros = () => Date.now() * 1000

/**
 * Checks one entry against every rule and returns the normalised record, or the first violation found.
 * Without `window` any timestamp in protobuf's range passes; intake always gives one (config).
 */
export function validateEntry(input: LogEntryInput, now: () => number = nowMicros, window?: TimestampWindow): ValidationResult {
  const service = input.service?.trim() ?? ''
  if (!service) return invalid('service', 'is required')
  if (service.length > Limits.serviceChars) return invalid('service', `must be at most ${Limits.serviceChars} characters`)

  const rawLevel = input.level ?? ''
  if (!rawLevel.trim()) return invalid('level', `is required; one of ${Levels.join(', ')}`)
  const level = normaliseLevel(rawLevel)
  if (!level) return invalid('level', `"${rawLevel.slice(0, 32)}" is not a level; use one of ${Levels.join(', ')}`)

  const message = input.message ?? ''
  if (!message.trim()) return invalid('message', 'is required')
  const messageBytes = utf8Bytes(message)
  if (messageBytes > Limits.messageBytes) return invalid('message', `is ${messageBytes} bytes; the limit is ${Limits.messageBytes}`)

  const metadata = input.metadata?.trim() || '{}'
  const metadataBytes = utf8Bytes(metadata)
  if (metadataBytes > Limits.metadataBytes) return invalid('metadata', `is ${metadataBytes} bytes; the limit is ${Limits.metadataBytes}`)
  if (!isJsonObject(metadata)) return invalid('metadata', 'must be a JSON object, e.g. {"user_id":"123"}')
  if (LONE_SURROGATE.test(metadata)) return invalid('metadata', UNPAIRED)
  const jsonb = jsonbProblem(metadata)
  if (jsonb) return invalid('metadata', jsonb)

  const rawTrace = input.trace_id?.trim() ?? ''
  const traceId = rawTrace ? normaliseTraceId(rawTrace) : ''
  if (traceId === undefined) return invalid('trace_id', 'must be 32 hex digits (W3C trace-context) or a UUID, and not all zeros')

  const spanId = input.span_id?.trim().toLowerCase() ?? ''
  if (spanId && (!HEX_SPAN.test(spanId) || ZERO.test(spanId))) return invalid('span_id', 'must be 16 hex digits (W3C trace-context), and not all zeros')

  const host = input.host?.trim() ?? ''
  if (host.length > Limits.hostChars) return invalid('host', `must be at most ${Limits.hostChars} characters`)

  const tags = input.tags ?? []
  if (tags.length > Limits.tags) return invalid('tags', `has ${tags.length} tags; the limit is ${Limits.tags}`)
  // Indexed loops and no intermediate arrays (iterators, tuples, the tags joined): this runs for every entry.
  let tagBytes = 0
  for (let position = 0; position < tags.length; position++) {
    const tag = tags[position]
    if (!tag?.trim()) return invalid('tags', `tag ${position} is empty`)
    if (tag.length > Limits.tagChars) return invalid('tags', `tag ${position} is longer than ${Limits.tagChars} characters`)
    if (LONE_SURROGATE.test(tag)) return invalid('tags', `tag ${position} ${UNPAIRED}`)
    tagBytes += utf8Bytes(tag)
  }

  const unstorable = textProblem('service', service) ?? textProblem('message', message) ?? textProblem('host', host) ?? tagWithNul(tags as string[])
  if (unstorable) return { ok: false, violation: unstorable }

  const micros = timestampMicros(input.timestamp, now, window)
  if (typeof micros !== 'number') return { ok: false, violation: micros }

  const bytes = utf8Bytes(service) + level.length + messageBytes + metadataBytes + traceId.length + spanId.length + utf8Bytes(host) + tagBytes
  if (bytes > Limits.entryBytes) return invalid('entry', `is ${bytes} bytes; the limit is ${Limits.entryBytes}`)

  const record: LogRecord = { timestampMicros: micros, service, level, message, metadata, traceId, spanId, host, tags: tags as string[] }
  if (!input.timestamp) record.timestampFromServer = true
  return { ok: true, bytes, record }
}

/** A NUL or an unpaired surrogate in one text field, which PostgreSQL or UTF-8 could not hold. */
function textProblem(field: string, value: string): Violation | undefined {
  if (value.includes(NUL)) return { field, reason: 'must not contain the NUL character' }
  if (LONE_SURROGATE.test(value)) return { field, reason: UNPAIRED }
  return undefined
}

function tagWithNul(tags: string[]): Violation | undefined {
  for (const tag of tags) if (tag.includes(NUL)) return { field: 'tags', reason: 'must not contain the NUL character' }
  return undefined
}

/** RFC 3339 in UTC with microseconds, e.g. 2024-11-06T12:00:00.123456Z. */
export function formatMicros(micros: number): string {
  const millis = Math.floor(micros / 1000)
  const iso = new Date(millis).toISOString()
  const extra = String(micros - millis * 1000).padStart(3, '0')
  return `${iso.slice(0, 23)}${extra}Z`
}
