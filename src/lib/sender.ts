import { createReadStream } from 'node:fs'
import { isIP } from 'node:net'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { checkServerIdentity } from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { service as healthService } from 'grpc-health-check'
import { ErrorCodes } from './errors.ts'
import { hostOf } from './host-port.ts'
import type { LogEntryInput } from './log-entry.ts'
import {
  decodeIngestResponse,
  ERROR_CODE_METADATA,
  INGEST_SERVICE_NAME,
  type IngestResponse,
  ingestService,
  RESPONSE_TRAILER,
  type WireLogEntry,
} from './proto.ts'
import { type Defaults, entryFromDocument } from './protocols/document.ts'
import { retry } from './retry.ts'

/**
 * The client side of `bun run send`: turns command-line messages or JSON lines into logstream.LogEntry
 * messages, sends them in batches to logstream.LogIngestion/Ingest, and tallies what the server accepted.
 * Parsing problems are reported per input line and never stop the rest of the input from being sent.
 */

/** A LogEntry as it goes on the wire; timestamps keep int64 seconds as a string. */
export type WireEntry = WireLogEntry

/** One input item: where it came from (for messages to the user), and either an entry or why none could be made. */
export type InputItem = { source: string; entry: WireEntry } | { source: string; problem: Problem }

export interface Problem {
  field: string
  reason: string
}

export type { Defaults }

export interface Rejection extends Problem {
  source: string
}

export interface SendSummary {
  /** Entries parsed from the input and sent to the server. */
  sent: number
  accepted: number
  /** Entries the server refused, plus input the sender could not parse. */
  rejected: number
  /** Entries in batches that failed as a whole (server unreachable, deadline, overload after retries). */
  failed: number
  batches: number
  rejections: Rejection[]
  errors: string[]
}

export interface SendOptions {
  address: string
  batchSize?: number
  /** Upper bound on a batch's encoded size; the server's default limit is 4 MiB per request. */
  batchMaxBytes?: number
  concurrency?: number
  timeoutMs?: number
  /** Retries of a batch refused as a whole with UNAVAILABLE, or RESOURCE_EXHAUSTED for overload (back-pressure). */
  retries?: number
  tls?: boolean
  /** PEM certificate(s) to trust with `tls`, e.g. a self-signed server certificate; the system's roots without. */
  ca?: Buffer
  /** API key, sent as `authorization: Bearer KEY` metadata on every call. */
  key?: string
  /** Keeps at most this many rejections in the summary; the counts are always complete. */
  maxRejections?: number
}

export const SendDefaults = {
  batchSize: 500,
  // Under the server's default GRPC_MAX_REQUEST_BYTES (4 MiB), with room for approximateBytes' error.
  batchMaxBytes: 3 * 1024 * 1024,
  concurrency: 4,
  timeoutMs: 30_000,
  retries: 3,
  maxRejections: 1000,
} as const

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, reply: Res) => void,
) => grpc.ClientUnaryCall

interface IngestClient extends grpc.Client {
  Ingest: Unary<{ logs: WireEntry[] }, IngestResponse>
}

interface HealthClient extends grpc.Client {
  Check: Unary<{ service: string }, { status: string }>
}

const IngestClientConstructor = grpc.makeClientConstructor(ingestService, INGEST_SERVICE_NAME)

function ingestClient(address: string, channel: Channel): IngestClient {
  return new IngestClientConstructor(address, channel.credentials, channel.options) as unknown as IngestClient
}

/** The IngestResponse the ingest service attaches to an INVALID_ARGUMENT refusal, if there is one. */
function describedRefusal(error: grpc.ServiceError): IngestResponse | undefined {
  const [trailer] = error.metadata?.get(RESPONSE_TRAILER) ?? []
  if (!Buffer.isBuffer(trailer)) return undefined
  try {
    return decodeIngestResponse(trailer)
  } catch {
    return undefined
  }
}

interface Channel {
  credentials: grpc.ChannelCredentials
  options: grpc.ChannelOptions
}

