/**
 * `npm run infra:up` / `infra:down`: the local Kafka broker and PostgreSQL, detached and idempotent.
 * Down stops only what up started (by PID file), never a server that was already running.
 */
import { loadConfig } from '../src/lib/config.ts'
import { createLogger } from '../src/lib/log.ts'
import { setUp } from '../src/lib/setup.ts'
import { defaultBrokerOptions, startKafka, stopKafka } from './infra/kafka-broker.ts'
import { startPostgres, stopPostgres } from './infra/postgres-server.ts'

const log = createLogger({ service: 'infra' })

export async function infraUp(): Promise<Started> {
  const config = loadConfig()
  const began = performance.now()
  const [kafka, postgres] = await Promise.all([startKafka(defaultBrokerOptions()), startPostgres(config.databaseUrl)])
  log.info('infra.ready', { kafka: kafka.started ? 'started' : 'already running', postgres: postgres.started ? 'started' : 'already running' })
  const result = await setUp(config)
  log.info('infra.setup', {
    createdTopics: result.createdTopics,
    createdPartitions: result.partitions.created.length,
    droppedPartitions: result.partitions.dropped.length,
    ms: Math.round(performance.now() - began),
  })
  return { kafkaStarted: kafka.started, postgresStarted: postgres.started }
}

export interface Started {
  kafkaStarted: boolean
  postgresStarted: boolean
}

/** Stops what `infraUp` started; by default everything our PID files name. */
export async function infraDown(which: Started = { kafkaStarted: true, postgresStarted: true }): Promise<void> {
  const [kafka, postgres] = await Promise.all([which.kafkaStarted && stopKafka(defaultBrokerOptions()), which.postgresStarted && stopPostgres()])
  log.info('infra.down', { kafka: kafka ? 'stopped' : 'not ours', postgres: postgres ? 'stopped' : 'not ours' })
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
