import { RequestInvalidError } from '../errors.ts'
import { normaliseLevel } from '../levels.ts'
import type { LogEntryInput, Violation } from '../log-entry.ts'
import { DEFAULT_LEVEL, type Parsed, UNKNOWN_SERVICE } from './document.ts'

/**
 * OTLP logs to entries. The same walk reads a protobuf request decoded by protobufjs (camelCase names,
 * Long for 64-bit ints, Uint8Array for bytes) and an OTLP/JSON request (the same camelCase names, 64-bit
 * ints as strings, trace and span ids as hex), so both encodings map identically.
 *
 * Where things go: the resource's `service.name` and `host.name`, severity, body, time and ids become
 * the entry's own fields; record attributes are the top level of `metadata`, the resource's attributes
 * are under `resource`, the scope under `scope` (a record attribute that is itself named `resource` or
 * `scope` moves under `attributes`), so every attribute the exporter sent can be found again.
 */

type Long = { toString(): string }
type Int64 = string | number | bigint | Long

export interface AnyValue {
  stringValue?: string | null
  boolValue?: boolean | null
  intValue?: Int64 | null
  doubleValue?: number | null
  arrayValue?: { values?: AnyValue[] | null } | null
  kvlistValue?: { values?: KeyValue[] | null } | null
  bytesValue?: Uint8Array | string | null
}

export interface KeyValue {
  key: string
  value?: AnyValue | null
}

export interface OtlpLogRecord {
  timeUnixNano?: Int64 | null
  observedTimeUnixNano?: Int64 | null
  severityNumber?: number | string | null
  severityText?: string | null
  body?: AnyValue | null
  attributes?: KeyValue[] | null
  traceId?: Uint8Array | string | null
  spanId?: Uint8Array | string | null
  eventName?: string | null
}

export interface ExportLogsRequest {
  resourceLogs?:
    | {
        resource?: { attributes?: KeyValue[] | null } | null
        scopeLogs?:
          | { scope?: { name?: string | null; version?: string | null; attributes?: KeyValue[] | null } | null; logRecords?: OtlpLogRecord[] | null }[]
          | null
      }[]
    | null
}

const SEVERITY_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const

/**
 * severity_number 1–4 TRACE, 5–8 DEBUG, … 21–24 FATAL; else severity_text when it is a level's name; else
 * INFO. OTLP's severity_text is free-form ("the original string representation as known at the source"),
 * so one that names no level does not refuse the record: it is kept in metadata (see recordMetadata).
 */
export function otlpLevel(number: number | string | null | undefined, text: string | null | undefined): string {
  const n = typeof number === 'string' ? SEVERITY_NAMES[number] : number
  if (n && n >= 1 && n <= 24) return SEVERITY_LEVELS[Math.floor((n - 1) / 4)]!
  return (text?.trim() && normaliseLevel(text)) || DEFAULT_LEVEL
}

// OTLP/JSON may also spell the enum by name.
const SEVERITY_NAMES: Record<string, number> = Object.fromEntries(
  SEVERITY_LEVELS.flatMap((level, i) => [1, 2, 3, 4].map((k) => [`SEVERITY_NUMBER_${level}${k === 1 ? '' : k}`, i * 4 + k])),
)

function int64(value: Int64): number | string {
  const text = value.toString()
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : text
}

/** An AnyValue as plain JSON: ints beyond 2^53 stay exact as strings, bytes become base64. */
export function anyValue(value: AnyValue | null | undefined): unknown {
  if (!value) return null
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue
  if (value.intValue !== undefined && value.intValue !== null) return int64(value.intValue)
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(anyValue)
  if (value.kvlistValue) return attributes(value.kvlistValue.values)
  if (value.bytesValue !== undefined && value.bytesValue !== null) {
    return typeof value.bytesValue === 'string' ? value.bytesValue : Buffer.from(value.bytesValue).toString('base64')
  }
  return null
}

export function attributes(list: KeyValue[] | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const item of list ?? []) if (item?.key) out[item.key] = anyValue(item.value)
  return out
}

/** A trace or span id: bytes (protobuf) or hex (JSON); all zeros or empty means none. */
function hexId(value: Uint8Array | string | null | undefined, bytes: number, field: string): string | Violation {
  if (value === undefined || value === null || value.length === 0) return ''
  const hex = typeof value === 'string' ? value.toLowerCase() : Buffer.from(value).toString('hex')
  if (hex.length !== bytes * 2 || !/^[0-9a-f]+$/.test(hex)) return { field, reason: `must be ${bytes} bytes (${bytes * 2} hex digits in OTLP/JSON)` }
  return /^0+$/.test(hex) ? '' : hex
}

const NANOS_PER_SECOND = 1_000_000_000n