/** The TLS server name sent for an IP address target; see channelFor. */
const IP_SERVER_NAME = 'ip-address.invalid'

/**
 * How to reach `address`: plaintext, or TLS trusting `ca` (the system's roots without). grpc-js sends the
 * target's host as the TLS server name, which Bun refuses for an IP address; for an IP target another name
 * is sent instead, and the certificate is still checked against the IP itself.
 */
function channelFor(address: string, tls: boolean | undefined, ca?: Buffer): Channel {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} }
  const host = hostOf(address)
  if (!isIP(host)) return { credentials: grpc.credentials.createSsl(ca ?? null), options: {} }
  return {
    credentials: grpc.credentials.createSsl(ca ?? null, null, null, { checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) }),
    options: { 'grpc.ssl_target_name_override': IP_SERVER_NAME },
  }
}

/** Call metadata carrying the API key, if there is one. */
export function keyMetadata(key: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata()
  if (key) metadata.set('authorization', `Bearer ${key}`)
  return metadata
}

// ---------------------------------------------------------------------------------------------------
// Input

/** An entry as the wire wants it: the mapping's empty fields left out, so the server applies its own defaults. */
function wireEntry(entry: LogEntryInput): WireEntry {
  const wire: WireEntry = {}
  if (entry.timestamp) wire.timestamp = { seconds: String(entry.timestamp.seconds ?? 0), nanos: entry.timestamp.nanos ?? 0 }
  for (const field of ['service', 'level', 'message', 'metadata', 'trace_id', 'span_id', 'host'] as const) {
    const value = entry[field]
    if (value) wire[field] = value
  }
  wire.tags = (entry.tags ?? []).filter((tag): tag is string => typeof tag === 'string')
  return wire
}

/**
 * Maps one JSON object to a LogEntry the way every JSON intake does (src/lib/protocols/document.ts): our
 * field names, camelCase and ECS spellings, and every other field kept in `metadata`. The server
 * validates the values; this only checks what it must to build the message.
 */
export function entryFromJson(value: unknown, defaults: Defaults = {}): WireEntry | Problem {
  const parsed = entryFromDocument(value, defaults)
  return 'problem' in parsed ? parsed.problem : wireEntry(parsed.entry)
}

function itemFromValue(value: unknown, source: string, defaults: Defaults): InputItem {
  const parsed = entryFromDocument(value, defaults)
  return 'problem' in parsed ? { source, problem: parsed.problem } : { source, entry: wireEntry(parsed.entry) }
}

/** Parses a JSON line into an input item; blank lines yield nothing. */
export function itemFromLine(line: string, source: string, defaults: Defaults = {}): InputItem | undefined {
  if (!line.trim()) return undefined
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return { source, problem: { field: 'entry', reason: `not valid JSON: ${(error as Error).message}` } }
  }
  return itemFromValue(value, source, defaults)
}

/** Each argument is one log: a JSON object if it starts with "{", otherwise the message text. */
export function* itemsFromArgs(args: string[], defaults: Defaults = {}): Generator<InputItem> {
  for (const [position, arg] of args.entries()) {
    const source = `argument ${position + 1}`
    if (arg.trimStart().startsWith('{')) {
      const item = itemFromLine(arg, source, defaults)
      if (item) yield item
    } else {
      yield itemFromValue({ message: arg }, source, defaults)
    }
  }
}

/** JSON lines from a stream (stdin, a file), read line by line so large files are never held whole. */
export async function* itemsFromLines(input: Readable, label: string, defaults: Defaults = {}): AsyncGenerator<InputItem> {
  const lines = createInterface({ input, crlfDelay: Infinity })
  let number = 0
  for await (const line of lines) {
    number += 1
    const item = itemFromLine(line, `${label}:${number}`, defaults)
    if (item) yield item
  }
}

export function itemsFromFile(path: string, defaults: Defaults = {}): AsyncGenerator<InputItem> {
  return itemsFromLines(createReadStream(path), path, defaults)
}

