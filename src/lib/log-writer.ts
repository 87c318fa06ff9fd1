import { createConnection, type Socket } from 'node:net'
import postgres from 'postgres'
import { contentKey } from './content-key.ts'
import { classifyDatabaseError } from './database-errors.ts'
import { type Sql, types } from './db.ts'
import { formatMicros, type LogRecord } from './log-entry.ts'
import { announcements, LOGS_STORED_CHANNEL, type StoredKey } from './tail/announcement.ts'

/**
 * A decoded Kafka message on its way to a row. (partition, offset) makes a re-delivered message a no-op;
 * the record's content key (content-key.ts) does the same for an entry its sender sent again.
 */
export interface PendingRow {
  partition: number
  offset: bigint
  record: LogRecord
}

export interface Rejection<T extends PendingRow> {
  row: T
  error: Error
}

export interface WriteResult<T extends PendingRow> {
  /** Rows newly inserted; re-delivered rows already stored are not counted. */
  inserted: number
  /** Rows PostgreSQL refused on their own (a constraint, an unstorable value); their neighbours are stored. */
  rejected: Rejection<T>[]
}

export interface LogWriter {
  /**
   * Stores `rows` once each: a row already stored (same timestamp, partition, offset; or, when its sender
   * gave the timestamp, same timestamp and content key) is skipped, so writing a re-delivered batch again
   * is a no-op, and so is a resent entry. Throws DatabaseUnavailableError when the server or
   * connection is gone (or on a transient conflict such as a deadlock), with nothing known about what was
   * stored (re-writing is then safe); any other failure is narrowed down to the offending rows, which
   * come back in `rejected`. The rows it inserts are announced to the query processes' live tail
   * (tail/announcement.ts) in the same transaction, so an announcement arrives exactly when its rows are
   * committed, and a re-delivered row, inserting nothing, is not announced again. Nor is it counted twice:
   * log_counts (schema.sql) is kept by triggers on logs from the rows each statement actually inserted.
   */
  write<T extends PendingRow>(rows: T[]): Promise<WriteResult<T>>
}

export const insertColumns = [
  'timestamp',
  'service',
  'level',
  'message',
  'metadata',
  'trace_id',
  'span_id',
  'host',
  'tags',
  'kafka_partition',
  'kafka_offset',
  'content_key',
] as const

/**
 * Bulk path: one INSERT ... SELECT FROM unnest(...) per batch, one array parameter per column. Plain COPY
 * cannot skip re-delivered rows; COPY into a staging table then INSERT ... ON CONFLICT can, but was no
 * faster (README, Consumer: index upkeep dominates both) and needs a temp table and a reserved connection,
 * where this is one statement and one round trip.
 */
const INSERT_UNNEST = `
  insert into logs (${insertColumns.join(', ')})
  select t, s, l, m, md::jsonb, tr, sp, h, tg::text[], p, o, k
  from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[])
    as u(t, s, l, m, md, tr, sp, h, tg, p, o, k)
  on conflict do nothing`

/** The same, saying which rows it inserted: a conflicting (already stored) row is not returned. */
const INSERT_UNNEST_RETURNING = `${INSERT_UNNEST} returning kafka_partition, kafka_offset`

const NEEDS_QUOTING = /[\\"]/g

/** One element of a PostgreSQL array literal, always quoted so commas, braces and spaces are data. */
function arrayElement(value: string): string {
  return `"${value.replace(NEEDS_QUOTING, '\\$&')}"`
}

function arrayLiteral(values: readonly (string | null)[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const value = values[i]
    out += value === null ? 'NULL' : arrayElement(value!)
  }
  return `${out}}`
}

const orNull = (value: string) => (value === '' ? null : value)

/** The twelve column arrays of a batch, each as one array literal: postgres.js sends them as text as is. */
export function columnLiterals(rows: readonly PendingRow[]): string[] {
  const n = rows.length
  const ts = new Array<string>(n),
    service = new Array<string>(n),
    level = new Array<string>(n),
    message = new Array<string>(n)
  const metadata = new Array<string>(n),
    trace = new Array<string | null>(n),
    span = new Array<string | null>(n),
    host = new Array<string | null>(n)
  const tags = new Array<string>(n),
    partition = new Array<string>(n),
    offset = new Array<string>(n),
    key = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const { record } = rows[i]!
    ts[i] = formatMicros(record.timestampMicros)
    service[i] = record.service
    level[i] = record.level
    message[i] = record.message
    metadata[i] = record.metadata
    trace[i] = orNull(record.traceId)
    span[i] = orNull(record.spanId)
    host[i] = orNull(record.host)
    tags[i] = arrayLiteral(record.tags)
    partition[i] = String(rows[i]!.partition)
    offset[i] = String(rows[i]!.offset)
    key[i] = contentKey(record)
  }
  return [ts, service, level, message, metadata, trace, span, host, tags, partition, offset, key].map(arrayLiteral)
}

