import { describe, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { answers, startPostgres, stopPostgres } from '../../../../scripts/infra/postgres-server.ts'
import { freePort } from '../../../../scripts/services.ts'
import { baseConfig } from '../../../support/infra.ts'

describe('local PostgreSQL', () => {
  test('where nothing listens, a private cluster is initialised and started, and stop stops exactly it', async () => {
    const parent = mkdtempSync(`${tmpdir()}/logstream-pg-`)
    // As root the cluster runs as the postgres user, which must be able to reach its folder.
    chmodSync(parent, 0o755)
    const dir = `${parent}/cluster`
    const url = `postgres://postgres@127.0.0.1:${freePort()}/postgres`
    try {
      expect(await startPostgres(url, dir)).toEqual({ started: true })
      expect(await answers(url)).toBe(true)
      expect(await startPostgres(url, dir)).toEqual({ started: false })
      expect(await stopPostgres(dir)).toBe(true)
      expect(await answers(url)).toBe(false)
      expect(await stopPostgres(dir)).toBe(false)
    } finally {
      await stopPostgres(dir).catch(() => {})
      rmSync(parent, { recursive: true, force: true })
    }
  }, 120_000)

  test('a server that was already running is used as it is and never stopped by us', async () => {
    const dir = mkdtempSync(`${tmpdir()}/logstream-pg-unused-`)
    try {
      expect(await startPostgres(baseConfig.databaseUrl, dir)).toEqual({ started: false })
      expect(await stopPostgres(dir)).toBe(false)
      expect(await answers(baseConfig.databaseUrl)).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
