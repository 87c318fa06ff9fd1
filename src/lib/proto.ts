import type { ServiceDefinition } from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import protobuf from 'protobufjs'
import type { LogEntryInput } from './log-entry.ts'

/**
 * proto/logs.proto, loaded once for the whole project: the protobufjs types (Kafka values, the ingest
 * service's own request decoding), the grpc-js service definition (server and clients), the reflection
 * package definition, and the names of the metadata the ingest service sends.
 */

// keepCase: field names stay as in the .proto (trace_id, span_id); protobufjs would otherwise camel-case
// them and silently drop the snake_case keys we pass.
const root = new protobuf.Root().loadSync(new URL('../../proto/logs.proto', import.meta.url).pathname, { keepCase: true })
root.resolveAll()

export const LogEntryType = root.lookupType('logstream.LogEntry')
export const IngestRequestType = root.lookupType('logstream.IngestRequest')
export const IngestResponseType = root.lookupType('logstream.IngestResponse')

export const INGEST_SERVICE_NAME = 'logstream.LogIngestion'
export const INGEST_METHOD_PATH = `/${INGEST_SERVICE_NAME}/Ingest`

/** Binary trailer of an INVALID_ARGUMENT refusal: an encoded IngestResponse describing every rejected entry. */
export const RESPONSE_TRAILER = 'logstream-ingest-response-bin'
/** Metadata of every refusal: the error's stable code (src/lib/errors.ts), e.g. INGEST_OVERLOADED. */
export const ERROR_CODE_METADATA = 'logstream-error-code'

/** A google.protobuf.Timestamp as clients give it; int64 seconds may be a string. */
export interface WireTimestamp {
  seconds: number | string
  nanos?: number
}

/** A logstream.LogEntry as a client sends it (proto3: every field may be absent). */
export interface WireLogEntry {
  timestamp?: WireTimestamp | null
  service?: string
  level?: string
  message?: string
  metadata?: string
  trace_id?: string
  span_id?: string
  host?: string
  tags?: string[]
}

export interface IngestRequest {
  logs: WireLogEntry[]
}

export interface Rejection {
  /** Position of the entry in IngestRequest.logs. */
  index: number
  /** The offending field, e.g. "level"; "entry" for the entry as a whole. */
  field: string
  reason: string
}

export interface IngestResponse {
  accepted: number
  rejected: number
  /** A summary of the rejections, empty when every entry was accepted. */
  error: string
  rejections: Rejection[]
}

/** One LogEntry of a received request: its decoded fields, and its bytes exactly as they arrived. */
export interface ReceivedEntry {
  input: LogEntryInput
  bytes: Uint8Array
}

/** A received IngestRequest, and its size on the wire; or why it could not be decoded (the client's fault). */
export interface ReceivedRequest {
  logs: ReceivedEntry[]
  bytes: number
  problem?: string
}

interface DecodedLogEntry {
  timestamp?: { seconds: number | { toNumber(): number }; nanos: number } | null
  service: string
  level: string
  message: string
  metadata: string
  trace_id: string
  span_id: string
  host: string
  tags: string[]
  timestamp_from_server: boolean
}

const LOGS_FIELD_TAG = (1 << 3) | 2

/**
 * Decodes an IngestRequest by walking its `logs` field ourselves, so that each entry keeps its original
 * bytes (sent on to Kafka as they are when already canonical) and the int64 seconds become a number
 * directly, without protobufjs's toObject pass.
 */
export function decodeIngestRequest(buffer: Uint8Array): ReceivedRequest {
  // Never throws: grpc-js answers a throwing deserializer with INTERNAL, where a malformed payload is INVALID_ARGUMENT.
  try {
    return { logs: decodeLogs(buffer), bytes: buffer.length }
  } catch (error) {
    return { logs: [], bytes: buffer.length, problem: `not a protobuf IngestRequest: ${(error as Error).message}` }
  }
}

function decodeLogs(buffer: Uint8Array): ReceivedEntry[] {
  const reader = protobuf.Reader.create(buffer)
  const logs: ReceivedEntry[] = []
  while (reader.pos < reader.len) {
    const tag = reader.uint32()
    if (tag !== LOGS_FIELD_TAG) {
      reader.skipType(tag & 7)
      continue
    }
    const length = reader.uint32()
    const end = reader.pos + length
    if (end > reader.len) throw new RangeError('IngestRequest.logs entry is truncated')
    const bytes = buffer.subarray(reader.pos, end)
    reader.pos = end
    const entry = LogEntryType.decode(bytes) as unknown as DecodedLogEntry
    const timestamp = entry.timestamp
    const seconds = timestamp ? (typeof timestamp.seconds === 'number' ? timestamp.seconds : timestamp.seconds.toNumber()) : 0
    logs.push({
      bytes,
      input: {
        timestamp: timestamp ? { seconds, nanos: timestamp.nanos } : null,
        service: entry.service,
        level: entry.level,
        message: entry.message,
        metadata: entry.metadata,
        trace_id: entry.trace_id,
        span_id: entry.span_id,
        host: entry.host,
        tags: entry.tags,
        // Kept so intake can tell these bytes carry the flag; validation itself ignores it.
        timestamp_from_server: entry.timestamp_from_server,
      },
    })
  }
  return logs
}

