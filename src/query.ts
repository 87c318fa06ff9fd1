/** `bun src/query.ts`: the HTTP query API (search, trace look-up, health, OpenAPI at /openapi). */
import { loadConfig } from './lib/config.ts'
import { connect } from './lib/db.ts'
import { warnIfAutovacuumOff } from './lib/hot-partition.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { queryDatabaseUrl } from './lib/log-search.ts'
import { createQueryApp } from './lib/query-app.ts'
import { startLiveTail } from './lib/tail/live-tail.ts'

let log = createLogger({ service: 'query' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'query' }, { level: config.logLevel })
  const sql = connect(queryDatabaseUrl(config.databaseUrl, config.http.queryTimeoutMs), { max: config.dbPoolMax })
  const tail = startLiveTail({ sql, databaseUrl: config.databaseUrl, settings: config.tail, log })
  const app = createQueryApp({ sql, log, tail: tail.hub }).listen({ hostname: config.http.host, port: config.http.port })
  log.info('query.listening', { host: config.http.host, port: app.server?.port })
  // Not awaited: the API serves meanwhile; an unreachable database is /health's to report.
  void warnIfAutovacuumOff(sql, log)
  handleSignals(log, async () => {
    // /tail streams never end by themselves: end them first, or stopping the server would wait on them.
    await tail.stop()
    // Stops accepting at once; the promise settles when the requests already in flight have answered.
    await app.server?.stop(false)
    await sql.end({ timeout: 5 })
  })
} catch (error) {
  exitOnStartupError(log, error)
}
