import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createKey, listKeys, revokeKey, setLimits } from '../../../../src/lib/auth/key-store.ts'
import { type Auth, startAuth } from '../../../../src/lib/auth/start-auth.ts'
import type { Config } from '../../../../src/lib/config.ts'
import { connect } from '../../../../src/lib/db.ts'
import { ConfigError, UnauthenticatedError } from '../../../../src/lib/errors.ts'
import { createLogger, type LogFields } from '../../../../src/lib/log.ts'
import { baseConfig, eventually, freshDatabase } from '../../../support/infra.ts'
import { startTcpProxy, type TcpProxy } from '../../../support/tcp-proxy.ts'

/**
 * startAuth against PostgreSQL: keys created, revoked and limited through one pool (as `bun run keys` in
 * another process would) reach a service's authenticator, which reads through a pool of its own.
 */
const REFRESH_MS = 150

const db = await freshDatabase({ partitions: false })
const config: Config = { ...baseConfig, databaseUrl: db.url, auth: { ...baseConfig.auth, mode: 'required', refreshMs: REFRESH_MS } }
const opened: Auth[] = []

afterAll(async () => {
  for (const auth of opened) await auth.close()
})

function capture() {
  const lines: (LogFields & { level: string; event: string })[] = []
  const log = createLogger({}, { level: 'debug', write: (line) => lines.push(JSON.parse(line)) })
  return { log, events: (event: string) => lines.filter((line) => line.event === event) }
}

async function start(overrides: Partial<Config> = {}, options: { touchMs?: number } = {}, log = capture().log): Promise<Auth> {
  const auth = await startAuth({ ...config, ...overrides }, log, options)
  opened.push(auth)
  return auth
}

