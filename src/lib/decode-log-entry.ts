import { isAscii } from 'node:buffer'
import type { LogEntryInput } from './log-entry.ts'
import { LogEntryType as LogEntry } from './proto.ts'

/**
 * A Kafka value's logstream.LogEntry as the plain fields validation reads: what protobufjs's decode and
 * toObject give, without their message objects, Long seconds and toObject pass, which the consumer would
 * otherwise pay for every message.
 *
 * The value is read directly when it holds only LogEntry's own fields (in any order, a repeated one
 * winning as in protobufjs), each with its own wire type, no negative numbers and int64 seconds of at
 * most 7 varint bytes (any time up to the year 9999 takes 6): what ingest sends to Kafka. Anything else
 * (an unknown field, a truncated string, a negative timestamp, a Uint8Array that is not a Buffer) goes
 * through protobufjs, so every value decodes, or fails, as it always has.
 */
export function decodeLogEntry(bytes: Uint8Array): LogEntryInput {
  return (Buffer.isBuffer(bytes) && readEntry(bytes)) || LogEntry.toObject(LogEntry.decode(bytes), { longs: String, defaults: false })
}

const WIRE_VARINT = 0
const WIRE_BYTES = 2

/** Where the last varint read ended: readVarint returns only its value, so that reading one allocates nothing. */
let varintEnd = 0

/** The varint at `at`, or -1 when it runs past `end` or beyond `maxBytes` bytes. */
function readVarint(buffer: Buffer, at: number, end: number, maxBytes: number): number {
  let value = 0
  let scale = 1
  for (let i = 0; i < maxBytes && at < end; i++) {
    const byte = buffer[at++]!
    value += (byte & 0x7f) * scale
    if (byte < 0x80) {
      varintEnd = at
      return value
    }
    scale *= 128
  }
  return -1
}

/** Node's and Bun's Buffer method behind toString('latin1'), without toString's argument handling. */
type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string }

/** undefined when the value is not laid out as described above: protobufjs decodes it instead. */
function readEntry(buffer: Buffer): LogEntryInput | undefined {
  // An ASCII value (the usual case) becomes one string whose slices are the fields, cheaper than a UTF-8
  // decode per field; otherwise each field is decoded as UTF-8 on its own, as protobufjs does.
  const text = isAscii(buffer) ? (buffer as Latin1Sliceable).latin1Slice(0, buffer.length) : undefined
  const entry: LogEntryInput & { tags: string[] } = {
    timestamp: null,
    service: '',
    level: '',
    message: '',
    metadata: '',
    trace_id: '',
    span_id: '',
    host: '',
    tags: [],
    timestamp_from_server: false,
  }
  const length = buffer.length
  let at = 0
  while (at < length) {
    // One byte holds the tag of fields 1 to 15; a byte of 0x80 or more starts a larger field number, not ours.
    const tag = buffer[at++]!
    if (tag === ((10 << 3) | WIRE_VARINT)) {
      const flag = readVarint(buffer, at, length, 1)
      if (flag < 0) return undefined
      entry.timestamp_from_server = flag !== 0
      at = varintEnd
      continue
    }
    const field = tag >>> 3
    if ((tag & 7) !== WIRE_BYTES || field < 1 || field > 9) return undefined
    const size = readVarint(buffer, at, length, 4)
    const start = varintEnd
    if (size < 0 || start + size > length) return undefined
    at = start + size
    if (field === 1) {
      entry.timestamp = readTimestamp(buffer, start, at)
      if (!entry.timestamp) return undefined
      continue
    }
    const value = text === undefined ? buffer.toString('utf8', start, at) : text.slice(start, at)
    switch (field) {
      case 2:
        entry.service = value
        break
      case 3:
        entry.level = value
        break
      case 4:
        entry.message = value
        break
      case 5:
        entry.metadata = value
        break
      case 6:
        entry.trace_id = value
        break
      case 7:
        entry.span_id = value
        break
      case 8:
        entry.host = value
        break
      default:
        entry.tags.push(value)
    }
  }
  return entry
}

/** google.protobuf.Timestamp: int64 seconds = 1, int32 nanos = 2; later occurrences win, as in protobufjs. */
function readTimestamp(buffer: Buffer, at: number, end: number): { seconds: number; nanos: number } | undefined {
  let seconds = 0
  let nanos = 0
  while (at < end) {
    const tag = buffer[at++]!
    if (tag === ((1 << 3) | WIRE_VARINT)) {
      seconds = readVarint(buffer, at, end, 7)
      if (seconds < 0) return undefined
      at = varintEnd
    } else if (tag === ((2 << 3) | WIRE_VARINT)) {
      nanos = readVarint(buffer, at, end, 5)
      // int32: a 5-byte varint can hold 2^31 or more, which protobufjs would wrap to a negative number.
      if (nanos < 0 || nanos > 0x7fffffff) return undefined
      at = varintEnd
    } else {
      return undefined
    }
  }
  return { seconds, nanos }
}
