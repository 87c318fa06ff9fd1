/** `bun src/query.ts`: the HTTP query API (search, trace look-up, health, OpenAPI at /openapi). */
import { startAuth } from './lib/auth/start-auth.ts'
import { loadConfig, openServiceNote, refuseOpenListeners } from './lib/config.ts'
import { connect } from './lib/db.ts'
import { warnIfAutovacuumOff } from './lib/hot-partition.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'
import { queryDatabaseUrl } from './lib/log-search.ts'
import { createRegistry } from './lib/metrics.ts'
import { createQueryApp } from './lib/query-app.ts'
import { startLiveTail } from './lib/tail/live-tail.ts'
import { readTlsFiles } from './lib/tls-files.ts'

let log = createLogger({ service: 'query' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'query' }, { level: config.logLevel })
  // Before anything is opened: no keys on an address other machines reach is a configuration error.
  refuseOpenListeners(config, [config.http.host])
  const tls = readTlsFiles(config.tls)
  // Keys are read through a pool of their own: a reload never waits behind slow searches in the query pool's queue.
  const auth = await startAuth(config, log)
  const sql = connect(queryDatabaseUrl(config.databaseUrl, config.http.queryTimeoutMs), { max: config.dbPoolMax })
  const tail = startLiveTail({ sql, databaseUrl: config.databaseUrl, settings: config.tail, log })
  const app = createQueryApp({
    sql,
    log,
    tail: tail.hub,
    authenticator: auth.authenticator,
    recheckMs: config.auth.refreshMs,
    registry: createRegistry(),
  }).listen({
    hostname: config.http.host,
    port: config.http.port,
    ...(tls ? { tls } : {}),
  })
  log.info('query.listening', {
    host: config.http.host,
    port: app.server?.port,
    protocol: tls ? 'https' : 'http',
    keys:
      config.auth.mode === 'required'
        ? 'required: a read key for every route but /health, the explorer page and /openapi'
        : `off: ${openServiceNote(config, config.http.host)}`,
  })
  // Not awaited: the API serves meanwhile; an unreachable database is /health's to report.
  void warnIfAutovacuumOff(sql, log)
  handleSignals(log, async () => {
    // /tail streams never end by themselves: end them first, or stopping the server would wait on them.
    await tail.stop()
    // Stops accepting at once; the promise settles when the requests already in flight have answered.
    await app.server?.stop(false)
    await auth.close()
    await sql.end({ timeout: 5 })
  })
} catch (error) {
  exitOnStartupError(log, error)
}
