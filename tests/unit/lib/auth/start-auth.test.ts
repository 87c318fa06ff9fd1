import { describe, expect, test } from 'bun:test'
import type { KeyRecord } from '../../../../src/lib/auth/api-key.ts'
import { OPEN } from '../../../../src/lib/auth/key-ring.ts'
import { type KeySource, startAuth, watchKeys } from '../../../../src/lib/auth/start-auth.ts'
import { loadConfig } from '../../../../src/lib/config.ts'
import { ConfigError, DatabaseUnavailableError, UnauthenticatedError } from '../../../../src/lib/errors.ts'
import { createLogger, type LogFields } from '../../../../src/lib/log.ts'
import { refusal, testKey } from '../../../support/api-keys.ts'
import { failingSql, fakeSql } from '../../../support/fake-sql.ts'

const key = testKey

function capture() {
  const lines: (LogFields & { level: string; event: string })[] = []
  const log = createLogger({}, { level: 'debug', write: (line) => lines.push(JSON.parse(line)) })
  return { log, events: (event: string) => lines.filter((line) => line.event === event) }
}

/**
 * A key source the test drives: `keys` is what the next load returns, `down` makes loads and touches fail, and
 * loaded(n) resolves once n loads have been answered after the call, so a test waits for reloads, never a time.
 */
