import { applySchema, connect, ensureDatabase, maintenanceUrl, type Sql } from '../src/lib/db.ts'
import { maintainPartitions } from '../src/lib/retention.ts'

export interface BenchDatabase {
  url: string
  sql: Sql
  /** Closes `sql` and drops the database. */
  drop(): Promise<void>
}

/**
 * A benchmark's own database on the server of `baseUrl`, created afresh (a previous run's, left by a crash,
 * is dropped first) with the schema and partitions from yesterday to tomorrow.
 */
export async function freshBenchDatabase(baseUrl: string, name: string, max = 2): Promise<BenchDatabase> {
  const admin = connect(maintenanceUrl(baseUrl), { max: 1 })
  const dropDatabase = () => admin`drop database if exists ${admin(name)} with (force)`
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  await dropDatabase()
  await ensureDatabase(url.toString())
  const sql = connect(url.toString(), { max })
  await applySchema(sql)
  await maintainPartitions(sql, { retentionDays: 2, aheadDays: 1 })
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end({ timeout: 5 })
      await dropDatabase()
      await admin.end()
    },
  }
}
