/**
 * `bun src/consume.ts`: one member of the consumer group that moves logs.raw into PostgreSQL.
 * Run as many as there are partitions to share the load; SIGTERM finishes and commits the batch in hand.
 */
import { loadConfig } from './lib/config.ts'
import { startConsumer } from './lib/consumer.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { setUp } from './lib/setup.ts'

let log = createLogger({ service: 'consume' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'consume', pid: process.pid }, { level: config.logLevel })
  // Idempotent: topics, schema and today's partitions exist before the first batch, whoever starts first.
  await setUp(config)
  const consumer = await startConsumer({ config, log })
  handleSignals(log, () => consumer.stop())
  log.info('consume.started', { topic: config.kafka.topic, group: config.kafka.consumerGroup, batchMaxRows: config.consume.batchMaxRows, lingerMs: config.consume.lingerMs })
} catch (error) {
  exitOnStartupError(log, error)
}