function source(initial: KeyRecord[]) {
  const state = { keys: initial, down: false, loads: 0, touched: [] as { ids: string[]; at: Date }[] }
  const waiters: { at: number; resolve: () => void }[] = []
  const settle = () => {
    for (const waiter of [...waiters])
      if (state.loads >= waiter.at) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
  }
  const keySource: KeySource = {
    async liveKeys() {
      state.loads++
      // Settled after this load's answer is taken (a macrotask later), so the ring has it when a waiter wakes.
      setTimeout(settle, 0)
      if (state.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
      return state.keys
    },
    async touchKeys(ids, at) {
      if (state.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
      state.touched.push({ ids: [...ids].sort(), at })
    },
  }
  const loaded = (more: number) => new Promise<void>((resolve) => waiters.push({ at: state.loads + more, resolve }))
  return { state, keySource, loaded }
}

describe('watchKeys', () => {
  const writer = key('shipper', 'ingest')
  const reader = key('grafana', 'read')

  test('loads the keys before it resolves; a key revoked at the source is refused after the next reload, a new one accepted', async () => {
    const { state, keySource, loaded } = source([writer.record])
    const { log } = capture()
    const auth = await watchKeys(keySource, log, { refreshMs: 5 })
    try {
      expect(auth.authenticator.authenticate(writer.key, 'ingest', 'a')).toEqual(writer.record)
      expect(refusal(() => auth.authenticator.authenticate(reader.key, 'read', 'a'))).toBeInstanceOf(UnauthenticatedError)
      state.keys = [reader.record]
      await loaded(2)
      expect(refusal(() => auth.authenticator.authenticate(writer.key, 'ingest', 'b'))).toBeInstanceOf(UnauthenticatedError)
      expect(auth.authenticator.authenticate(reader.key, 'read', 'b')).toEqual(reader.record)
    } finally {
      await auth.close()
    }
  })

  test('rejects when the first load fails: without keys there is nothing to check a request against', async () => {
    const { state, keySource } = source([writer.record])
    state.down = true
    await expect(watchKeys(keySource, capture().log, { refreshMs: 5 })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  test('keeps the last keys loaded while the source fails: one warning per outage, a debug line per failed reload, one line when it ends', async () => {
    const { state, keySource, loaded } = source([writer.record])
    const { log, events } = capture()
    const auth = await watchKeys(keySource, log, { refreshMs: 5, touchMs: 60_000 })
    try {
      state.down = true
      await loaded(4)
      expect(auth.authenticator.authenticate(writer.key, 'ingest', 'a')).toEqual(writer.record)
      expect(events('auth.keys.reload-failed').length).toBeGreaterThanOrEqual(3)
      expect(events('auth.keys.unavailable')).toHaveLength(1)
      expect(events('auth.keys.unavailable')[0]).toMatchObject({ level: 'warn', keys: 1 })
      expect(events('auth.keys.restored')).toHaveLength(0)

      state.keys = [reader.record]
      state.down = false
      await loaded(2)
      expect(events('auth.keys.restored')).toHaveLength(1)
      expect(refusal(() => auth.authenticator.authenticate(writer.key, 'ingest', 'a'))).toBeInstanceOf(UnauthenticatedError)

      // A second outage is announced again.
      state.down = true
      await loaded(2)
      expect(events('auth.keys.unavailable')).toHaveLength(2)
    } finally {
      await auth.close()
    }
  })

  test('a reload that never answers counts as a failure, and the next ticks wait for it instead of piling up queries', async () => {
    const { keySource } = source([writer.record])
    let calls = 0
    let answer: (keys: KeyRecord[]) => void = () => {}
    const first = keySource.liveKeys
    const hanging: KeySource = {
      ...keySource,
      liveKeys: () => {
        calls++
        if (calls === 2) return new Promise<KeyRecord[]>((resolve) => (answer = resolve))
        return calls === 1 ? first() : Promise.resolve([reader.record])
      },
    }
    const { log, events } = capture()
    const auth = await watchKeys(hanging, log, { refreshMs: 5, loadTimeoutMs: 20 })
    try {
      while (events('auth.keys.reload-failed').length < 3) await Bun.sleep(5)
      expect(calls).toBe(2)
      expect(events('auth.keys.unavailable')).toHaveLength(1)
      expect(auth.authenticator.authenticate(writer.key, 'ingest', 'a')).toEqual(writer.record)
      answer([writer.record])
      while (events('auth.keys.restored').length === 0) await Bun.sleep(5)
      expect(auth.authenticator.authenticate(reader.key, 'read', 'a')).toEqual(reader.record)
    } finally {
      await auth.close()
    }
  })

  test('writes the ids of keys that authenticated, each once per flush; refused keys are not touched', async () => {
    const { state, keySource } = source([writer.record, reader.record])
    const auth = await watchKeys(keySource, capture().log, { refreshMs: 60_000, touchMs: 5 })
    try {
      const before = Date.now()
      for (let i = 0; i < 3; i++) auth.authenticator.authenticate(writer.key, 'ingest', 'a')
      refusal(() => auth.authenticator.authenticate(reader.key, 'ingest', 'a'))
      while (state.touched.length === 0) await Bun.sleep(5)
      expect(state.touched).toHaveLength(1)
      expect(state.touched[0]!.ids).toEqual([writer.record.id])
      expect(state.touched[0]!.at.getTime()).toBeGreaterThanOrEqual(before)
    } finally {
      await auth.close()
    }
  })

  test('ids whose write failed are written with the next one; close() writes what is pending', async () => {
    const { state, keySource, loaded } = source([writer.record, reader.record])
    const { log, events } = capture()
    const auth = await watchKeys(keySource, log, { refreshMs: 5, touchMs: 5 })
    state.down = true
    auth.authenticator.authenticate(writer.key, 'ingest', 'a')
    while (events('auth.keys.touch-failed').length === 0) await Bun.sleep(5)
    state.down = false
    await loaded(1)
    auth.authenticator.authenticate(reader.key, 'read', 'a')
    await auth.close()
    expect(state.touched.flatMap((touch) => touch.ids).sort()).toEqual([writer.record.id, reader.record.id].sort())
  })

  test('close() stops reloading', async () => {
    const { state, keySource, loaded } = source([writer.record])
    const auth = await watchKeys(keySource, capture().log, { refreshMs: 1, touchMs: 60_000 })
    await loaded(1)
    await auth.close()
    const loads = state.loads
    // A clock instead of a sleep: another watcher on the same 1 ms ticks reloads five times meanwhile.
    const clock = source([])
    const running = await watchKeys(clock.keySource, capture().log, { refreshMs: 1, touchMs: 60_000 })
    await clock.loaded(5)
    await running.close()
    expect(state.loads).toBe(loads)
  })
})

describe('startAuth', () => {
  const base = loadConfig({})
  const required = { ...base, auth: { ...base.auth, mode: 'required' as const } }

  test('off: everyone is the open caller, and no database is asked', async () => {
    const fake = fakeSql(() => Promise.reject(new Error('no query expected')))
    const auth = await startAuth({ ...base, auth: { ...base.auth, mode: 'off' } }, capture().log, { sql: fake.sql })
    expect(auth.authenticator.authenticate(undefined, 'admin', 'a')).toBe(OPEN)
    await auth.close()
    expect(fake.awaited()).toBe(0)
  })

  test('required, with no api_keys table: ConfigError saying how to create it', async () => {
    const missing = failingSql(Object.assign(new Error('relation "api_keys" does not exist'), { code: '42P01' }))
    const failure = await startAuth(required, capture().log, { sql: missing.sql }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(ConfigError)
    expect((failure as ConfigError).variable).toBe('LOGSTREAM_AUTH')
    expect((failure as Error).message).toContain('api_keys')
    expect((failure as Error).message).toContain('bun run keys')
  })

  test('required, with PostgreSQL unreachable: DatabaseUnavailableError (retryable)', async () => {
    const down = failingSql(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))
    const failure = await startAuth(required, capture().log, { sql: down.sql }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DatabaseUnavailableError)
    expect((failure as DatabaseUnavailableError).retryable).toBe(true)
  })
})
