/** `bun src/query.ts`: the HTTP query API (search, trace look-up, health, OpenAPI at /openapi). */
import { loadConfig } from './lib/config.ts'
import { connect } from './lib/db.ts'
import { warnIfAutovacuumOff } from './lib/hot-partition.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { queryDatabaseUrl } from './lib/log-search.ts'
import { createQueryApp } from './lib/query-app.ts'

let log = createLogger({ service: 'query' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'query' }, { level: config.logLevel })
  const sql = connect(queryDatabaseUrl(config.databaseUrl, config.http.queryTimeoutMs), { max: config.dbPoolMax })
  const app = createQueryApp({ sql, log }).listen({ hostname: config.http.host, port: config.http.port })
  log.info('query.listening', { host: config.http.host, port: app.server?.port })
  // Not awaited: the API serves meanwhile; an unreachable database is /health's to report.
  void warnIfAutovacuumOff(sql, log)
  handleSignals(log, async () => {
    // Stops accepting at once; the promise settles when the requests already in flight have answered.
    await app.server?.stop(false)
    await sql.end({ timeout: 5 })
  })
} catch (error) {
  exitOnStartupError(log, error)
}
