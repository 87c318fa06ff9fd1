import { afterAll } from 'bun:test'
import { Admin } from '@platformatic/kafka'
import { type Config, loadConfig } from '../../src/lib/config.ts'
import { applySchema, connect, ensureDatabase, maintenanceUrl, type Sql } from '../../src/lib/db.ts'
import { ensureTopics } from '../../src/lib/kafka.ts'
import { maintainPartitions } from '../../src/lib/retention.ts'

/**
 * Each test file gets its own database and its own topics on the shared local broker and server
 * (started by `npm test`), so files never see each other's data and may run in any order.
 */
export const baseConfig: Config = loadConfig()

const suffix = () => `${process.pid}_${Math.random().toString(36).slice(2, 8)}`

export interface TestDatabase {
  url: string
  sql: Sql
}

export async function freshDatabase(options: { partitions?: boolean } = {}): Promise<TestDatabase> {
  const url = new URL(baseConfig.databaseUrl)
  const name = `logstream_test_${suffix()}`
  url.pathname = `/${name}`
  await ensureDatabase(url.toString())
  const sql = connect(url.toString(), { max: 4 })
  await applySchema(sql)
  if (options.partitions ?? true) await maintainPartitions(sql, { retentionDays: 7, aheadDays: 2 })
  afterAll(async () => {
    await sql.end({ timeout: 5 })
    const admin = connect(maintenanceUrl(baseConfig.databaseUrl), { max: 1 })
    await admin`drop database if exists ${admin(name)} with (force)`
    await admin.end()
  })
  return { url: url.toString(), sql }
}

export interface TestTopics {
  config: Config
}

/** A config whose topics (raw and DLQ) and consumer group are new and exist only for this test file. */
export async function freshTopics(options: { partitions?: number; databaseUrl?: string } = {}): Promise<Config> {
  const id = suffix()
  const config: Config = {
    ...baseConfig,
    databaseUrl: options.databaseUrl ?? baseConfig.databaseUrl,
    kafka: {
      ...baseConfig.kafka,
      topic: `test.raw.${id}`,
      dlqTopic: `test.dlq.${id}`,
      consumerGroup: `test-group-${id}`,
      partitions: options.partitions ?? 3,
    },
  }
  const admin = new Admin({ clientId: 'logstream-test', bootstrapBrokers: config.kafka.brokers })
  await ensureTopics(admin, [
    { topic: config.kafka.topic, partitions: config.kafka.partitions, retentionMs: 3_600_000 },
    { topic: config.kafka.dlqTopic, partitions: 1, retentionMs: 3_600_000 },
  ])
  afterAll(async () => {
    await admin.deleteTopics({ topics: [config.kafka.topic, config.kafka.dlqTopic] }).catch(() => {})
    await admin.close()
  })
  return config
}

/** Polls `check` until it returns a value other than undefined, failing after `timeoutMs`. Never a fixed sleep. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await Bun.sleep(50)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`)
}
