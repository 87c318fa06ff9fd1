import type { Config } from './config.ts'
import { connect, type Sql } from './db.ts'
import { maintainHotPartition } from './hot-partition.ts'
import type { Logger } from './log.ts'
import { maintainPartitions } from './retention.ts'

export interface RetentionTimer {
  stop(): void
}

/**
 * Runs `task` every `intervalMs`, never two at once, each run on a connection of its own: maintenance may
 * legitimately take longer than the write timeout that bounds every statement in the consumer's pool.
 */
function every(intervalMs: number, databaseUrl: string, task: (sql: Sql) => Promise<void>): RetentionTimer {
  let running = false
  const timer = setInterval(async () => {
    if (running) return
    running = true
    const sql = connect(databaseUrl, { max: 1 })
    try {
      await task(sql)
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {})
      running = false
    }
  }, intervalMs)
  return { stop: () => clearInterval(timer) }
}

/** Runs `maintainPartitions` every `consume.retentionIntervalMs` (safe from every consumer process at once). */
export function startRetentionTimer(config: Pick<Config, 'databaseUrl' | 'retentionDays' | 'partitionsAheadDays' | 'consume'>, log: Logger): RetentionTimer {
  return every(config.consume.retentionIntervalMs, config.databaseUrl, async (sql) => {
    try {
      const result = await maintainPartitions(sql, { retentionDays: config.retentionDays, aheadDays: config.partitionsAheadDays })
      if (result.created.length + result.dropped.length + result.purgedDefaultRows > 0) log.info('retention.done', { ...result })
    } catch (error) {
      log.warn('retention.failed', { error })
    }
  })
}

/** Runs `maintainHotPartition` every `consume.hotPartitionIntervalMs`: fresh statistics and short GIN pending lists. */
export function startHotPartitionTimer(config: Pick<Config, 'databaseUrl' | 'consume'>, log: Logger): RetentionTimer {
  return every(config.consume.hotPartitionIntervalMs, config.databaseUrl, async (sql) => {
    try {
      const result = await maintainHotPartition(sql, { analyzeAfterRows: config.consume.hotPartitionAnalyzeRows })
      if (result?.analyzed || Object.values(result?.cleaned ?? {}).some((pages) => pages > 0)) log.info('hot-partition.done', { ...result })
    } catch (error) {
      log.warn('hot-partition.failed', { error })
    }
  })
}
