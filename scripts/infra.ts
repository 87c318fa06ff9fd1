/**
 * `npm run infra:up` / `infra:down`: the local Kafka broker (KAFKA_LOCAL_BROKERS nodes of one cluster) and
 * PostgreSQL, detached and idempotent. Down stops only what up started (by PID file), never a server that
 * was already running.
 */
import { loadConfig } from '../src/lib/config.ts'
import { createLogger } from '../src/lib/log.ts'
import { setUp } from '../src/lib/setup.ts'
import { knownBrokerDirs, localBrokerOptions, startKafkaNodes, stopKafka } from './infra/kafka-broker.ts'
import { startPostgres, stopPostgres } from './infra/postgres-server.ts'

const log = createLogger({ service: 'infra' })

export async function infraUp(): Promise<Started> {
  const config = loadConfig()
  const began = performance.now()
  const brokers = localBrokerOptions(config.kafka.localNodes)
  const [kafka, postgres] = await Promise.all([startKafkaNodes(brokers), startPostgres(config.databaseUrl)])
  const kafkaStarted = brokers.filter((_, index) => kafka[index]?.started).map((broker) => broker.dir)
  log.info('infra.ready', {
    kafka: kafka.map((node, index) => `${brokers[index]?.port}: ${node.started ? 'started' : 'already running'}`).join(', '),
    postgres: postgres.started ? 'started' : 'already running',
  })
  const result = await setUp(config)
  log.info('infra.setup', {
    createdTopics: result.createdTopics,
    createdPartitions: result.partitions.created.length,
    droppedPartitions: result.partitions.dropped.length,
    ms: Math.round(performance.now() - began),
  })
  return { kafkaStarted, postgresStarted: postgres.started }
}

export interface Started {
  /** Folders of the Kafka nodes this run started. */
  kafkaStarted: string[]
  postgresStarted: boolean
}

/**
 * Stops what `infraUp` started; by default everything our PID files name, the single broker and every node
 * of a local cluster alike, whatever KAFKA_LOCAL_BROKERS says now.
 */
export async function infraDown(which: Started = { kafkaStarted: knownBrokerDirs(), postgresStarted: true }): Promise<void> {
  const [kafka, postgres] = await Promise.all([Promise.all(which.kafkaStarted.map((dir) => stopKafka({ dir }))), which.postgresStarted && stopPostgres()])
  log.info('infra.down', { kafka: `${kafka.filter(Boolean).length} stopped`, postgres: postgres ? 'stopped' : 'not ours' })
}

if (import.meta.main) {
  const command = process.argv[2]
  try {
    if (command === 'up') await infraUp()
    else if (command === 'down') await infraDown()
    else {
      console.error('usage: bun scripts/infra.ts up|down')
      process.exit(2)
    }
  } catch (error) {
    log.error('infra.failed', { error, detail: (error as Error).message })
    process.exit(1)
  }
}
