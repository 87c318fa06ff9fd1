import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** What a key may do: ingest (write through every intake protocol), read (query API, tail, page, export, /metrics), admin (everything, and keys). */
export const Scopes = ['ingest', 'read', 'admin'] as const
export type Scope = (typeof Scopes)[number]

/** True when a key of scope `held` may do what needs `needed`: its own scope, or anything for admin. */
export const allows = (held: Scope, needed: Scope): boolean => held === needed || held === 'admin'

/** A key as every process holds it: never the key itself, only its SHA-256. */
export interface KeyRecord {
  /** The key's public part, `lsk_<id>_…`: how a presented key finds its record without a scan. */
  id: string
  name: string
  scope: Scope
  hash: Buffer
  /** Its own limits, or undefined for the defaults (AUTH_ENTRIES_PER_SECOND, AUTH_BYTES_PER_SECOND). */
  entriesPerSecond?: number
  bytesPerSecond?: number
}

const KEY = /^lsk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/

/** A new key: `lsk_` + a 12-character id + `_` + 32 random bytes (base64url); shown once, stored as its hash. */
export function generateKey(): { key: string; id: string; hash: Buffer } {
  const id = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12)
  const key = `lsk_${id}_${randomBytes(32).toString('base64url')}`
  return { key, id, hash: hashKey(key) }
}

/** The id of a well-formed key, or undefined. */
export function keyId(key: string): string | undefined {
  return KEY.exec(key)?.[1]
}

/** SHA-256 of the key: keys are 256 random bits, so a plain hash is as strong as a slow one and checks in microseconds. */
export const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest()

/** True when `key` hashes to `hash`, compared in constant time. */
export const keyMatches = (key: string, hash: Buffer): boolean => {
  const presented = hashKey(key)
  return presented.length === hash.length && timingSafeEqual(presented, hash)
}
