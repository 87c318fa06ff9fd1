import type { LogEntryInput, Violation } from '../log-entry.ts'
import { parseRfc3339 } from '../time-range.ts'

/**
 * One JSON object to one log entry: the mapping shared by `bun run send`, the JSON-lines endpoint and
 * Elasticsearch bulk documents. Known fields are read under their common spellings (our proto names,
 * camelCase, ECS dotted or nested); every other field is kept in `metadata` as sent, so nothing a shipper
 * sends is silently dropped.
 */

export type Parsed = { entry: LogEntryInput } | { problem: Violation }

/** Values for fields a document does not carry (e.g. query parameters of the JSON-lines endpoint, send's flags). */
export interface Defaults {
  service?: string
  level?: string
  host?: string
  tags?: string[]
}

/** OpenTelemetry's name for a service that did not say: a missing service is a default, not a rejection. */
export const UNKNOWN_SERVICE = 'unknown_service'
/** What a log that states no level is stored as (Datadog does the same). */
export const DEFAULT_LEVEL = 'INFO'

/** Field spellings, first match wins. A dotted name matches a dotted key ("log.level") or the nested path. */
export const DocumentFields = {
  service: ['service', 'service.name', 'service_name'],
  level: ['level', 'severity', 'log.level', 'levelname', 'severity_text'],
  message: ['message', 'msg', 'log'],
  timestamp: ['timestamp', '@timestamp', 'time', 'ts'],
  traceId: ['trace_id', 'traceId', 'trace.id'],
  spanId: ['span_id', 'spanId', 'span.id'],
  host: ['host', 'hostname', 'host.name'],
} as const

type JsonObject = Record<string, unknown>

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Removes the field at `path` from `doc` (a private copy) and returns its value. Objects on the way are
 * copied before they change, and left out once empty, so `{"log":{"level":"x","file":"y"}}` keeps
 * `{"log":{"file":"y"}}`.
 */
function take(doc: JsonObject, path: string): unknown {
  if (path in doc) {
    const value = doc[path]
    delete doc[path]
    return value
  }
  const dot = path.indexOf('.')
  if (dot < 0) return undefined
  const head = path.slice(0, dot)
  const parent = doc[head]
  if (!isObject(parent)) return undefined
  const copy = { ...parent }
  const value = take(copy, path.slice(dot + 1))
  if (value === undefined) return undefined
  if (Object.keys(copy).length === 0) delete doc[head]
  else doc[head] = copy
  return value
}

/** The first spelling present whose value is a string, number or boolean; objects are left in place. */
function takeScalar(doc: JsonObject, names: readonly string[], field: string): string | undefined | Violation {
  for (const name of names) {
    const peek = name in doc ? doc[name] : peekPath(doc, name)
    if (peek === undefined || peek === null) continue
    if (isObject(peek)) continue
    take(doc, name)
    if (typeof peek === 'string') return peek
    if (typeof peek === 'number' || typeof peek === 'boolean') return String(peek)
    return { field, reason: `must be a string, got ${Array.isArray(peek) ? 'an array' : typeof peek}` }
  }
  return undefined
}

function peekPath(doc: JsonObject, path: string): unknown {
  let current: unknown = doc
  for (const part of path.split('.')) {
    if (!isObject(current)) return undefined
    current = current[part]
  }
  return current
}

const isViolation = (value: unknown): value is Violation => isObject(value) && 'reason' in value

/** pino's numeric levels, the most common numbers in JSON logs. */
const PINO_LEVELS: Record<string, string> = { '10': 'TRACE', '20': 'DEBUG', '30': 'INFO', '40': 'WARN', '50': 'ERROR', '60': 'FATAL' }

export const TIMESTAMP_HINT = 'must be RFC 3339 (e.g. 2024-11-06T12:00:00.123Z), epoch milliseconds, or {"seconds","nanos"}'

