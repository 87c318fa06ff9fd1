/**
 * `bun src/consume.ts`: one member of the consumer group that moves logs.raw into PostgreSQL.
 * Run as many as there are partitions to share the load; SIGTERM finishes and commits the batch in hand.
 */
import { loadConfig } from './lib/config.ts'
import { startConsumer } from './lib/consumer/consumer.ts'
import { startStatsReporter } from './lib/consumer/stats-reporter.ts'
import { connect } from './lib/db.ts'
import { warnIfAutovacuumOff } from './lib/hot-partition.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { startHotPartitionTimer, startRetentionTimer } from './lib/retention-timer.ts'
import { setUp } from './lib/setup.ts'

let log = createLogger({ service: 'consume' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'consume', pid: process.pid }, { level: config.logLevel })
  // Idempotent: topics, schema and today's partitions exist before the first batch, whoever starts first.
  await setUp(config)
  const check = connect(config.databaseUrl, { max: 1 })
  await warnIfAutovacuumOff(check, log)
  await check.end()
  const consumer = await startConsumer({ config, log })
  const stats = startStatsReporter(consumer, log, config.consume.statsIntervalMs)
  const retention = startRetentionTimer(config, log)
  const hotPartition = startHotPartitionTimer(config, log)
  handleSignals(log, async () => {
    retention.stop()
    hotPartition.stop()
    stats.stop()
    await consumer.stop()
  })
  const { batchMaxRows, batchMaxBytes, lingerMs } = config.consume
  log.info('consume.started', { topic: config.kafka.topic, group: config.kafka.consumerGroup, batchMaxRows, batchMaxBytes, lingerMs })
} catch (error) {
  exitOnStartupError(log, error)
}
