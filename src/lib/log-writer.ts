import { classifyDatabaseError } from './database-errors.ts'
import type { Sql, Transaction } from './db.ts'
import { columnLiterals, insertColumns } from './log-columns.ts'
import { copyRows } from './log-copy.ts'
import type { LogRecord } from './log-entry.ts'
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

/**
 * The statement for a batch that may hold rows already stored: one INSERT … SELECT FROM unnest(…), one array
 * parameter per column, skipping what is stored and saying which rows it inserted. (COPY into a staging
 * table, then INSERT … ON CONFLICT, was no faster: README, Consumer.)
 */
const INSERT_UNNEST = `
  insert into logs (${insertColumns.join(', ')})
  select t, s, l, m, md::jsonb, tr, sp, h, tg::text[], p, o, k
  from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[])
    as u(t, s, l, m, md, tr, sp, h, tg, p, o, k)
  on conflict do nothing
  returning kafka_partition, kafka_offset`

type InsertedKey = { kafka_partition: number; kafka_offset: bigint }

const keysOf = (rows: readonly PendingRow[]): StoredKey[] =>
  rows.map(({ partition, offset, record }) => ({ partition, offset, micros: record.timestampMicros }))

/** The inserted keys of `rows` with their timestamps, as announcements name them. */
function storedKeys(rows: readonly PendingRow[], inserted: readonly InsertedKey[]): StoredKey[] {
  // The usual case, every row inserted: a batch holds each message once, so equal counts mean the same rows
  // and there is nothing to match up.
  if (inserted.length === rows.length) return keysOf(rows)
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

/**
 * A failure that says nothing about the rows (server or connection gone, a deadlock or serialization race, a
 * cancelled statement), as the error to throw: the whole batch is retried. Anything else is about the rows.
 */
const transientFailure = (error: unknown) => classifyDatabaseError(error, 'cannot write logs')

/** One statement storing rows on `db`, returning the keys of those it inserted. */
type Store = (db: Sql | Transaction) => Promise<StoredKey[]>

export function createLogWriter(sql: Sql, { announce = true }: LogWriterOptions = {}): LogWriter {
  /** Runs `store`, with the rows it inserted announced in the same transaction unless announcing is off. */
  const stored = async (store: Store): Promise<number> => {
    if (!announce) return (await store(sql)).length
    try {
      return await sql.begin(async (tx) => {
        const keys = await store(tx)
        const payloads = announcements(keys)
        if (payloads.length > 0) await tx`select pg_notify(${LOGS_STORED_CHANNEL}, payload) from unnest(${payloads}::text[]) as payload`
        return keys.length
      })
    } catch (error) {
      if (!isNotifyQueueFull(error)) throw error
      return (await store(sql)).length
    }
  }

  const copy = (rows: readonly PendingRow[]) =>
    stored(async (db) => {
      await copyRows(db, rows)
      return keysOf(rows)
    })

  const insert = (rows: readonly PendingRow[]) => {
    const literals = columnLiterals(rows)
    return stored(async (db) => storedKeys(rows, await db.unsafe<InsertedKey[]>(INSERT_UNNEST, literals)))
  }

  // Halving keeps a batch with one bad row to about 2·log2(n) extra statements; every retried half
  // is idempotent because rows stored by an earlier attempt are skipped.
  const isolate = async <T extends PendingRow>(rows: T[], result: WriteResult<T>): Promise<void> => {
    try {
      result.inserted += await insert(rows)
    } catch (error) {
      // Bisecting a transient failure would wrongly dead-letter good rows.
      const transient = transientFailure(error)
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

  // COPY costs PostgreSQL and us less per row than INSERT … ON CONFLICT (README, "Cost per log") but stores
  // all or nothing: a single row already stored refuses it. So a batch is COPYed while batches are new; one
  // that held a stored row (a replay, a re-delivery after a rebalance, a client's resent entry) goes through
  // INSERT, and so do the batches after it until one holds no stored row again.
  let copying = true

  return {
    async write<T extends PendingRow>(rows: T[]): Promise<WriteResult<T>> {
      const result: WriteResult<T> = { inserted: 0, rejected: [] }
      if (rows.length === 0) return result
      if (copying) {
        try {
          result.inserted = await copy(rows)
          return result
        } catch (error) {
          const transient = transientFailure(error)
          if (transient) throw transient
          // A row already stored, or one PostgreSQL refuses: INSERT skips the first and isolates the second.
        }
      }
      await isolate(rows, result)
      copying = result.inserted + result.rejected.length === rows.length
      return result
    },
  }
}
