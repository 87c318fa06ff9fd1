import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { hashKey } from '../../src/lib/auth/api-key.ts'
import { startAuth } from '../../src/lib/auth/start-auth.ts'
import { connect, maintenanceUrl } from '../../src/lib/db.ts'
import { PermissionDeniedError, UnauthenticatedError } from '../../src/lib/errors.ts'
import { createLogger } from '../../src/lib/log.ts'
import { baseConfig, eventually } from '../support/infra.ts'

/**
 * `bun run keys` as an operator runs it, on a database of its own that does not exist yet: the CLI creates
 * it and applies schema.sql, so this file checks that too. Keys it prints are checked with startAuth, as a
 * service would.
 */
const repoRoot = resolve(import.meta.dir, '../..')
const databaseName = `logstream_test_keys_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const databaseUrl = (() => {
  const url = new URL(baseConfig.databaseUrl)
  url.pathname = `/${databaseName}`
  return url.toString()
})()
const config = { ...baseConfig, databaseUrl, auth: { ...baseConfig.auth, mode: 'required' as const, refreshMs: 100 } }
const quiet = createLogger({}, { write: () => {} })

async function keys(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([process.execPath, 'src/keys.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

const lastLine = (stdout: string) => stdout.trimEnd().split('\n').at(-1)!
const refusal = (run: () => unknown): unknown => {
  try {
    run()
  } catch (error) {
    return error
  }
  return undefined
}

let shipperKey: string

beforeAll(async () => {
  // The first command runs on a database that does not exist yet.
  const created = await keys('create', '--name', 'shipper', '--scope', 'ingest')
  expect(created).toMatchObject({ code: 0, stderr: '' })
  shipperKey = lastLine(created.stdout)
})
afterAll(async () => {
  const admin = connect(maintenanceUrl(baseConfig.databaseUrl), { max: 1 })
  await admin`drop database if exists ${admin(databaseName)} with (force)`
  await admin.end()
})

describe('keys create', () => {
  test('creates the database and schema when missing, and prints the key alone on the last line, after saying it is shown once', async () => {
    expect(shipperKey).toMatch(/^lsk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    const result = await keys('create', '--name', 'grafana', '--scope', 'read', '--entries-per-second', '50', '--bytes-per-second', '65536')
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines.length).toBeGreaterThan(1)
    expect(lines.slice(0, -1).join('\n')).toContain('shown once')
    expect(lines.slice(0, -1).join('\n')).not.toContain(lastLine(result.stdout))
    expect(result.stdout.endsWith(`${lastLine(result.stdout)}\n`)).toBe(true)
  })

  test('the printed key authenticates through startAuth for its scope only', async () => {
    const auth = await startAuth(config, quiet)
    try {
      expect(auth.authenticator.authenticate(shipperKey, 'ingest', '127.0.0.1')).toMatchObject({ name: 'shipper', scope: 'ingest' })
      expect(refusal(() => auth.authenticator.authenticate(shipperKey, 'read', '127.0.0.1'))).toBeInstanceOf(PermissionDeniedError)
      expect(refusal(() => auth.authenticator.authenticate(`${shipperKey.slice(0, -1)}x`, 'ingest', '127.0.0.2'))).toBeInstanceOf(UnauthenticatedError)
    } finally {
      await auth.close()
    }
  })

  test('`bun run keys` runs the same CLI', async () => {
    const child = Bun.spawn([process.execPath, 'run', '--silent', 'keys', 'create', '--name', 'via-script', '--scope', 'admin'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, code] = await Promise.all([new Response(child.stdout).text(), child.exited])
    expect(code).toBe(0)
    expect(lastLine(stdout)).toMatch(/^lsk_/)
  })

  test('a name a live key already has: exit 2, and no second key', async () => {
    const result = await keys('create', '--name', 'shipper', '--scope', 'read')
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('already exists')
    expect(result.stdout).toBe('')
  })
})

describe('keys list', () => {
  test('shows name, scope, times and limits, and never a key or its hash', async () => {
    const { code, stdout } = await keys('list')
    expect(code).toBe(0)
    const [header, ...rows] = stdout.trimEnd().split('\n')
    expect(header!.split(/\s{2,}/)).toEqual(['NAME', 'SCOPE', 'ID', 'CREATED', 'LAST USED', 'REVOKED', 'ENTRIES/S', 'BYTES/S'])
    const grafana = rows.find((row) => row.startsWith('grafana '))!.split(/\s{2,}/)
    expect(grafana[1]).toBe('read')
    expect(grafana[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/)
    expect(grafana.slice(4)).toEqual(['-', '-', '50', '65536'])
    expect(stdout).not.toContain(shipperKey)
    expect(stdout).not.toContain(shipperKey.slice(17))
    const hash = hashKey(shipperKey)
    for (const encoded of [hash.toString('hex'), hash.toString('base64'), hash.toString('base64url')]) expect(stdout).not.toContain(encoded)
    const json = await keys('list', '--json')
    expect(json.code).toBe(0)
    expect(json.stdout).not.toContain(shipperKey.slice(17))
    expect(json.stdout).not.toContain('hash')
    expect((JSON.parse(json.stdout) as { name: string }[]).map((key) => key.name)).toContain('grafana')
  })
})

describe('keys limit', () => {
  test('sets a limit and returns one to the default', async () => {
    expect((await keys('limit', 'grafana', '--entries-per-second', 'default', '--bytes-per-second', '2048')).code).toBe(0)
    const row = (await keys('list')).stdout
      .split('\n')
      .find((line) => line.startsWith('grafana '))!
      .split(/\s{2,}/)
    expect(row.slice(-2)).toEqual(['default', '2048'])
  })
})

describe('keys revoke', () => {
  test('the key stops authenticating, list shows it revoked, and the name can be used for a new key', async () => {
    const created = await keys('create', '--name', 'rotate', '--scope', 'ingest')
    const old = lastLine(created.stdout)
    const auth = await startAuth(config, quiet)
    try {
      expect(auth.authenticator.authenticate(old, 'ingest', '127.0.0.1')).toMatchObject({ name: 'rotate' })
      const revoked = await keys('revoke', 'rotate')
      expect(revoked.code).toBe(0)
      const refused = await eventually(() => refusal(() => auth.authenticator.authenticate(old, 'ingest', '127.0.0.1')), 5_000, 'the revoked key to be refused')
      expect(refused).toBeInstanceOf(UnauthenticatedError)
      const listed = (await keys('list')).stdout.split('\n').filter((line) => line.startsWith('rotate '))
      expect(listed).toHaveLength(1)
      expect(listed[0]!.split(/\s{2,}/)[5]).toMatch(/^\d{4}-/)

      const replacement = await keys('create', '--name', 'rotate', '--scope', 'ingest')
      expect(replacement.code).toBe(0)
      expect(lastLine(replacement.stdout)).not.toBe(old)
      expect((await keys('list')).stdout.split('\n').filter((line) => line.startsWith('rotate '))).toHaveLength(2)
    } finally {
      await auth.close()
    }
  })

  test('a name with no live key: exit 1 and a message', async () => {
    const result = await keys('revoke', 'nobody')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no live key named "nobody"')
  })
})

describe('usage errors exit 2 with a message', () => {
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /no command/],
    ['an unknown command', ['rotate'], /unknown command "rotate"/],
    ['create without --name', ['create', '--scope', 'read'], /--name/],
    ['create without --scope', ['create', '--name', 'x'], /--scope/],
    ['an unknown scope', ['create', '--name', 'x', '--scope', 'write'], /--scope must be one of ingest, read, admin/],
    [
      'a limit that is not a number',
      ['create', '--name', 'x', '--scope', 'read', '--entries-per-second', 'lots'],
      /--entries-per-second must be a whole number/,
    ],
    ['a limit out of range', ['create', '--name', 'x', '--scope', 'read', '--bytes-per-second', '10'], /bytes-per-second must be a whole number between 1024/],
    ['a malformed name', ['create', '--name', 'has space', '--scope', 'read'], /key name/],
    ['revoke without a name', ['revoke'], /revoke needs exactly one NAME/],
    ['limit without limits', ['limit', 'grafana'], /limit needs --entries-per-second/],
    ['an unknown option', ['list', '--all'], /--all/],
    ['an option of another command', ['revoke', 'grafana', '--scope', 'read'], /revoke takes no --scope/],
  ]
  for (const [what, args, message] of cases)
    test(what, async () => {
      const result = await keys(...args)
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(message)
    })

  test('a mistake in the command line is followed by the usage', async () => {
    expect((await keys('create', '--name', 'x')).stderr).toContain('usage: bun run keys')
  })

  test('--help prints the usage and exits 0', async () => {
    const result = await keys('--help')
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('usage: bun run keys')
  })
})
