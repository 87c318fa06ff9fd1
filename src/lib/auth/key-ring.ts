import { PermissionDeniedError, RateLimitedError, UnauthenticatedError } from '../errors.ts'
import { allows, type KeyRecord, keyId, keyMatches, type Scope } from './api-key.ts'

/** Who sent a request: a key's record, or OPEN when keys are off (LOGSTREAM_AUTH=off). */
export type Caller = KeyRecord | typeof OPEN
export const OPEN = { id: 'open', name: 'open', scope: 'admin' } as const

/** Checks the key a request presents, for one scope; see KeyRing and openAuthenticator. */
export interface Authenticator {
  /**
   * The caller presenting `key` (undefined: none presented), when it may do what needs `scope`. Throws
   * UnauthenticatedError (no key, or not a live one), PermissionDeniedError (a live key of another scope),
   * or RateLimitedError when `peer` (the client's address) failed too often lately.
   */
  authenticate(key: string | undefined, scope: Scope, peer: string): Caller
}

/** LOGSTREAM_AUTH=off: everyone is the open caller. */
export const openAuthenticator: Authenticator = { authenticate: () => OPEN }

export const FailureLimits = {
  /** Failed attempts an address may make within windowMs before it is refused outright until the window passes. */
  attempts: 10,
  windowMs: 60_000,
  /** Addresses remembered at once (the oldest is forgotten first), so memory stays bounded whoever knocks. */
  addresses: 10_000,
} as const

/**
 * The live keys of one process, by id, replaced whole whenever they are reloaded from PostgreSQL, and a
 * count of recent refused keys per address: past FailureLimits.attempts in a window, that address gets
 * 429s (without its key being looked at) until the window ends, so guessing keys is slowed to a crawl.
 */
export class KeyRing implements Authenticator {
  #keys = new Map<string, KeyRecord>()
  #failures = new Map<string, { count: number; since: number }>()

  constructor(
    records: readonly KeyRecord[] = [],
    private readonly now: () => number = Date.now,
  ) {
    this.replace(records)
  }

  /** The live keys, all of them (a revoked key is one left out). */
  replace(records: readonly KeyRecord[]): void {
    this.#keys = new Map(records.map((record) => [record.id, record]))
  }

  get size(): number {
    return this.#keys.size
  }

  authenticate(key: string | undefined, scope: Scope, peer: string): Caller {
    const failures = this.#failures.get(peer)
    const now = this.now()
    if (failures && now - failures.since < FailureLimits.windowMs && failures.count >= FailureLimits.attempts)
      throw new RateLimitedError('too many failed authentications from this address; retry later', failures.since + FailureLimits.windowMs - now)
    const id = key === undefined ? undefined : keyId(key)
    const record = id === undefined ? undefined : this.#keys.get(id)
    if (key === undefined) throw new UnauthenticatedError()
    if (!record || !keyMatches(key, record.hash)) {
      // Only a key presented and refused counts: clients that ask first without one (and wait for a 401) guess nothing.
      this.#fail(peer, now)
      throw new UnauthenticatedError('this API key is not valid (unknown or revoked)')
    }
    if (!allows(record.scope, scope)) throw new PermissionDeniedError(scope)
    return record
  }

  #fail(peer: string, now: number): void {
    const seen = this.#failures.get(peer)
    if (seen && now - seen.since < FailureLimits.windowMs) seen.count++
    else {
      this.#failures.delete(peer)
      if (this.#failures.size >= FailureLimits.addresses) this.#failures.delete(this.#failures.keys().next().value!)
      this.#failures.set(peer, { count: 1, since: now })
    }
  }
}