const COPY_SPECIAL = /[\\\t\n\r]/g
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }
const copyText = (value: string) => value.replace(COPY_SPECIAL, (char) => COPY_ESCAPES[char]!)
const copyNullable = (value: string) => (value === '' ? '\\N' : copyText(value))

/** One line of COPY text format for `insertColumns`, used by the staging path and the COPY ceiling benchmark. */
export function copyLine(row: PendingRow): string {
  const r = row.record
  const fields = [
    formatMicros(r.timestampMicros),
    copyText(r.service),
    r.level,
    copyText(r.message),
    copyText(r.metadata),
    copyNullable(r.traceId),
    copyNullable(r.spanId),
    copyNullable(r.host),
    copyText(arrayLiteral(r.tags)),
    String(row.partition),
    String(row.offset),
    contentKey(r) ?? '\\N',
  ]
  return `${fields.join('\t')}\n`
}

/** Time past the server's statement_timeout left for its cancellation to reach us before we cut the connection. */
const SERVER_CANCEL_GRACE_MS = 1000

export interface WritePoolOptions {
  max: number
  /** Longest a write may go without a reply before it fails (retryably) instead of waiting on. */
  writeTimeoutMs: number
}

/**
 * The pool batches are written through, where no write can hang. Two bounds, because a write can stall
 * in two places: in the server (a lock wait, a slow disk), where statement_timeout makes PostgreSQL
 * cancel the statement (SQLSTATE 57014, retried as transient); and in the network, where a blackhole
 * (packets dropped, the TCP connection still open) means no reply and no error would ever come. For the
 * second, each connection's socket is watched: if it has sent bytes and heard nothing back for
 * writeTimeoutMs plus a grace, it is destroyed with ETIMEDOUT, which fails the query as "database
 * unavailable" and frees the connection. Idle connections (nothing asked) are left alone.
 * Connects to the URL's first host (or its unix socket path) only.
 */
export function connectForWrites(url: string, { max, writeTimeoutMs }: WritePoolOptions): Sql {
  const silenceLimitMs = writeTimeoutMs + SERVER_CANCEL_GRACE_MS
  const options = {
    max,
    connect_timeout: 10,
    connection: { statement_timeout: writeTimeoutMs },
    // postgres.js waits up to 20 s between reconnects after repeated failures; the consumer already
    // backs off between retries, so reconnect promptly once the server answers again.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    socket: ({ host, port, path }: { host: string[]; port: number[]; path: string | false }) => {
      const socket = path ? createConnection(path) : createConnection(port[0]!, host[0]!)
      // postgres.js names the server in connection errors from these two fields of its own sockets.
      return replyBoundedSocket(Object.assign(socket, { host: host[0], port: port[0] }), silenceLimitMs)
    },
    onnotice: () => {},
    types,
  }
  return postgres(url, options)
}