/**
 * `bytes` as a Buffer over the same memory. protobufjs encodes into a Buffer under Bun, which is returned as
 * it is: wrapping it again would read its `.buffer`, which makes the engine copy a small typed array out of
 * its heap.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function encodeIngestRequest(request: IngestRequest): Buffer {
  const message = IngestRequestType.fromObject(request)
  return asBuffer(IngestRequestType.encode(message).finish())
}

export function encodeIngestResponse(response: IngestResponse): Buffer {
  return asBuffer(IngestResponseType.encode(response).finish())
}

export function decodeIngestResponse(bytes: Uint8Array): IngestResponse {
  return IngestResponseType.toObject(IngestResponseType.decode(bytes), { defaults: true, arrays: true }) as IngestResponse
}

/**
 * logstream.LogIngestion for grpc-js, built from the same types: servers get `decodeIngestRequest`'s
 * ReceivedRequest, clients send IngestRequest objects and get plain IngestResponse objects.
 */
export const ingestService = {
  Ingest: {
    path: INGEST_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeIngestRequest,
    requestDeserialize: decodeIngestRequest,
    responseSerialize: encodeIngestResponse,
    responseDeserialize: decodeIngestResponse,
    originalName: 'ingest',
  },
} satisfies ServiceDefinition

/** For gRPC reflection, which needs file descriptors: built from the same Root, not by loading the file again. */
export function reflectionDefinition(): protoLoader.PackageDefinition {
  return protoLoader.fromJSON(root.toJSON(), { keepCase: true })
}

/**
 * The shippers' protocols, from the same proto/ folder: OTLP logs (also its gRPC service), Loki's push
 * request and google.rpc.Status with RetryInfo. Loaded with protobufjs's default camelCase names, which are
 * exactly the OTLP/JSON field names, so one mapping reads a decoded protobuf and a JSON body alike.
 */
const shippersRoot = new protobuf.Root().loadSync(
  ['opentelemetry/logs.proto', 'loki/push.proto', 'google/rpc/status.proto'].map((file) => new URL(`../../proto/${file}`, import.meta.url).pathname),
)
shippersRoot.resolveAll()

export const ExportLogsRequestType = shippersRoot.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest')
export const ExportLogsResponseType = shippersRoot.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse')
export const LokiPushRequestType = shippersRoot.lookupType('logproto.PushRequest')
export const RpcStatusType = shippersRoot.lookupType('google.rpc.Status')
export const RetryInfoType = shippersRoot.lookupType('google.rpc.RetryInfo')

export const OTLP_LOGS_SERVICE_NAME = 'opentelemetry.proto.collector.logs.v1.LogsService'
export const OTLP_EXPORT_PATH = `/${OTLP_LOGS_SERVICE_NAME}/Export`

const encodeAs = (type: protobuf.Type) => (value: object) => asBuffer(type.encode(type.fromObject(value)).finish())

/**
 * A google.rpc.Status whose details hold a RetryInfo: what a retryable gRPC refusal carries in
 * grpc-status-details-bin so clients (OTLP exporters above all) know when to retry.
 */
export function encodeRetryStatus(code: number, message: string, retryDelayMs: number): Buffer {
  const seconds = Math.floor(retryDelayMs / 1000)
  const nanos = Math.round(retryDelayMs % 1000) * 1_000_000
  const retryDelay = nanos === 0 ? { seconds } : { seconds, nanos }
  return encodeAs(RpcStatusType)({
    code,
    message,
    details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: encodeAs(RetryInfoType)({ retryDelay }) }],
  })
}

/** The metadata key of a status's google.rpc.Status (with RetryInfo), as gRPC defines it. */
export const STATUS_DETAILS_METADATA = 'grpc-status-details-bin'

/** A received OTLP export: the decoded request, or why it could not be decoded (the client's fault, not ours). */
export interface ReceivedExport {
  request?: ExportLogsRequestObject
  problem?: string
  bytes: number
}

/** ExportLogsServiceRequest as protobufjs's toObject gives it: camelCase, 64-bit ints as strings, bytes as bytes. */
export type ExportLogsRequestObject = Record<string, unknown>

/** Never throws: grpc-js would answer a throwing deserializer with INTERNAL, where a malformed payload is INVALID_ARGUMENT. */
export function decodeExportRequest(buffer: Buffer): ReceivedExport {
  try {
    return { request: ExportLogsRequestType.toObject(ExportLogsRequestType.decode(buffer), { longs: String, defaults: false }), bytes: buffer.length }
  } catch (error) {
    return { problem: `not a protobuf ExportLogsServiceRequest: ${(error as Error).message}`, bytes: buffer.length }
  }
}

/**
 * The OTLP logs service for grpc-js: requests are decoded to plain objects (64-bit ints as strings, bytes
 * kept as bytes), the shape src/lib/protocols/otlp.ts maps.
 */
export const otlpLogsService = {
  Export: {
    path: OTLP_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeAs(ExportLogsRequestType),
    requestDeserialize: decodeExportRequest,
    responseSerialize: encodeAs(ExportLogsResponseType),
    responseDeserialize: (buffer: Buffer) => ExportLogsResponseType.toObject(ExportLogsResponseType.decode(buffer), { longs: Number }),
    originalName: 'export',
  },
} satisfies ServiceDefinition
