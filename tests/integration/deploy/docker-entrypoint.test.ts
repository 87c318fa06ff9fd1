import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { freePort } from '../../../scripts/services.ts'
import { hashKey, keyId } from '../../../src/lib/auth/api-key.ts'
import { connect, maintenanceUrl } from '../../../src/lib/db.ts'
import { baseConfig, eventually, freshDatabase, freshTopics } from '../../support/infra.ts'

/**
 * The image's entrypoint script run here for each service against the local Kafka and PostgreSQL, as a
 * container would run it: `bun` on the PATH, the repository as /app. (What needs neither, the Dockerfile
 * itself and the script's usage and failing healthchecks, is in tests/unit/deploy/dockerfile.test.ts.)
 */
const repoRoot = resolve(import.meta.dir, '../../..')
// Starting services against a real broker takes seconds; `bun test` alone would give each test only 5 s.
const SLOW_MS = 60_000
const entrypoint = join(repoRoot, 'scripts/docker-entrypoint.sh')

// The image has `bun` on its PATH; here the running Bun may be named otherwise (bun.exe in the npm package).
const bunDir = await mkdtemp(join(tmpdir(), 'logstream-bun-'))
await symlink(process.execPath, join(bunDir, 'bun'))

interface Run {
  pid: number
  exited: Promise<number>
  output: () => string
  stop: () => Promise<number>
}