/** time_unix_nano, else observed_time_unix_nano; 0 on both means "now" (the server's time). */
function timestamp(record: OtlpLogRecord): LogEntryInput['timestamp'] | Violation {
  for (const value of [record.timeUnixNano, record.observedTimeUnixNano]) {
    if (value === undefined || value === null) continue
    const text = value.toString()
    if (!/^\d+$/.test(text)) return { field: 'timestamp', reason: 'time_unix_nano must be a whole number of nanoseconds' }
    const nanos = BigInt(text)
    if (nanos === 0n) continue
    return { seconds: String(nanos / NANOS_PER_SECOND), nanos: Number(nanos % NANOS_PER_SECOND) }
  }
  return null
}

function message(record: OtlpLogRecord): string {
  const body = anyValue(record.body)
  if (typeof body === 'string') return body
  if (body === null) return record.eventName ?? ''
  return JSON.stringify(body)
}

interface Context {
  service: string
  host: string
  resource: Record<string, unknown>
  scope: Record<string, unknown> | undefined
}

function recordMetadata(record: OtlpLogRecord, context: Context): string {
  const own = attributes(record.attributes)
  const metadata: Record<string, unknown> = {}
  const moved: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(own)) {
    if (key === 'resource' || key === 'scope') moved[key] = value
    else metadata[key] = value
  }
  if (record.eventName) metadata['event.name'] ??= record.eventName
  // The source's own severity name, where it is none of ours (e.g. "notice2"): otherwise it would be lost.
  if (record.severityText?.trim() && !normaliseLevel(record.severityText)) metadata.severity_text ??= record.severityText
  if (Object.keys(context.resource).length > 0) metadata.resource = context.resource
  if (context.scope) metadata.scope = context.scope
  if (Object.keys(moved).length > 0) metadata.attributes = moved
  return Object.keys(metadata).length > 0 ? JSON.stringify(metadata) : ''
}

function entry(record: OtlpLogRecord, context: Context): Parsed {
  const time = timestamp(record)
  if (time && 'reason' in time) return { problem: time }
  const traceId = hexId(record.traceId, 16, 'trace_id')
  if (typeof traceId !== 'string') return { problem: traceId }
  const spanId = hexId(record.spanId, 8, 'span_id')
  if (typeof spanId !== 'string') return { problem: spanId }
  const own = attributes(record.attributes)
  return {
    entry: {
      timestamp: time,
      service: context.service,
      level: otlpLevel(record.severityNumber, record.severityText),
      message: message(record),
      metadata: recordMetadata(record, context),
      trace_id: traceId,
      span_id: spanId,
      host: context.host || (typeof own['host.name'] === 'string' ? own['host.name'] : ''),
      tags: [],
    },
  }
}

function scopeMetadata(scope: { name?: string | null; version?: string | null; attributes?: KeyValue[] | null } | null | undefined) {
  if (!scope) return undefined
  const out: Record<string, unknown> = {}
  if (scope.name) out.name = scope.name
  if (scope.version) out.version = scope.version
  const attrs = attributes(scope.attributes)
  if (Object.keys(attrs).length > 0) out.attributes = attrs
  return Object.keys(out).length > 0 ? out : undefined
}

/** Every log record of the request, in order, each as an entry or the reason it cannot be one. */
export function otlpEntries(request: ExportLogsRequest): Parsed[] {
  const out: Parsed[] = []
  for (const resourceLogs of request.resourceLogs ?? []) {
    const resource = attributes(resourceLogs?.resource?.attributes)
    const service = typeof resource['service.name'] === 'string' && resource['service.name'] ? resource['service.name'] : UNKNOWN_SERVICE
    const host = typeof resource['host.name'] === 'string' ? resource['host.name'] : ''
    for (const scopeLogs of resourceLogs?.scopeLogs ?? []) {
      const context: Context = { service, host, resource, scope: scopeMetadata(scopeLogs?.scope) }
      for (const record of scopeLogs?.logRecords ?? []) out.push(entry(record ?? {}, context))
    }
  }
  return out
}

/**
 * The records of an OTLP/JSON body. JSON can put any type anywhere, which a decoded protobuf cannot: a body
 * that is not an object, or whose fields have types the walk cannot take (a number where a list, a text or
 * an id belongs), is not an ExportLogsServiceRequest. It is refused as such (RequestInvalidError), not
 * failed as an internal error or taken for an empty request.
 */
export function otlpJsonEntries(text: string): Parsed[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new RequestInvalidError(`not OTLP/JSON: ${(error as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestInvalidError('not OTLP/JSON: the body must be an ExportLogsServiceRequest object')
  }
  try {
    return otlpEntries(value as ExportLogsRequest)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    throw new RequestInvalidError('not an OTLP/JSON ExportLogsServiceRequest: a field has a type its schema does not allow, e.g. a number where a list belongs')
  }
}

/** The answer OTLP defines: empty on full success, partial_success when some records were refused. */
export function exportResponse(rejected: number, errorMessage: string): { partialSuccess?: { rejectedLogRecords: number; errorMessage: string } } {
  return rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage } } : {}
}