// ---------------------------------------------------------------------------------------------------
// Sending

/**
 * Worth another attempt: the server is unreachable or stopping (UNAVAILABLE), overloaded (RESOURCE_EXHAUSTED
 * with INGEST_OVERLOADED) or the key is over its rate limit (RATE_LIMITED). A request over the server's size
 * limit is RESOURCE_EXHAUSTED too, but would be refused again.
 */
export function isRetryableRefusal(error: unknown): boolean {
  const { code, metadata } = error as grpc.ServiceError
  if (code === grpc.status.UNAVAILABLE) return true
  const errorCode = metadata?.get(ERROR_CODE_METADATA)[0]
  return code === grpc.status.RESOURCE_EXHAUSTED && (errorCode === ErrorCodes.INGEST_OVERLOADED || errorCode === ErrorCodes.RATE_LIMITED)
}

/** Backoff between attempts of one batch. */
const RETRY_BACKOFF = { minMs: 200, maxMs: 5000 }

function call(client: IngestClient, logs: WireEntry[], metadata: grpc.Metadata, timeoutMs: number): Promise<IngestResponse> {
  return new Promise((resolve, reject) => {
    client.Ingest({ logs }, metadata, { deadline: Date.now() + timeoutMs }, (error, reply) => (error ? reject(error) : resolve(reply)))
  })
}

// A rough size of an entry on the wire; it only has to keep a batch well under the server's request limit.
function approximateBytes(entry: WireEntry): number {
  let bytes = 32
  for (const value of Object.values(entry)) {
    if (typeof value === 'string') bytes += Buffer.byteLength(value) + 4
    else if (Array.isArray(value)) for (const tag of value) bytes += Buffer.byteLength(tag) + 4
  }
  return bytes
}

/**
 * Sends every item, `batchSize` entries per Ingest call with up to `concurrency` calls in flight, and
 * returns the tally. It never throws for a failed batch: the failure is counted and reported.
 */
export async function sendLogs(items: Iterable<InputItem> | AsyncIterable<InputItem>, options: SendOptions): Promise<SendSummary> {
  const batchSize = options.batchSize ?? SendDefaults.batchSize
  const batchMaxBytes = options.batchMaxBytes ?? SendDefaults.batchMaxBytes
  const concurrency = options.concurrency ?? SendDefaults.concurrency
  const timeoutMs = options.timeoutMs ?? SendDefaults.timeoutMs
  const retries = options.retries ?? SendDefaults.retries
  const maxRejections = options.maxRejections ?? SendDefaults.maxRejections

  const summary: SendSummary = { sent: 0, accepted: 0, rejected: 0, failed: 0, batches: 0, rejections: [], errors: [] }
  const reject = (rejection: Rejection) => {
    summary.rejected += 1
    if (summary.rejections.length < maxRejections) summary.rejections.push(rejection)
  }

  const client = ingestClient(options.address, channelFor(options.address, options.tls, options.ca))
  const metadata = keyMetadata(options.key)

  const sendBatch = async (batch: { source: string; entry: WireEntry }[]) => {
    const logs = batch.map((item) => item.entry)
    summary.batches += 1
    summary.sent += logs.length
    let reply: IngestResponse
    try {
      reply = await retry(() => call(client, logs, metadata, timeoutMs), { ...RETRY_BACKOFF, attempts: retries + 1, retryable: isRetryableRefusal })
    } catch (error) {
      const serviceError = error as grpc.ServiceError
      if (serviceError.code === grpc.status.INVALID_ARGUMENT) {
        // The server refuses a batch with no valid entry as a whole, describing each entry in a trailer.
        const described = describedRefusal(serviceError)
        if (described) {
          for (const rejection of described.rejections)
            reject({ source: batch[rejection.index]?.source ?? `entry ${rejection.index}`, field: rejection.field, reason: rejection.reason })
        } else {
          for (const item of batch) reject({ source: item.source, field: 'request', reason: serviceError.details || serviceError.message })
        }
        return
      }
      summary.failed += logs.length
      const first = batch[0]?.source ?? ''
      const last = batch[batch.length - 1]?.source ?? ''
      summary.errors.push(
        `${first === last ? first : `${first}..${last}`}: ${grpc.status[serviceError.code] ?? 'ERROR'}: ${serviceError.details || serviceError.message}`,
      )
      return
    }
    summary.accepted += reply.accepted
    for (const rejection of reply.rejections) {
      reject({ source: batch[rejection.index]?.source ?? `entry ${rejection.index}`, field: rejection.field, reason: rejection.reason })
    }
    // A server that reports a count without details still has its count honoured.
    const undetailed = reply.rejected - reply.rejections.length
    for (let index = 0; index < undetailed; index += 1) reject({ source: batch[0]?.source ?? '', field: 'entry', reason: reply.error || 'rejected' })
  }

  const inFlight = new Set<Promise<void>>()
  const dispatch = async (batch: { source: string; entry: WireEntry }[]) => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight)
    const pending = sendBatch(batch).finally(() => inFlight.delete(pending))
    inFlight.add(pending)
  }

  try {
    let batch: { source: string; entry: WireEntry }[] = []
    let batchBytes = 0
    for await (const item of items) {
      if ('problem' in item) {
        reject({ source: item.source, ...item.problem })
        continue
      }
      const bytes = approximateBytes(item.entry)
      if (batch.length > 0 && (batch.length >= batchSize || batchBytes + bytes > batchMaxBytes)) {
        await dispatch(batch)
        batch = []
        batchBytes = 0
      }
      batch.push(item as { source: string; entry: WireEntry })
      batchBytes += bytes
    }
    if (batch.length > 0) await dispatch(batch)
    await Promise.all(inFlight)
  } finally {
    client.close()
  }
  return summary
}

