import postgres from 'postgres'
import { toDatabaseError } from './database-errors.ts'

export type Sql = postgres.Sql
export type Transaction = postgres.TransactionSql

export interface ConnectOptions {
  max?: number
  /** Seconds to wait for a connection before failing, so a dead server surfaces as an error, not a hang. */
  connectTimeout?: number
}

/**
 * The types every pool of ours uses. bigint columns (kafka_offset) come back as JS bigint rather than lossy
 * numbers or strings. A timestamptz parameter is sent as given: our times are RFC 3339 text with microseconds
 * (formatMicros), which postgres.js's own serializer would cut to a Date's milliseconds. Typed on the way in
 * (`${time}::timestamptz`), a time is parsed once per statement; `::text::timestamptz` would be a cast the
 * planner cannot fold, run again for every row a filter looks at.
 */
export const types = {
  bigint: postgres.BigInt,
  timestamptz: { to: 1184, from: [] as number[], serialize: (x: unknown) => (x instanceof Date ? x.toISOString() : String(x)), parse: (x: string) => x },
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  const settings = {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 10,
    // One statement at a time per connection (an option postgres.js reads but does not declare in its types):
    // with every connection busy, a query waits in the pool's one first-come queue for the next free
    // connection, instead of being pipelined behind whatever a busy connection runs, which left some
    // requests waiting many times as long as the rest under 50 clients (README, Query API).
    max_pipeline: 1,
    onnotice: () => {},
    types,
  }
  return postgres(url, settings)
}

const SCHEMA_LOCK = 0x4c6f6753 // "LogS": serialises concurrent schema applications across processes.
const schemaFile = new URL('../../schema.sql', import.meta.url)

/** The same server's `postgres` database: where databases are created and dropped, and reachability asked. */
export function maintenanceUrl(url: string): string {
  const admin = new URL(url)
  admin.pathname = '/postgres'
  return admin.toString()
}

/** Creates the database named in `url` if it does not exist, connecting to the server's `postgres` database. */
export async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  const sql = connect(maintenanceUrl(url), { max: 1 })
  try {
    const [existing] = await sql`select 1 from pg_database where datname = ${name}`
    if (existing) return
    await sql`create database ${sql(name)}`.catch((error: { code?: string }) => {
      // Another process created it between our check and our create.
      if (error.code !== '42P04') throw error
    })
  } catch (error) {
    throw toDatabaseError(error, `cannot create database "${name}"`)
  } finally {
    await sql.end()
  }
}

/** Applies schema.sql. Every statement in it is idempotent; the advisory lock keeps concurrent starts from racing. */
export async function applySchema(sql: Sql): Promise<void> {
  const schema = await Bun.file(schemaFile).text()
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SCHEMA_LOCK})`
    await tx.unsafe(schema)
  })
}
