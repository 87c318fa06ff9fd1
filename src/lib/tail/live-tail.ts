import type { Sql } from '../db.ts'
import type { Logger } from '../log.ts'
import { createTailHub, type TailHub, type TailSettings } from './tail-hub.ts'
import { startTailListener } from './tail-listener.ts'
import { createTailStore } from './tail-store.ts'

export interface LiveTailOptions {
  /** The query pool, for reading new logs. */
  sql: Sql
  /** Where the LISTEN connection goes (the same database). */
  databaseUrl: string
  settings: TailSettings
  log: Logger
}

export interface LiveTail {
  hub: TailHub
  /** Resolves once new logs are being heard about. */
  ready: Promise<void>
  /** Ends every /tail stream, then stops listening. */
  stop(): Promise<void>
}

/** The query process's live tail: one LISTEN connection feeding one hub (tail-hub.ts), which feeds every /tail client. */
const STATS_INTERVAL_MS = 10_000

export function startLiveTail({ sql, databaseUrl, settings, log }: LiveTailOptions): LiveTail {
  const hub = createTailHub({ ...settings, store: createTailStore(sql), log })
  // One line every 10 s while anyone is tailing: what the bounds are holding, for an operator.
  const stats = setInterval(() => {
    const now = hub.stats()
    if (now.clients > 0) log.info('tail.stats', { ...now, rssBytes: process.memoryUsage.rss() })
  }, STATS_INTERVAL_MS)
  const listener = startTailListener({
    databaseUrl,
    log,
    onPayload: (payload) => hub.announce(payload),
    onGap: (reason) => hub.gap(reason),
  })
  return {
    hub,
    ready: listener.ready,
    async stop() {
      clearInterval(stats)
      await hub.stop()
      await listener.stop()
    },
  }
}
