/**
 * `bun src/consume.ts`: one member of the consumer group that moves logs.raw into PostgreSQL, with GET /health
 * and GET /metrics on CONSUME_HTTP_PORT. Run as many as there are partitions to share the load; SIGTERM
 * finishes and commits the batch in hand.
 */
import { startAuth } from './lib/auth/start-auth.ts'
import { loadConfig, openServiceNote, refuseOpenListeners } from './lib/config.ts'
import { type LogConsumer, startConsumer } from './lib/consumer/consumer.ts'
import { startConsumerHttp } from './lib/consumer/consumer-http.ts'
import { startStatsReporter } from './lib/consumer/stats-reporter.ts'
import { connect } from './lib/db.ts'
import { warnIfAutovacuumOff } from './lib/hot-partition.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { ConsumerMetrics, createRegistry } from './lib/metrics.ts'
import { startHotPartitionTimer, startRetentionTimer } from './lib/retention-timer.ts'
import { setUp } from './lib/setup.ts'
import { readTlsFiles } from './lib/tls-files.ts'

let log = createLogger({ service: 'consume' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'consume', pid: process.pid }, { level: config.logLevel })
  // Before anything is opened: /metrics without keys on an address other machines reach is a configuration error.
  refuseOpenListeners(config, [config.consumeHttp.host])
  const tls = readTlsFiles(config.tls)
  // Idempotent: topics, schema and today's partitions exist before the first batch, whoever starts first.
  await setUp(config)
  const check = connect(config.databaseUrl, { max: 1 })
  await warnIfAutovacuumOff(check, log)
  await check.end()
  // After setUp, which applies the schema: with keys required, they are read from its api_keys table.
  const auth = await startAuth(config, log)
  const registry = createRegistry()
  let consumer: LogConsumer | undefined
  // Read at each scrape: no lag series until the consumer has started and joined the group.
  const metrics = new ConsumerMetrics(registry, async () => consumer?.partitionLags())
  // Bound before joining the group, so a port already taken fails the start before any partition is ours.
  const http = startConsumerHttp(config, { registry, authenticator: auth.authenticator, log, tls })
  consumer = await startConsumer({ config, log, metrics })
  const stats = startStatsReporter(consumer, log, config.consume.statsIntervalMs)
  const retention = startRetentionTimer(config, log)
  const hotPartition = startHotPartitionTimer(config, log)
  handleSignals(log, async () => {
    retention.stop()
    hotPartition.stop()
    stats.stop()
    await consumer?.stop()
    // Last: /health and /metrics answer while the batches in hand are committed.
    await http.close()
    await auth.close()
  })
  const { batchMaxRows, batchMaxBytes, lingerMs } = config.consume
  const keys =
    config.auth.mode === 'required' ? 'required: a read key for /metrics; /health is open' : `off: ${openServiceNote(config, config.consumeHttp.host)}`
  log.info('consume.started', {
    topic: config.kafka.topic,
    group: config.kafka.consumerGroup,
    batchMaxRows,
    batchMaxBytes,
    lingerMs,
    httpPort: http.port,
    keys,
  })
} catch (error) {
  exitOnStartupError(log, error)
}
