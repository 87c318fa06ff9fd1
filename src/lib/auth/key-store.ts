import type { Sql } from '../db.ts'
import { NotFoundError, QueryInvalidError } from '../errors.ts'
import { generateKey, type KeyRecord, type Scope, Scopes } from './api-key.ts'

/**
 * The api_keys table (schema.sql): what `bun run keys` changes and every service reads. Mistakes in what is
 * asked (a malformed name or limit, a name a live key already has) are QueryInvalidError naming the parameter;
 * a name with no live key is NotFoundError. Both map to 400 and 404 should keys ever be managed over HTTP.
 */

export interface NewKey {
  name: string
  scope: Scope
  entriesPerSecond?: number
  bytesPerSecond?: number
}

/** For setLimits: a number sets the key's own limit, null returns it to the default, undefined leaves it. */
export interface KeyLimits {
  entriesPerSecond?: number | null
  bytesPerSecond?: number | null
}

/** A key as `keys list` shows it: never its hash, which cannot be turned back into the key anyway. */
export interface KeyInfo {
  id: string
  name: string
  scope: Scope
  /** Its own limits, or null for the defaults. */
  entriesPerSecond: number | null
  bytesPerSecond: number | null
  createdAt: Date
  /** Written by the services about every 30 s, so accurate to that; null if never used. */
  lastUsedAt: Date | null
  revokedAt: Date | null
}

/** The same ranges as AUTH_ENTRIES_PER_SECOND and AUTH_BYTES_PER_SECOND, so a key's own limit is one a default could be. */
export const LimitRanges = {
  entriesPerSecond: { min: 1, max: 100_000_000, flag: 'entries-per-second' },
  bytesPerSecond: { min: 1024, max: 1024 ** 4, flag: 'bytes-per-second' },
} as const

/** Letters, digits and . _ - @ : (no spaces), so a name is one shell word and one table cell. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$/

function checkName(name: string): string {
  if (!NAME.test(name))
    throw new QueryInvalidError('name', `a key name is 1-100 letters, digits and . _ - @ : starting with a letter or digit, got ${JSON.stringify(name)}`)
  return name
}

function checkScope(scope: string): Scope {
  if (!(Scopes as readonly string[]).includes(scope))
    throw new QueryInvalidError('scope', `scope must be one of ${Scopes.join(', ')}, got ${JSON.stringify(scope)}`)
  return scope as Scope
}

function checkLimit(which: keyof typeof LimitRanges, value: number | null | undefined): number | null | undefined {
  if (value === null || value === undefined) return value
  const { min, max, flag } = LimitRanges[which]
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new QueryInvalidError(flag, `${flag} must be a whole number between ${min} and ${max}, got ${value}`)
  return value
}

const isUniqueViolation = (error: unknown, constraint: string): boolean =>
  (error as { code?: unknown }).code === '23505' && (error as { constraint_name?: unknown }).constraint_name === constraint

const taken = (name: string) =>
  new QueryInvalidError('name', `a live key named ${JSON.stringify(name)} already exists: revoke it first (keys revoke ${name}) or choose another name`)

const noLiveKey = (name: string) => new NotFoundError(`no live key named ${JSON.stringify(name)} (keys list shows every key)`)

interface KeyRow {
  id: string
  name: string
  scope: Scope
  entries_per_second: number | null
  bytes_per_second: number | null
  created_ms: number
  last_used_ms: number | null
  revoked_ms: number | null
}

// bigint columns come back as JS bigint in our pools (db.ts) and timestamptz as text: read both as float8.
const infoColumns = (sql: Sql) => sql`
  id, name, scope, entries_per_second, bytes_per_second::float8 as bytes_per_second,
  extract(epoch from created_at)::float8 * 1000 as created_ms,
  extract(epoch from last_used_at)::float8 * 1000 as last_used_ms,
  extract(epoch from revoked_at)::float8 * 1000 as revoked_ms`

const toInfo = (row: KeyRow): KeyInfo => ({
  id: row.id,
  name: row.name,
  scope: row.scope,
  entriesPerSecond: row.entries_per_second,
  bytesPerSecond: row.bytes_per_second,
  createdAt: new Date(row.created_ms),
  lastUsedAt: row.last_used_ms === null ? null : new Date(row.last_used_ms),
  revokedAt: row.revoked_ms === null ? null : new Date(row.revoked_ms),
})

/** A new key: the key itself (return it to whoever asked, once; it is not stored) and the record every service will hold. */
export async function createKey(sql: Sql, input: NewKey): Promise<{ key: string; record: KeyRecord }> {
  const name = checkName(input.name)
  const scope = checkScope(input.scope)
  const entriesPerSecond = checkLimit('entriesPerSecond', input.entriesPerSecond) ?? null
  const bytesPerSecond = checkLimit('bytesPerSecond', input.bytesPerSecond) ?? null
  // An id is 12 random characters; should one ever repeat, the primary key refuses it and a new key is drawn.
  for (let attempt = 1; ; attempt++) {
    const { key, id, hash } = generateKey()
    try {
      await sql`
        insert into api_keys (id, name, scope, hash, entries_per_second, bytes_per_second)
        values (${id}, ${name}, ${scope}, ${hash}, ${entriesPerSecond}, ${bytesPerSecond})`
    } catch (error) {
      if (isUniqueViolation(error, 'api_keys_live_name_idx')) throw taken(name)
      if (isUniqueViolation(error, 'api_keys_pkey') && attempt < 3) continue
      throw error
    }
    const record: KeyRecord = { id, name, scope, hash }
    if (entriesPerSecond !== null) record.entriesPerSecond = entriesPerSecond
    if (bytesPerSecond !== null) record.bytesPerSecond = bytesPerSecond
    return { key, record }
  }
}

