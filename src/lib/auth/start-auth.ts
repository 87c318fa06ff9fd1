import type { Config } from '../config.ts'
import { classifyDatabaseError } from '../database-errors.ts'
import { connect, type Sql } from '../db.ts'
import { ConfigError, DatabaseUnavailableError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { withTimeout } from '../timeout.ts'
import type { KeyRecord, Scope } from './api-key.ts'
import { type Authenticator, type Caller, KeyRing, openAuthenticator } from './key-ring.ts'
import { liveKeys, touchKeys } from './key-store.ts'

/** A service's authentication: ask `authenticator` for each request; close() at shutdown. */
export interface Auth {
  authenticator: Authenticator
  /** Stops reloading, writes the last-used times still pending, and ends the pool startAuth opened. */
  close(): Promise<void>
}

/** Where the keys come from: the api_keys table (startAuth), or a fake in tests. */
export interface KeySource {
  liveKeys(): Promise<KeyRecord[]>
  touchKeys(ids: readonly string[], at: Date): Promise<void>
}

export interface WatchOptions {
  /** How often the keys are reloaded (AUTH_REFRESH_MS). */
  refreshMs: number
  /** How often last-used times are written: batched, as a busy key would otherwise cost an UPDATE per request. */
  touchMs?: number
  /** A reload with no answer after this long counts as a failure (a network blackhole never errors by itself). */
  loadTimeoutMs?: number
}

export const AuthDefaults = { touchMs: 30_000, loadTimeoutMs: 5_000 } as const

/**
 * The keys of `source` in a KeyRing, reloaded every refreshMs, so a key revoked anywhere stops working here
 * within refreshMs and one query. While the source fails, the last keys loaded stay in use (PostgreSQL down
 * must not lock every client out): one warning when an outage begins, one info line when it ends, and a
 * debug line per failed reload. Each key that authenticates is remembered and written back with touchKeys
 * every touchMs; ids whose write fails are kept for the next one. Rejects if the first load fails.
 */
export async function watchKeys(source: KeySource, log: Logger, options: WatchOptions): Promise<Auth> {
  const touchMs = options.touchMs ?? AuthDefaults.touchMs
  const loadTimeoutMs = options.loadTimeoutMs ?? AuthDefaults.loadTimeoutMs
  const ring = new KeyRing(await source.liveKeys())
  log.info('auth.keys.loaded', { keys: ring.size })

  let used = new Set<string>()
  let closed = false
  let outage = false
  // A reload still waiting for its answer is shared by the next ticks, so a hung connection cannot pile up queries.
  let loading: Promise<KeyRecord[]> | undefined

  const failed = (event: string, error: unknown) => {
    log.debug(event, { error })
    if (outage) return
    outage = true
    log.warn('auth.keys.unavailable', { error, keys: ring.size, note: 'keeping the keys last loaded until the database answers again' })
  }

  const reload = async () => {
    loading ??= source.liveKeys().finally(() => {
      loading = undefined
    })
    try {
      ring.replace(await withTimeout(loading, loadTimeoutMs, () => new DatabaseUnavailableError(`no answer loading API keys within ${loadTimeoutMs} ms`)))
      if (outage) {
        outage = false
        log.info('auth.keys.restored', { keys: ring.size })
      }
    } catch (error) {
      failed('auth.keys.reload-failed', error)
    }
  }

  const flush = async () => {
    if (used.size === 0) return
    const ids = [...used]
    used = new Set()
    try {
      await source.touchKeys(ids, new Date())
    } catch (error) {
      for (const id of ids) used.add(id)
      failed('auth.keys.touch-failed', error)
    }
  }

  // Each run schedules the next once it is done, so runs of one kind never overlap.
  const timers = new Set<ReturnType<typeof setTimeout>>()
  const every = (ms: number, run: () => Promise<void>) => {
    const schedule = () => {
      if (closed) return
      const timer = setTimeout(async () => {
        timers.delete(timer)
        await run()
        schedule()
      }, ms)
      timer.unref()
      timers.add(timer)
    }
    schedule()
  }
  every(options.refreshMs, reload)
  every(touchMs, flush)

  const authenticator: Authenticator = {
    authenticate(key: string | undefined, scope: Scope, peer: string): Caller {
      const caller = ring.authenticate(key, scope, peer)
      used.add(caller.id)
      return caller
    },
  }

  return {
    authenticator,
    async close() {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      await withTimeout(flush(), loadTimeoutMs, () => new Error('last-used times not written')).catch(() => {})
    },
  }
}

const UNDEFINED_TABLE = '42P01'

/**
 * Authentication as config.auth says. off: everyone is the open caller and no database is used. required:
 * the live keys from PostgreSQL (see watchKeys), read through `options.sql` or a pool of 2 opened here. The
 * schema is not applied here: init and the consumer apply it, and so does `bun run keys`. Start fails when
 * the keys cannot be loaded: ConfigError if api_keys does not exist, DatabaseUnavailableError if PostgreSQL
 * does not answer, as a service that cannot tell a key from a guess has nothing to serve.
 */
export async function startAuth(config: Config, log: Logger, options: { sql?: Sql; touchMs?: number } = {}): Promise<Auth> {
  if (config.auth.mode === 'off') return { authenticator: openAuthenticator, close: async () => {} }
  const sql = options.sql ?? connect(config.databaseUrl, { max: 2 })
  const end = async () => {
    if (!options.sql) await sql.end({ timeout: 5 }).catch(() => {})
  }
  const source: KeySource = { liveKeys: () => liveKeys(sql), touchKeys: (ids, at) => touchKeys(sql, ids, at) }
  let watched: Auth
  try {
    watched = await watchKeys(source, log, { refreshMs: config.auth.refreshMs, touchMs: options.touchMs })
  } catch (error) {
    await end()
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE)
      throw new ConfigError(
        'LOGSTREAM_AUTH',
        'required, but the database has no api_keys table yet: run init (bun src/init.ts) or start the consumer, which apply schema.sql, or create a key with `bun run keys create`, which applies it too',
      )
    throw classifyDatabaseError(error, 'cannot load API keys') ?? error
  }
  return {
    authenticator: watched.authenticator,
    async close() {
      await watched.close()
      await end()
    },
  }
}
