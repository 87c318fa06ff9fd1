import { normaliseLevel } from '../levels.ts'
import type { LogEntryInput, Violation } from '../log-entry.ts'
import { DEFAULT_LEVEL, type Parsed, UNKNOWN_SERVICE } from './document.ts'

/**
 * Loki push requests to entries, from JSON (`{"streams":[{"stream":{…},"values":[["<ns>","line",{…}]]}]}`)
 * or from the protobuf PushRequest (labels as Prometheus text, entries with a Timestamp). A stream's
 * labels and an entry's structured metadata are kept in `metadata` (a structured-metadata key that
 * collides with a label moves under `structured_metadata`); service, level and host are read from them.
 */

export const LokiLabels = {
  service: ['service_name', 'service', 'app', 'application', 'job'],
  level: ['level', 'detected_level', 'severity', 'lvl'],
  host: ['host', 'hostname', 'host_name', 'instance'],
} as const

export interface LokiJsonRequest {
  streams?: { stream?: Record<string, unknown> | null; values?: unknown[] | null }[] | null
}

type Long = { toString(): string }

export interface LokiProtoRequest {
  streams?:
    | {
        labels?: string | null
        entries?:
          | {
              timestamp?: { seconds?: number | Long | null; nanos?: number | null } | null
              line?: string | null
              structuredMetadata?: { name: string; value: string }[] | null
            }[]
          | null
      }[]
    | null
}

const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\})/y
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"' }

/** `{job="web", level="info"}` to an object; undefined when the text is not Prometheus label syntax. */
export function parseLabels(text: string): Record<string, string> | undefined {
  const source = text.trim()
  if (source === '{}' || source === '') return {}
  if (!source.startsWith('{')) return undefined
  const labels: Record<string, string> = {}
  LABEL.lastIndex = 1
  while (LABEL.lastIndex < source.length) {
    const match = LABEL.exec(source)
    if (!match) return undefined
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, char: string) => ESCAPES[char] ?? char)
    if (match[3] === '}') return LABEL.lastIndex === source.length ? labels : undefined
  }
  return undefined
}

const first = (source: Record<string, unknown>, names: readonly string[]) => {
  for (const name of names) {
    const value = source[name]
    if (typeof value === 'string' && value.trim()) return value
  }
  return undefined
}

function entry(labels: Record<string, string>, time: LogEntryInput['timestamp'], line: string, structured: Record<string, string>): Parsed {
  const both = { ...structured, ...labels }
  const metadata: Record<string, unknown> = { ...labels }
  const collided: Record<string, string> = {}
  for (const [key, value] of Object.entries(structured)) {
    if (key in labels) collided[key] = value
    else metadata[key] = value
  }
  if (Object.keys(collided).length > 0) metadata.structured_metadata = collided
  const level = first(both, LokiLabels.level)
  return {
    entry: {
      timestamp: time,
      service: first(labels, LokiLabels.service) ?? first(structured, LokiLabels.service) ?? UNKNOWN_SERVICE,
      // Loki takes any level value (its own detected_level may be "unknown"), and Promtail drops a push
      // answered 400: one that names none of our levels is stored as INFO; the label itself is in metadata.
      level: (level && normaliseLevel(level)) || DEFAULT_LEVEL,
      message: line,
      metadata: Object.keys(metadata).length > 0 ? JSON.stringify(metadata) : '',
      trace_id: first(structured, ['trace_id', 'traceID', 'traceId']) ?? '',
      span_id: first(structured, ['span_id', 'spanID', 'spanId']) ?? '',
      host: first(both, LokiLabels.host) ?? '',
      tags: [],
    },
  }
}

/** Loki's timestamps are nanoseconds since the epoch, as a decimal string. */
function nanosTimestamp(value: unknown): LogEntryInput['timestamp'] | Violation {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value
  if (typeof text !== 'string' || !/^\d{1,20}$/.test(text))
    return { field: 'timestamp', reason: 'must be nanoseconds since the epoch as a string, e.g. "1700000000000000000"' }
  const nanos = BigInt(text)
  return { seconds: String(nanos / 1_000_000_000n), nanos: Number(nanos % 1_000_000_000n) }
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) return undefined
  const out: Record<string, string> = {}
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') return undefined
    out[key] = item
  }
  return out
}

const problem = (field: string, reason: string): Parsed => ({ problem: { field, reason } })

function jsonValue(labels: Record<string, string>, value: unknown): Parsed {
  if (!Array.isArray(value) || value.length < 2 || value.length > 3)
    return problem('entry', 'must be ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}]')
  const time = nanosTimestamp(value[0])
  if (time && 'reason' in time) return { problem: time }
  if (typeof value[1] !== 'string') return problem('message', 'the log line must be a string')
  const structured = stringMap(value[2])
  if (!structured) return problem('metadata', 'structured metadata must be an object of strings')
  return entry(labels, time, value[1], structured)
}

/** Every entry of a JSON push, in order. */
export function lokiJsonEntries(request: LokiJsonRequest): Parsed[] {
  const out: Parsed[] = []
  for (const stream of request.streams ?? []) {
    const labels = stringMap(stream?.stream)
    const values: unknown = stream?.values ?? []
    // A stream whose values are not a list is one problem, not a TypeError (a 500) or a problem per character.
    if (!Array.isArray(values)) {
      out.push(problem('values', 'a stream\'s values must be a list of ["<unix ns>", "<line>"] entries'))
      continue
    }
    for (const value of values) {
      out.push(labels ? jsonValue(labels, value) : problem('labels', 'stream labels must be an object of strings'))
    }
  }
  return out
}

/** Every entry of a protobuf push, in order. */
export function lokiProtoEntries(request: LokiProtoRequest): Parsed[] {
  const out: Parsed[] = []
  for (const stream of request.streams ?? []) {
    const labels = parseLabels(stream?.labels ?? '')
    for (const item of stream?.entries ?? []) {
      if (!labels) {
        out.push(problem('labels', `not Prometheus label syntax: ${JSON.stringify((stream?.labels ?? '').slice(0, 100))}`))
        continue
      }
      const ts = item?.timestamp
      const time = ts ? { seconds: String(ts.seconds ?? 0), nanos: ts.nanos ?? 0 } : null
      const structured = Object.fromEntries((item?.structuredMetadata ?? []).map(({ name, value }) => [name, value]))
      out.push(entry(labels, time, item?.line ?? '', structured))
    }
  }
  return out
}