function replyBoundedSocket(socket: Socket, silenceLimitMs: number): Socket {
  let heardFromServer = false
  let writtenAtLastReply = 0
  socket.on('data', () => {
    heardFromServer = true
    writtenAtLastReply = socket.bytesWritten
  })
  const onSilence = () => {
    if (socket.bytesWritten <= writtenAtLastReply) {
      // Idle, nothing asked. Bun fires a socket timeout once, not again after later activity: re-arm.
      socket.setTimeout(silenceLimitMs, onSilence)
      return
    }
    // How postgres.js fails the waiting queries depends on the phase. While connecting, only an
    // error fails the query that opened the connection (a plain close makes it reconnect forever).
    // Once connected, only a plain close fails every query queued on the connection: with an error
    // it fails those already sent, and one handed over between 'error' and 'close' would wait forever.
    if (heardFromServer) socket.destroy()
    else socket.destroy(Object.assign(new Error(`no reply from PostgreSQL within ${silenceLimitMs} ms while connecting`), { code: 'ETIMEDOUT' }))
  }
  socket.setTimeout(silenceLimitMs, onSilence)
  return socket
}

/** The inserted keys of `rows` with their timestamps, as announcements name them. */
function storedKeys(rows: readonly PendingRow[], inserted: readonly { kafka_partition: number; kafka_offset: bigint }[]): StoredKey[] {
  // The usual case, every row inserted: a batch holds each message once, so equal counts mean the same rows
  // and there is nothing to match up.
  if (inserted.length === rows.length) return rows.map(({ partition, offset, record }) => ({ partition, offset, micros: record.timestampMicros }))
  const micros = new Map<string, number>()
  for (const { partition, offset, record } of rows) micros.set(`${partition}:${offset}`, record.timestampMicros)
  return inserted.map(({ kafka_partition: partition, kafka_offset: offset }) => ({ partition, offset, micros: micros.get(`${partition}:${offset}`)! }))
}

/**
 * PostgreSQL refuses a commit that would overflow its notification queue (8 GB by default), which only a
 * listener stuck for a very long time can cause. Storing the rows matters more than announcing them.
 */
const isNotifyQueueFull = (error: unknown) => (error as { code?: unknown })?.code === '54000' && /notif/i.test(String((error as Error).message))

export interface LogWriterOptions {
  /** Announce inserted rows to the live tail (default true); off, a write is one plain statement. */
  announce?: boolean
}

export function createLogWriter(sql: Sql, { announce = true }: LogWriterOptions = {}): LogWriter {
  const insertOnly = async (literals: string[]): Promise<number> => (await sql.unsafe(INSERT_UNNEST, literals)).count

  const insert = async (rows: readonly PendingRow[]): Promise<number> => {
    const literals = columnLiterals(rows)
    if (!announce) return insertOnly(literals)
    try {
      return await sql.begin(async (tx) => {
        const inserted = await tx.unsafe<{ kafka_partition: number; kafka_offset: bigint }[]>(INSERT_UNNEST_RETURNING, literals)
        const payloads = announcements(storedKeys(rows, inserted))
        if (payloads.length > 0) await tx`select pg_notify(${LOGS_STORED_CHANNEL}, payload) from unnest(${payloads}::text[]) as payload`
        return inserted.length
      })
    } catch (error) {
      if (!isNotifyQueueFull(error)) throw error
      return insertOnly(literals)
    }
  }

  // Halving keeps a batch with one bad row to about 2·log2(n) extra statements; every retried half
  // is idempotent because rows stored by an earlier attempt are skipped.
  const isolate = async <T extends PendingRow>(rows: T[], result: WriteResult<T>): Promise<void> => {
    try {
      result.inserted += await insert(rows)
    } catch (error) {
      // A failure that says nothing about the rows (server or connection gone, a deadlock or serialization
      // race, a cancelled statement) fails the whole batch, to be retried; bisecting would wrongly
      // dead-letter good rows.
      const transient = classifyDatabaseError(error, 'cannot write logs')
      if (transient) throw transient
      if (rows.length === 1) {
        result.rejected.push({ row: rows[0]!, error: error as Error })
        return
      }
      const middle = rows.length >>> 1
      await isolate(rows.slice(0, middle), result)
      await isolate(rows.slice(middle), result)
    }
  }

  return {
    async write<T extends PendingRow>(rows: T[]): Promise<WriteResult<T>> {
      const result: WriteResult<T> = { inserted: 0, rejected: [] }
      if (rows.length > 0) await isolate(rows, result)
      return result
    },
  }
}