const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`
const refused = (auth: Auth, key: string, scope: 'ingest' | 'read' | 'admin' = 'ingest') => {
  try {
    auth.authenticator.authenticate(key, scope, '127.0.0.1')
    return undefined
  } catch (error) {
    return error
  }
}

describe('startAuth', () => {
  test('a key created before start authenticates; one revoked in another pool is refused within refreshMs and a query', async () => {
    const name = unique('shipper')
    const { key, record } = await createKey(db.sql, { name, scope: 'ingest' })
    const auth = await start()
    expect(auth.authenticator.authenticate(key, 'ingest', '127.0.0.1')).toEqual(record)
    const revokedAt = Date.now()
    await revokeKey(db.sql, name)
    expect(await eventually(() => refused(auth, key), 5_000, 'the revoked key to be refused')).toBeInstanceOf(UnauthenticatedError)
    // Generous against a busy machine, but a reload per revocation rather than per process start.
    expect(Date.now() - revokedAt).toBeLessThan(REFRESH_MS + 2_000)
  })

  test('a key created after start, and a change of limits, are picked up by the next reload', async () => {
    const auth = await start()
    const name = unique('late')
    const { key } = await createKey(db.sql, { name, scope: 'read' })
    expect(refused(auth, key, 'read')).toBeInstanceOf(UnauthenticatedError)
    await eventually(() => (refused(auth, key, 'read') === undefined ? true : undefined), 5_000, 'the new key to authenticate')
    await setLimits(db.sql, name, { entriesPerSecond: 42 })
    await eventually(
      () => ((auth.authenticator.authenticate(key, 'read', '127.0.0.1') as { entriesPerSecond?: number }).entriesPerSecond === 42 ? true : undefined),
      5_000,
      'the new limit',
    )
  })

  test('records when each key was last used, written in batches', async () => {
    const { key, record } = await createKey(db.sql, { name: unique('used'), scope: 'ingest' })
    const { record: idle } = await createKey(db.sql, { name: unique('idle'), scope: 'ingest' })
    const auth = await start({}, { touchMs: 100 })
    const before = Date.now()
    auth.authenticator.authenticate(key, 'ingest', '127.0.0.1')
    const lastUsed = await eventually(async () => (await listKeys(db.sql)).find((info) => info.id === record.id)!.lastUsedAt ?? undefined, 5_000, 'last used')
    expect(lastUsed.getTime()).toBeGreaterThanOrEqual(before - 1000)
    expect((await listKeys(db.sql)).find((info) => info.id === idle.id)!.lastUsedAt).toBeNull()
  })

  test('close() writes last-used times still pending', async () => {
    const { key, record } = await createKey(db.sql, { name: unique('closing'), scope: 'ingest' })
    const auth = await startAuth(config, capture().log)
    auth.authenticator.authenticate(key, 'ingest', '127.0.0.1')
    await auth.close()
    expect((await listKeys(db.sql)).find((info) => info.id === record.id)!.lastUsedAt).toBeInstanceOf(Date)
  })

  test('without an api_keys table, start fails with a ConfigError that says how to create it', async () => {
    const bare = await freshDatabase({ partitions: false })
    await bare.sql`drop table api_keys`
    const failure = await startAuth({ ...config, databaseUrl: bare.url }, capture().log).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ConfigError)
    expect((failure as Error).message).toMatch(/api_keys.*bun run keys/)
  })

  test('LOGSTREAM_AUTH=off needs no database', async () => {
    const auth = await start({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none', auth: { ...config.auth, mode: 'off' } })
    expect(auth.authenticator.authenticate(undefined, 'admin', '127.0.0.1')).toMatchObject({ id: 'open' })
  })
})

describe('startAuth while PostgreSQL is down', () => {
  let proxy: TcpProxy
  beforeAll(async () => {
    proxy = await startTcpProxy({ host: new URL(db.url).hostname, port: Number(new URL(db.url).port || 5432) })
  })
  afterAll(async () => {
    await proxy.close()
  })

  test('keeps the last keys loaded, warns once for the outage, and follows revocations again once it is back', async () => {
    const kept = await createKey(db.sql, { name: unique('kept'), scope: 'ingest' })
    const doomed = await createKey(db.sql, { name: unique('doomed'), scope: 'ingest' })
    const through = new URL(db.url)
    through.port = String(proxy.port)
    const { log, events } = capture()
    const auth = await start({ databaseUrl: through.toString() }, {}, log)
    expect(auth.authenticator.authenticate(doomed.key, 'ingest', '127.0.0.1')).toEqual(doomed.record)

    await proxy.cut()
    // Revoked while this service cannot hear of it: it goes on accepting both keys (the last good set).
    await revokeKey(db.sql, doomed.record.name)
    await eventually(() => (events('auth.keys.reload-failed').length >= 3 ? true : undefined), 10_000, 'three failed reloads')
    expect(auth.authenticator.authenticate(kept.key, 'ingest', '127.0.0.1')).toEqual(kept.record)
    expect(auth.authenticator.authenticate(doomed.key, 'ingest', '127.0.0.1')).toEqual(doomed.record)
    expect(events('auth.keys.unavailable')).toHaveLength(1)
    expect(events('auth.keys.unavailable')[0]!.level).toBe('warn')

    await proxy.restore()
    expect(await eventually(() => refused(auth, doomed.key), 10_000, 'the revocation to arrive')).toBeInstanceOf(UnauthenticatedError)
    expect(auth.authenticator.authenticate(kept.key, 'ingest', '127.0.0.1')).toEqual(kept.record)
    expect(events('auth.keys.restored')).toHaveLength(1)
    expect(events('auth.keys.unavailable')).toHaveLength(1)
  })

  test('a database that cannot be reached at start fails start (retryable), so the service is restarted instead of refusing every key', async () => {
    const nowhere = connect('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeout: 2 })
    const failure = await startAuth(config, capture().log, { sql: nowhere }).catch((error: unknown) => error)
    await nowhere.end()
    expect(failure).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true })
  })
})
