import type { Config } from './config.ts'
import { connect } from './db.ts'
import type { Logger } from './log.ts'
import { maintainPartitions } from './retention.ts'

export interface RetentionTimer {
  stop(): void
}

/**
 * Runs `maintainPartitions` every `consume.retentionIntervalMs` (safe from every consumer process at once).
 * Each run gets a connection of its own: moving rows out of the default partition may legitimately take
 * longer than the write timeout that bounds every statement in the consumer's write pool.
 */
export function startRetentionTimer(config: Pick<Config, 'databaseUrl' | 'retentionDays' | 'partitionsAheadDays' | 'consume'>, log: Logger): RetentionTimer {
  let running = false
  const timer = setInterval(async () => {
    if (running) return
    running = true
    const sql = connect(config.databaseUrl, { max: 1 })
    try {
      const result = await maintainPartitions(sql, { retentionDays: config.retentionDays, aheadDays: config.partitionsAheadDays })
      if (result.created.length + result.dropped.length + result.purgedDefaultRows > 0) log.info('retention.done', { ...result })
    } catch (error) {
      log.warn('retention.failed', { error })
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {})
      running = false
    }
  }, config.consume.retentionIntervalMs)
  return { stop: () => clearInterval(timer) }
}