/** One line for people: what happened to the input as a whole. */
export function formatSummary(summary: SendSummary, address: string): string {
  return (
    `${summary.sent} sent to ${address} in ${summary.batches} batch${summary.batches === 1 ? '' : 'es'}: ` +
    `${summary.accepted} accepted, ${summary.rejected} rejected, ${summary.failed} failed`
  )
}

export const succeeded = (summary: SendSummary) => summary.rejected === 0 && summary.failed === 0 && summary.errors.length === 0

/**
 * Asks the standard grpc.health.v1 service whether the server is SERVING, first for the server as a whole ("")
 * and, if the server does not report that, for logstream.LogIngestion. A server that answers but has no
 * health service at all (UNIMPLEMENTED) is up, so that counts as healthy too.
 */
export async function checkHealth(address: string, options: { timeoutMs?: number; tls?: boolean; ca?: Buffer } = {}): Promise<{ ok: boolean; status: string }> {
  const Health = grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health')
  const channel = channelFor(address, options.tls, options.ca)
  const client = new Health(address, channel.credentials, channel.options) as unknown as HealthClient
  const deadline = Date.now() + (options.timeoutMs ?? 3000)
  const check = (service: string) =>
    new Promise<{ ok: boolean; status: string; notFound?: boolean }>((resolve) => {
      client.Check({ service }, new grpc.Metadata(), { deadline }, (error, reply) => {
        if (!error) resolve({ ok: reply.status === 'SERVING', status: reply.status })
        else if (error.code === grpc.status.UNIMPLEMENTED) resolve({ ok: true, status: 'UP (no health service)' })
        else
          resolve({
            ok: false,
            status: `${grpc.status[error.code] ?? 'ERROR'}: ${error.details || error.message}`,
            notFound: error.code === grpc.status.NOT_FOUND,
          })
      })
    })
  try {
    const overall = await check('')
    if (!overall.notFound) return { ok: overall.ok, status: overall.status }
    const { ok, status } = await check(INGEST_SERVICE_NAME)
    return { ok, status }
  } finally {
    client.close()
  }
}
