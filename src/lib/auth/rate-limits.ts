import { RateLimitedError } from '../errors.ts'
import { type Caller, OPEN } from './key-ring.ts'

/** Limits a key gets when it has none of its own (config.auth: AUTH_ENTRIES_PER_SECOND, AUTH_BYTES_PER_SECOND). */
export interface LimitDefaults {
  entriesPerSecond: number
  bytesPerSecond: number
}

export const RateLimitSettings = {
  /** The largest single entry the intake accepts (log-entry.ts): a bytes bucket always holds at least this, so one valid log always fits. */
  minBurstBytes: 1024 * 1024,
  /** Keys with a bucket at once; the least recently used is forgotten first (as if it had refilled), so memory stays bounded. */
  maxKeys: 10_000,
} as const

interface Bucket {
  entries: number
  bytes: number
  /** When the tokens above were counted, in `now()` milliseconds. */
  at: number
}

/**
 * Token buckets per key for entries/s and bytes/s, each holding one second's worth (bytes: at least one
 * maximum-size entry) and refilled continuously. A request passes when both buckets hold what it costs,
 * or are full when it costs more than they can ever hold (it then leaves them in debt, so a large request
 * is never refused forever and the rate still holds over time); otherwise it is refused, nothing taken,
 * with the wait until it would pass. The open caller (keys off) is never limited. Counts live in this
 * process only: several ingest processes each allow a key its full rate.
 */
export class RateLimits {
  #buckets = new Map<string, Bucket>()

  constructor(
    private readonly defaults: LimitDefaults,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys: number = RateLimitSettings.maxKeys,
  ) {}

  /** Keys with a bucket now. */
  get size(): number {
    return this.#buckets.size
  }

  /** Takes `entries` and `bytes` from the caller's buckets, or throws RateLimitedError saying how long to wait. */
  take(caller: Caller, entries: number, bytes: number): void {
    if (caller === OPEN) return
    const entriesPerSecond = ('entriesPerSecond' in caller ? caller.entriesPerSecond : undefined) ?? this.defaults.entriesPerSecond
    const bytesPerSecond = ('bytesPerSecond' in caller ? caller.bytesPerSecond : undefined) ?? this.defaults.bytesPerSecond
    const entriesBurst = entriesPerSecond
    const bytesBurst = Math.max(bytesPerSecond, RateLimitSettings.minBurstBytes)
    const now = this.now()
    const bucket = this.#refilled(caller.id, now, entriesPerSecond, entriesBurst, bytesPerSecond, bytesBurst)

    const entriesShort = Math.min(entries, entriesBurst) - bucket.entries
    const bytesShort = Math.min(bytes, bytesBurst) - bucket.bytes
    if (entriesShort > 0 || bytesShort > 0) {
      const waitMs = Math.ceil(Math.max((entriesShort / entriesPerSecond) * 1000, (bytesShort / bytesPerSecond) * 1000))
      const over = entriesShort > 0 ? `${entriesPerSecond} logs per second` : `${bytesPerSecond} bytes per second`
      throw new RateLimitedError(`the API key "${caller.name}" is over its limit of ${over}; retry in ${Math.ceil(waitMs / 1000)} s`, Math.max(1, waitMs))
    }
    bucket.entries -= entries
    bucket.bytes -= bytes
  }

  #refilled(id: string, now: number, entriesPerSecond: number, entriesBurst: number, bytesPerSecond: number, bytesBurst: number): Bucket {
    let bucket = this.#buckets.get(id)
    if (bucket) {
      // Moved to the end: the Map's order is the least recently used first.
      this.#buckets.delete(id)
      const seconds = Math.max(0, now - bucket.at) / 1000
      bucket.entries = Math.min(entriesBurst, bucket.entries + seconds * entriesPerSecond)
      bucket.bytes = Math.min(bytesBurst, bucket.bytes + seconds * bytesPerSecond)
      bucket.at = now
    } else {
      bucket = { entries: entriesBurst, bytes: bytesBurst, at: now }
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!)
    }
    this.#buckets.set(id, bucket)
    return bucket
  }
}