/** Every key, live ones first by name, then revoked ones, most recently revoked first. */
export async function listKeys(sql: Sql): Promise<KeyInfo[]> {
  const rows = await sql<KeyRow[]>`
    select ${infoColumns(sql)} from api_keys
    order by revoked_at is not null, revoked_at desc, name, created_at`
  return rows.map(toInfo)
}

/** Revokes the live key named `name`: every service refuses it from its next reload (AUTH_REFRESH_MS). */
export async function revokeKey(sql: Sql, name: string): Promise<KeyInfo> {
  const [row] = await sql<KeyRow[]>`
    update api_keys set revoked_at = now()
    where name = ${checkName(name)} and revoked_at is null
    returning ${infoColumns(sql)}`
  if (!row) throw noLiveKey(name)
  return toInfo(row)
}

/** Sets or clears the live key's own limits (see KeyLimits); the services apply them from their next reload. */
export async function setLimits(sql: Sql, name: string, limits: KeyLimits): Promise<KeyInfo> {
  checkName(name)
  const entriesPerSecond = checkLimit('entriesPerSecond', limits.entriesPerSecond)
  const bytesPerSecond = checkLimit('bytesPerSecond', limits.bytesPerSecond)
  if (entriesPerSecond === undefined && bytesPerSecond === undefined)
    throw new QueryInvalidError('limits', 'give --entries-per-second, --bytes-per-second or both (a number, or "default")')
  const [row] = await sql<KeyRow[]>`
    update api_keys set
      entries_per_second = ${entriesPerSecond === undefined ? sql`entries_per_second` : sql`${entriesPerSecond}::integer`},
      bytes_per_second = ${bytesPerSecond === undefined ? sql`bytes_per_second` : sql`${bytesPerSecond}::bigint`}
    where name = ${name} and revoked_at is null
    returning ${infoColumns(sql)}`
  if (!row) throw noLiveKey(name)
  return toInfo(row)
}

/** The keys that may authenticate now, as every service holds them. */
export async function liveKeys(sql: Sql): Promise<KeyRecord[]> {
  const rows = await sql<{ id: string; name: string; scope: Scope; hash: Buffer; entries_per_second: number | null; bytes_per_second: number | null }[]>`
    select id, name, scope, hash, entries_per_second, bytes_per_second::float8 as bytes_per_second
    from api_keys where revoked_at is null`
  return rows.map((row) => {
    const record: KeyRecord = { id: row.id, name: row.name, scope: row.scope, hash: row.hash }
    if (row.entries_per_second !== null) record.entriesPerSecond = row.entries_per_second
    if (row.bytes_per_second !== null) record.bytesPerSecond = row.bytes_per_second
    return record
  })
}

/**
 * Marks the keys `ids` used at `at`, in one statement. Never moves last_used_at back, so services whose
 * clocks or flushes disagree cannot make a key look unused for longer than it was.
 */
export async function touchKeys(sql: Sql, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return
  await sql`
    update api_keys set last_used_at = greatest(last_used_at, ${at.toISOString()}::timestamptz)
    where id = any(${sql.array([...ids])}::text[])`
}
