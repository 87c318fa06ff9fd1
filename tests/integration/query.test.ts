import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKey } from '../../src/lib/auth/key-store.ts'
import { createLogWriter } from '../../src/lib/log-writer.ts'
import { eventually, freshDatabase } from '../support/infra.ts'
import { readSse } from '../support/sse-reader.ts'

/** `bun src/query.ts` as a process: listens where configured, answers, and stops cleanly on SIGTERM. */
const database = await freshDatabase()
await database.sql`insert into logs ${database.sql({ timestamp: new Date(), service: 'api', level: 'INFO', message: 'hello from the entrypoint test', kafka_partition: 0, kafka_offset: 1 })}`

function start(env: Record<string, string> = {}) {
  const child = Bun.spawn([process.execPath, 'src/query.ts'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: database.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', LOGSTREAM_AUTH: 'off', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: string[] = []
  void (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = child.stdout.getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      buffered += decoder.decode(chunk.value)
      const parts = buffered.split('\n')
      buffered = parts.pop() ?? ''
      lines.push(...parts)
    }
  })()
  const events = () => lines.map((line) => JSON.parse(line) as { event: string; port?: number; protocol?: string; keys?: string; error?: { message?: string } })
  return { child, events }
}

const running: ReturnType<typeof start>['child'][] = []
afterAll(() => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
})

describe('src/query.ts', () => {
  test('serves queries on the configured port and exits 0 on SIGTERM', async () => {
    const { child, events } = start()
    running.push(child)
    const port = await eventually(() => events().find((event) => event.event === 'query.listening')?.port, 20_000, 'query.listening')

    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).toBe(200)
    const query = await fetch(`http://127.0.0.1:${port}/query?service=api`)
    const body = (await query.json()) as { logs: { message: string }[] }
    expect(body.logs.map((log) => log.message)).toEqual(['hello from the entrypoint test'])

    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    expect(events().map((event) => event.event)).toContain('shutdown.done')
  })

  test("streams /tail from the consumers' announcements, and on SIGTERM ends every stream cleanly and exits 0", async () => {
    const { child, events } = start()
    running.push(child)
    const port = await eventually(() => events().find((event) => event.event === 'query.listening')?.port, 20_000, 'query.listening')
    await eventually(() => (events().some((event) => event.event === 'tail.listening') ? true : undefined), 20_000, 'tail.listening')
    const response = await fetch(`http://127.0.0.1:${port}/tail?service=tailed`)
    expect(response.headers.get('content-type')).toStartWith('text/event-stream')
    const stream = readSse(response.body!)
    const record = {
      timestampMicros: Date.now() * 1000,
      service: 'tailed',
      level: 'INFO' as const,
      message: 'seen live',
      metadata: '{}',
      traceId: '',
      spanId: '',
      host: '',
      tags: [],
    }
    await createLogWriter(database.sql).write([{ partition: 0, offset: 2n, record }])
    await eventually(() => stream.parser.events[0], 20_000, 'the log on the stream')
    expect(JSON.parse(stream.parser.events[0]!.data).message).toBe('seen live')

    child.kill('SIGTERM')
    // The stream ends as a stream does (the reader reports done), not with a reset connection.
    await stream.done
    expect(await child.exited).toBe(0)
    expect(events().map((event) => event.event)).toContain('shutdown.done')
  })
})

describe('src/query.ts with keys (issue 15)', () => {
  test('LOGSTREAM_AUTH=required and TLS files: serves https, a read key for /query, /health open; says so when it starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logstream-query-tls-'))
    try {
      const made = Bun.spawnSync(
        [
          'openssl',
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
        ],
        { stdout: 'ignore', stderr: 'pipe' },
      )
      expect(made.exitCode).toBe(0)
      const { key } = await createKey(database.sql, { name: 'query-entrypoint-test', scope: 'read' })
      const { child, events } = start({ LOGSTREAM_AUTH: 'required', TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem') })
      running.push(child)
      const listening = await eventually(() => events().find((event) => event.event === 'query.listening'), 20_000, 'query.listening')
      expect(listening.protocol).toBe('https')
      expect(listening.keys).toStartWith('required')
      const url = `https://127.0.0.1:${listening.port}`
      // The certificate is our own, self-signed: trusted for this request only.
      const tls = { rejectUnauthorized: false }
      expect((await fetch(`${url}/health`, { tls })).status).toBe(200)
      const refused = await fetch(`${url}/query?service=api`, { tls })
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="logstream"')
      const answered = await fetch(`${url}/query?service=api`, { tls, headers: { authorization: `Bearer ${key}` } })
      expect(answered.status).toBe(200)
      expect(((await answered.json()) as { logs: unknown[] }).logs).toHaveLength(1)
      await expect(fetch(`http://127.0.0.1:${listening.port}/health`)).rejects.toThrow()
      child.kill('SIGTERM')
      expect(await child.exited).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('LOGSTREAM_AUTH=off on an address other machines reach: refuses to start, naming LOGSTREAM_AUTH', async () => {
    const { child, events } = start({ LOGSTREAM_AUTH: 'off', HTTP_HOST: '0.0.0.0' })
    running.push(child)
    expect(await child.exited).toBe(1)
    const failed = events().find((event) => event.event === 'startup.failed')
    expect(failed?.error?.message).toContain('LOGSTREAM_AUTH')
    expect(events().some((event) => event.event === 'query.listening')).toBe(false)
  })

  test('LOGSTREAM_AUTH=off on loopback: says it serves open, loopback only', async () => {
    const { child, events } = start({ LOGSTREAM_AUTH: 'off' })
    running.push(child)
    const listening = await eventually(() => events().find((event) => event.event === 'query.listening'), 20_000, 'query.listening')
    expect(listening.protocol).toBe('http')
    expect(listening.keys).toContain('loopback only')
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  })
})
