import type { Config } from './config.ts'
import { applySchema, connect, ensureDatabase } from './db.ts'
import { clusterBrokerCount, createAdmin, ensureTopics, topicReplication, topicSpecs } from './kafka.ts'
import { maintainPartitions, type RetentionResult } from './retention.ts'

export interface SetupResult {
  createdTopics: string[]
  partitions: RetentionResult
}

async function setUpTopics(config: Config): Promise<string[]> {
  const admin = createAdmin(config.kafka)
  try {
    const replication = topicReplication(await clusterBrokerCount(admin), config.kafka.replicationFactor)
    return await ensureTopics(admin, topicSpecs(config.kafka), replication)
  } finally {
    await admin.close()
  }
}

async function setUpDatabase(config: Config): Promise<RetentionResult> {
  await ensureDatabase(config.databaseUrl)
  const sql = connect(config.databaseUrl, { max: 1 })
  try {
    await applySchema(sql)
    return await maintainPartitions(sql, { retentionDays: config.retentionDays, aheadDays: config.partitionsAheadDays })
  } finally {
    await sql.end()
  }
}

/** Brings Kafka topics and the database schema to what LogStream needs. Idempotent; safe to run at every start. */
export async function setUp(config: Config): Promise<SetupResult> {
  const [createdTopics, partitions] = await Promise.all([setUpTopics(config), setUpDatabase(config)])
  return { createdTopics, partitions }
}
