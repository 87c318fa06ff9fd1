import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { freePort } from '../../../scripts/services.ts'
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
      const env = serviceEnv(config, database.url)
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

  test(
    'the consume healthcheck fails when the database cannot be reached',
    async () => {
      expect(await run(['healthcheck', 'consume'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${freePort()}/logstream` }).exited).toBe(1)
    },
    SLOW_MS,
  )
})