function run(argv: string[], env: Record<string, string> = {}): Run {
  const child = Bun.spawn(['sh', entrypoint, ...argv], {
    cwd: '/',
    env: { ...process.env, PATH: `${bunDir}:${process.env.PATH}`, GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let output = ''
  const drained = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]).then((texts) => {
    output = texts.join('')
  })
  const exited = child.exited.then(async (code) => {
    await drained
    return code
  })
  return {
    pid: child.pid,
    exited,
    output: () => output,
    stop: () => {
      // exec in the script means this PID is the service itself, which must shut down cleanly on SIGTERM.
      process.kill(child.pid, 'SIGTERM')
      return exited
    },
  }
}

const started: Run[] = []
afterAll(async () => {
  await rm(bunDir, { recursive: true, force: true })
  for (const item of started) {
    try {
      process.kill(item.pid, 'SIGKILL')
    } catch {
      // Already exited, as it should have.
    }
  }
})

function start(argv: string[], env: Record<string, string>): Run {
  const item = run(argv, env)
  started.push(item)
  return item
}

/** Polls `healthcheck <service>` until it exits 0, failing with the service's output if it never does. */
async function becomesHealthy(service: string, env: Record<string, string>, running: Run): Promise<void> {
  await eventually(
    async () => {
      const exited = await Promise.race([running.exited.then((code) => `exited ${code}`), Bun.sleep(0).then(() => undefined)])
      if (exited) throw new Error(`${service} ${exited}: ${running.output()}`)
      return (await run(['healthcheck', service], env).exited) === 0 ? true : undefined
    },
    40_000,
    `${service} to report healthy`,
  )
}

function serviceEnv(config: Awaited<ReturnType<typeof freshTopics>>, databaseUrl: string): Record<string, string> {
  return {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    KAFKA_TOPIC: config.kafka.topic,
    KAFKA_DLQ_TOPIC: config.kafka.dlqTopic,
    KAFKA_CONSUMER_GROUP: config.kafka.consumerGroup,
    KAFKA_PARTITIONS: String(config.kafka.partitions),
    DATABASE_URL: databaseUrl,
  }
}

// Created up front so their clean-up registers with the file, not inside a test.
const database = await freshDatabase()
const ingestTopics = await freshTopics()
const queryTopics = await freshTopics()
const consumeTopics = await freshTopics()
const keysDatabase = await freshDatabase()
const keysTopics = await freshTopics()
const secretsRoot = await mkdtemp(join(tmpdir(), 'logstream-secrets-'))
afterAll(() => rm(secretsRoot, { recursive: true, force: true }))

describe('docker-entrypoint.sh', () => {
  test(
    'init creates the topics with their partitions and the schema, then exits 0',
    async () => {
      const id = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      const topic = `test.init.raw.${id}`
      const dlqTopic = `test.init.dlq.${id}`
      const database = `logstream_test_init_${id}`
      const url = new URL(baseConfig.databaseUrl)
      url.pathname = `/${database}`
      const admin = new Admin({ clientId: 'logstream-test', bootstrapBrokers: baseConfig.kafka.brokers })
      const server = connect(maintenanceUrl(baseConfig.databaseUrl), { max: 1 })
      try {
        const init = run(['init'], { KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: dlqTopic, KAFKA_PARTITIONS: '2', DATABASE_URL: url.toString() })
        expect(await init.exited).toBe(0)

        const metadata = await admin.metadata({ topics: [topic, dlqTopic] })
        expect(metadata.topics.get(topic)?.partitionsCount).toBe(2)
        expect(metadata.topics.get(dlqTopic)?.partitionsCount).toBe(1)
        const sql = connect(url.toString(), { max: 1 })
        try {
          const [logs] = await sql`select to_regclass('public.logs') is not null as exists`
          expect(logs?.exists).toBe(true)
        } finally {
          await sql.end()
        }
      } finally {
        await admin.deleteTopics({ topics: [topic, dlqTopic] }).catch(() => {})
        await admin.close()
        await server`drop database if exists ${server(database)} with (force)`
        await server.end()
      }
    },
    SLOW_MS,
  )

  test(
    'ingest serves gRPC, passes its healthcheck, and exits 0 on SIGTERM',
    async () => {
      const env = { ...serviceEnv(ingestTopics, database.url), GRPC_PORT: String(freePort()), OTLP_GRPC_PORT: '0', INGEST_HTTP_PORT: '0' }
      const ingest = start(['ingest'], env)
      await becomesHealthy('ingest', env, ingest)
      expect(await ingest.stop()).toBe(0)
    },
    SLOW_MS,
  )

  test(
    'query serves HTTP, passes its healthcheck, and exits 0 on SIGTERM',
    async () => {
      const env = { ...serviceEnv(queryTopics, database.url), HTTP_PORT: String(freePort()) }
      const query = start(['query'], env)
      await becomesHealthy('query', env, query)
      expect(await query.stop()).toBe(0)
    },
    SLOW_MS,
  )

  test(
    'consume joins its consumer group, passes its healthcheck, and exits 0 on SIGTERM',
    async () => {
      const config = consumeTopics
      // The healthcheck asks the consumer's GET /health, so its port is known up front.
      const env = { ...serviceEnv(config, database.url), CONSUME_HTTP_PORT: String(freePort()) }
      const consume = start(['consume'], env)
      await becomesHealthy('consume', env, consume)
      const admin = new Admin({ clientId: 'logstream-test', bootstrapBrokers: config.kafka.brokers })
      try {
        await eventually(
          async () => {
            const groups = await admin.describeGroups({ groups: [config.kafka.consumerGroup] })
            return (groups.get(config.kafka.consumerGroup)?.members.size ?? 0) > 0 ? true : undefined
          },
          40_000,
          'a member in the consumer group',
        )
      } finally {
        await admin.close()
      }
      expect(await consume.stop()).toBe(0)
    },
    SLOW_MS,
  )

  describe('keys', () => {
    // As compose runs init: the key file in a directory that does not exist yet (./secrets, mounted).
    const keyFile = join(secretsRoot, 'secrets', 'admin-key')
    const env = { ...serviceEnv(keysTopics, keysDatabase.url), LOGSTREAM_ADMIN_KEY_FILE: keyFile }
    const liveAdminKeys = () => keysDatabase.sql<{ id: string; hash: Buffer; name: string }[]>`
      select id, hash, name from api_keys where scope = 'admin' and revoked_at is null`

    /** Runs the entrypoint to completion; its exit code and all it printed. */
    async function complete(argv: string[], extra: Record<string, string> = {}): Promise<{ code: number; output: string }> {
      const item = run(argv, { ...env, ...extra })
      const code = await item.exited
      return { code, output: item.output() }
    }

    test(
      'init creates the first admin key in a root-only file and prints where it is, never the key',
      async () => {
        expect(await liveAdminKeys()).toHaveLength(0)
        const init = await complete(['init'])
        expect([init.code, init.output]).toEqual([0, expect.stringContaining(`wrote it to ${keyFile}`)])

        const key = (await readFile(keyFile, 'utf8')).trim()
        expect(key).toMatch(/^lsk_/)
        expect(init.output).not.toContain(key)
        expect(init.output).not.toContain(key.slice(-20))
        // The key in the file is the live admin key the services will accept.
        const [stored, ...others] = await liveAdminKeys()
        expect(others).toHaveLength(0)
        expect(stored?.name).toBe('admin')
        expect(stored?.id).toBe(keyId(key)!)
        expect(Buffer.compare(Buffer.from(stored!.hash), hashKey(key))).toBe(0)

        expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
        expect((await stat(join(secretsRoot, 'secrets'))).mode & 0o777).toBe(0o700)
        expect(await readFile(join(secretsRoot, 'secrets', '.gitignore'), 'utf8')).toBe('*\n')
        expect(await Bun.file(`${keyFile}.tmp`).exists()).toBe(false)
      },
      SLOW_MS,
    )

    test(
      'a second init leaves the key and its file alone',
      async () => {
        const before = await readFile(keyFile, 'utf8')
        const init = await complete(['init'])
        expect([init.code, init.output]).toEqual([0, expect.stringContaining('an admin key exists')])
        expect(await readFile(keyFile, 'utf8')).toBe(before)
        expect(await liveAdminKeys()).toHaveLength(1)
      },
      SLOW_MS,
    )

    test(
      'the keys command creates, lists and revokes keys; the key is the last line of create',
      async () => {
        const created = await complete(['keys', 'create', '--name', 'shipper', '--scope', 'ingest'])
        expect(created.code).toBe(0)
        const key = created.output.trim().split('\n').at(-1)!
        expect(key).toMatch(/^lsk_/)
        const [row] = await keysDatabase.sql<{ scope: string }[]>`select scope from api_keys where id = ${keyId(key)!} and revoked_at is null`
        expect(row?.scope).toBe('ingest')

        const listed = await complete(['keys', 'list'])
        expect(listed.code).toBe(0)
        expect(listed.output).toContain('shipper')
        expect(listed.output).not.toContain(key)

        expect((await complete(['keys', 'revoke', 'shipper'])).code).toBe(0)
        expect((await complete(['keys', 'revoke', 'shipper'])).code).toBe(1)
      },
      SLOW_MS,
    )

    test(
      'with every admin key revoked, the next init makes a new one and replaces the file',
      async () => {
        const old = (await readFile(keyFile, 'utf8')).trim()
        expect((await complete(['keys', 'revoke', 'admin'])).code).toBe(0)
        expect(await liveAdminKeys()).toHaveLength(0)

        const init = await complete(['init'])
        expect([init.code, init.output]).toEqual([0, expect.stringContaining('created the first admin key')])
        const key = (await readFile(keyFile, 'utf8')).trim()
        expect(key).not.toBe(old)
        expect((await liveAdminKeys()).map((row) => row.id)).toEqual([keyId(key)!])
        expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
      },
      SLOW_MS,
    )

    test(
      'an admin key made by hand counts: init then creates none and writes no file',
      async () => {
        expect((await complete(['keys', 'revoke', 'admin'])).code).toBe(0)
        expect((await complete(['keys', 'create', '--name', 'ops', '--scope', 'admin'])).code).toBe(0)
        const elsewhere = join(secretsRoot, 'other', 'admin-key')
        const init = await complete(['init'], { LOGSTREAM_ADMIN_KEY_FILE: elsewhere })
        expect([init.code, init.output]).toEqual([0, expect.stringContaining('so none was created')])
        expect(await Bun.file(elsewhere).exists()).toBe(false)
        expect((await liveAdminKeys()).map((row) => row.name)).toEqual(['ops'])
      },
      SLOW_MS,
    )

    test(
      'init fails, and writes nothing, when the database cannot be reached',
      async () => {
        const elsewhere = join(secretsRoot, 'down', 'admin-key')
        const init = await complete(['init'], {
          LOGSTREAM_ADMIN_KEY_FILE: elsewhere,
          DATABASE_URL: `postgres://postgres@127.0.0.1:${freePort()}/logstream`,
        })
        expect(init.code).not.toBe(0)
        expect(await Bun.file(elsewhere).exists()).toBe(false)
      },
      SLOW_MS,
    )
  })
})
