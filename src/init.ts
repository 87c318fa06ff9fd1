/**
 * `bun src/init.ts`: one-shot set-up for a deployment (the compose `init` service). Creates the topics with
 * their partition counts and applies the schema before any service starts, so ingestion can never win a
 * race and have the broker create logs.raw with one partition. Idempotent; exits 0 when everything is in place.
 */
import { loadConfig } from './lib/config.ts'
import { waitForKafka } from './lib/kafka.ts'
import { exitOnStartupError } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { setUp } from './lib/setup.ts'

// A broker container reports healthy a little before it serves metadata to other hosts.
const KAFKA_WAIT_MS = 60_000

let log = createLogger({ service: 'init' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'init' }, { level: config.logLevel })
  const began = performance.now()
  await waitForKafka(config.kafka, KAFKA_WAIT_MS)
  const result = await setUp(config)
  log.info('init.done', {
    topics: [config.kafka.topic, config.kafka.dlqTopic],
    createdTopics: result.createdTopics,
    createdPartitions: result.partitions.created.length,
    ms: Math.round(performance.now() - began),
  })
  process.exit(0)
} catch (error) {
  exitOnStartupError(log, error)
}