/** RFC 3339 to the nanosecond, epoch milliseconds, or {seconds, nanos} (Date.parse alone would drop sub-milliseconds). */
export function parseTimestamp(value: unknown): LogEntryInput['timestamp'] | Violation {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const seconds = Math.floor(value / 1000)
    return { seconds: String(seconds), nanos: Math.round((value - seconds * 1000) * 1_000_000) }
  }
  if (typeof value === 'string') {
    const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(value.trim())
    // parseRfc3339 checks the calendar: Date.parse silently rolls 2024-02-30 over to March 1st.
    const micros = match ? parseRfc3339(`${match[1]}${match[3]}`) : undefined
    if (match && micros !== undefined) return { seconds: String(Math.floor(micros / 1_000_000)), nanos: Number((match[2] ?? '').padEnd(9, '0')) }
  }
  if (isObject(value) && 'seconds' in value) {
    const { seconds, nanos } = value as { seconds: unknown; nanos?: unknown }
    if ((typeof seconds === 'number' || typeof seconds === 'string') && /^-?\d+$/.test(String(seconds))) {
      return { seconds: String(seconds), nanos: typeof nanos === 'number' ? nanos : 0 }
    }
  }
  return { field: 'timestamp', reason: TIMESTAMP_HINT }
}

function takeTimestamp(doc: JsonObject): LogEntryInput['timestamp'] | Violation | undefined {
  for (const name of DocumentFields.timestamp) {
    if (!(name in doc) || doc[name] === null || doc[name] === undefined) continue
    return parseTimestamp(take(doc, name))
  }
  return undefined
}

function takeTags(doc: JsonObject): string[] | Violation {
  const tags = take(doc, 'tags')
  if (tags === undefined || tags === null) return []
  if (typeof tags === 'string')
    return tags
      .split(',')
      .map((tag) => tag.trim())
      .filter(Boolean)
  if (Array.isArray(tags) && tags.every((tag) => typeof tag === 'string')) return tags
  return { field: 'tags', reason: 'must be an array of strings or "a,b"' }
}

/** An explicit `metadata` (an object, or JSON text of one) is the base; every unmapped field joins it. */
function takeMetadata(doc: JsonObject): JsonObject | Violation {
  const metadata = take(doc, 'metadata')
  if (metadata === undefined || metadata === null) return {}
  if (isObject(metadata)) return metadata
  if (typeof metadata === 'string') {
    try {
      const parsed: unknown = JSON.parse(metadata || '{}')
      if (isObject(parsed)) return parsed
    } catch {}
  }
  return { field: 'metadata', reason: 'must be a JSON object, e.g. {"user_id":"123"}' }
}

function level(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  return PINO_LEVELS[raw.trim()] ?? raw
}

/**
 * Maps one JSON value to an entry. The message and level are required by validation later; here only
 * the shape is checked. Fields the document does not name come from `defaults`, and a document that
 * names no service at all gets `defaults.service` or UNKNOWN_SERVICE.
 */
export function entryFromDocument(value: unknown, defaults: Defaults = {}): Parsed {
  if (!isObject(value)) return { problem: { field: 'entry', reason: 'must be a JSON object' } }
  const doc: JsonObject = { ...value }
  const scalars = {
    service: takeScalar(doc, DocumentFields.service, 'service'),
    level: takeScalar(doc, DocumentFields.level, 'level'),
    message: takeScalar(doc, DocumentFields.message, 'message'),
    trace_id: takeScalar(doc, DocumentFields.traceId, 'trace_id'),
    span_id: takeScalar(doc, DocumentFields.spanId, 'span_id'),
    host: takeScalar(doc, DocumentFields.host, 'host'),
  }
  for (const item of Object.values(scalars)) if (isViolation(item)) return { problem: item }
  const fields = scalars as Record<keyof typeof scalars, string | undefined>
  const timestamp = takeTimestamp(doc)
  if (isViolation(timestamp)) return { problem: timestamp }
  const tags = takeTags(doc)
  if (isViolation(tags)) return { problem: tags }
  const metadata = takeMetadata(doc)
  if (isViolation(metadata)) return { problem: metadata }

  const rest = { ...doc, ...metadata }
  return {
    entry: {
      timestamp: timestamp ?? null,
      service: fields.service || defaults.service || UNKNOWN_SERVICE,
      level: level(fields.level) || defaults.level || DEFAULT_LEVEL,
      message: fields.message ?? '',
      metadata: Object.keys(rest).length > 0 ? JSON.stringify(rest) : '',
      trace_id: fields.trace_id ?? '',
      span_id: fields.span_id ?? '',
      host: fields.host || defaults.host || '',
      tags: [...(defaults.tags ?? []), ...tags],
    },
  }
}
