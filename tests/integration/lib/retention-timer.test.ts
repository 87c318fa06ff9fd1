import { afterAll, describe, test } from 'bun:test'
import { createLogger } from '../../../src/lib/log.ts'
import { startRetentionTimer } from '../../../src/lib/retention-timer.ts'
import { baseConfig, eventually, freshDatabase } from '../../support/infra.ts'

const log = createLogger({ service: 'retention-test' }, { level: 'error' })

describe('startRetentionTimer', () => {
  test('runs retention periodically: a missing partition for the days ahead is created again', async () => {
    const db = await freshDatabase()
    const ahead = `logs_${new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}`
    await db.sql`drop table ${db.sql(ahead)}`
    const timer = startRetentionTimer(
      { ...baseConfig, databaseUrl: db.url, partitionsAheadDays: 2, consume: { ...baseConfig.consume, retentionIntervalMs: 100 } },
      log,
    )
    afterAll(() => timer.stop())
    await eventually(
      async () => ((await db.sql`select 1 from pg_class where relname = ${ahead}`).length === 1 ? true : undefined),
      20_000,
      `partition ${ahead}`,
    )
  })
})
