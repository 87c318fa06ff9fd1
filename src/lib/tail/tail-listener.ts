import postgres from 'postgres'
import type { Logger } from '../log.ts'
import { type Backoff, backoffMs, sleep } from '../retry.ts'
import { withTimeout } from '../timeout.ts'
import { LOGS_STORED_CHANNEL } from './announcement.ts'
import { type GapReason, GapReasons } from './sse.ts'

export interface TailListenerOptions {
  databaseUrl: string
  log: Logger
  onPayload(payload: string): void
  /** Notifications may have been missed: from when the connection was lost until it listens again. */
  onGap(reason: GapReason): void
  backoff?: Backoff
  /** How often the connection is checked with a query, to notice one the network dropped silently. */
  checkIntervalMs?: number
}

export interface TailListener {
  /** Resolves once the first LISTEN is in place (or the listener is stopped). */
  readonly ready: Promise<void>
  readonly listening: boolean
  stop(): Promise<void>
}

/** How the connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'logstream-tail-listener'

const DEFAULT_BACKOFF: Backoff = { minMs: 100, maxMs: 5000 }
const DEFAULT_CHECK_MS = 10_000
const CHECK_TIMEOUT_MS = 5000

/**
 * LISTEN on one connection of its own. postgres.js's sql.listen re-listens after a lost connection, but
 * it gives up silently if that first retry fails (the server still down) and never says that
 * notifications were missed meanwhile; so this listener owns the connection: it notices the loss (the
 * connection closing, or a periodic query going unanswered), reports a gap at once (before anything the
 * new connection hears), and connects again with the project's backoff (retry.ts) until it listens.
 */
export function startTailListener(options: TailListenerOptions): TailListener {
  const { log, onPayload, onGap } = options
  const backoff = options.backoff ?? DEFAULT_BACKOFF
  const checkIntervalMs = options.checkIntervalMs ?? DEFAULT_CHECK_MS
  const stopping = new AbortController()
  let listening = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })

  /** Listens until the connection is lost (or stopping); `heard` once LISTEN is in place. */
  async function listenOnce(heard: () => void): Promise<void> {
    let lost: () => void = () => {}
    const closed = new Promise<void>((resolve) => {
      lost = resolve
    })
    const sql = postgres(options.databaseUrl, {
      max: 1,
      idle_timeout: 0,
      // The default lifetime (30-60 min) would recycle the connection, and every recycle is a gap.
      max_lifetime: null,
      connect_timeout: 10,
      connection: { application_name: LISTENER_APPLICATION_NAME },
      onnotice: () => {},
      onclose: () => lost(),
      // What sql.listen itself passes: postgres.js calls it for each NotificationResponse on this connection.
      onnotify: (channel: string, payload: string) => {
        if (channel === LOGS_STORED_CHANNEL) onPayload(payload)
      },
    } as postgres.Options<Record<string, postgres.PostgresType>>)
    try {
      await sql.unsafe(`listen ${LOGS_STORED_CHANNEL}`)
      listening = true
      heard()
      markReady()
      log.info('tail.listening', { channel: LOGS_STORED_CHANNEL })
      const ended = Promise.race([closed, new Promise<void>((resolve) => stopping.signal.addEventListener('abort', () => resolve(), { once: true }))])
      while (!stopping.signal.aborted) {
        const outcome = await Promise.race([ended.then(() => 'ended' as const), sleep(checkIntervalMs).then(() => 'check' as const)])
        if (outcome !== 'check') break
        await withTimeout(sql`select 1`, CHECK_TIMEOUT_MS, () => new Error(`no answer on the LISTEN connection within ${CHECK_TIMEOUT_MS} ms`))
      }
    } finally {
      listening = false
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  }

  const running = (async () => {
    let attempt = 0
    let reported = false
    while (!stopping.signal.aborted) {
      let heard = false
      try {
        await listenOnce(() => {
          heard = true
        })
        if (!stopping.signal.aborted) log.warn('tail.listen_lost', {})
      } catch (error) {
        log.warn('tail.listen_failed', { error, attempt })
      }
      if (stopping.signal.aborted) break
      if (heard) {
        attempt = 0
        reported = false
      }
      // One gap per outage, queued before anything the next connection hears.
      if (!reported) onGap(GapReasons.listenInterrupted)
      reported = true
      await sleep(backoffMs(attempt++, backoff), stopping.signal)
    }
  })()

  return {
    ready,
    get listening() {
      return listening
    },
    async stop() {
      stopping.abort()
      markReady()
      await running
    },
  }
}
