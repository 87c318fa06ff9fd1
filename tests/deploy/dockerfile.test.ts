import { afterAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { Glob } from 'bun'
import { freePort } from '../../scripts/services.ts'
import { connect, maintenanceUrl } from '../../src/lib/db.ts'
import { baseConfig, eventually, freshDatabase, freshTopics } from '../support/infra.ts'

/**
 * The image, without a Docker engine: the Dockerfile's stages read as text, and its entrypoint script run
 * here for each argument against the local Kafka and PostgreSQL, as a container would run it.
 */
const repoRoot = resolve(import.meta.dir, '../..')
// Starting services against a real broker takes seconds; `bun test` alone would give each test only 5 s.
const SLOW_MS = 60_000
const entrypoint = join(repoRoot, 'scripts/docker-entrypoint.sh')
const dockerfile = await Bun.file(join(repoRoot, 'Dockerfile')).text()
const dockerignore = (await Bun.file(join(repoRoot, '.dockerignore')).text()).split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
const packageJson = (await Bun.file(join(repoRoot, 'package.json')).json()) as { devDependencies: Record<string, string> }

interface Instruction {
  keyword: string
  args: string
}
interface Stage {
  from: string
  name: string
  instructions: Instruction[]
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function stagesOf(text: string): { args: Instruction[]; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
  const args: Instruction[] = []
  const stages: Stage[] = []
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/)
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') }
    if (instruction.keyword === 'FROM') {
      const [from = '', , name = ''] = rest
      stages.push({ from, name, instructions: [] })
    } else if (stages.length === 0) args.push(instruction)
    else stages.at(-1)!.instructions.push(instruction)
  }
  return { args, stages }
}

const { args: globalArgs, stages } = stagesOf(dockerfile)
const stage = (name: string) => stages.find((item) => item.name === name) ?? expect.unreachable(`no stage ${name}`)
const all = (item: Stage, keyword: string) => item.instructions.filter((instruction) => instruction.keyword === keyword)

describe('Dockerfile', () => {
  test('has a deps stage and a runtime stage, both on the official Bun image', () => {
    expect(stages.map((item) => item.name)).toEqual(['deps', 'runtime'])
    for (const item of stages) expect(item.from).toBe('oven/bun:${BUN_VERSION}-slim')
  })

  test('pins the same Bun version the project develops with', () => {
    expect(globalArgs).toContainEqual({ keyword: 'ARG', args: `BUN_VERSION=${packageJson.devDependencies.bun}` })
  })

  test('installs production dependencies only, exactly as the lockfile pins them', () => {
    const deps = stage('deps')
    expect(all(deps, 'COPY').map((item) => item.args)).toEqual(['package.json package-lock.json ./'])
    expect(all(deps, 'RUN').map((item) => item.args)).toEqual([expect.stringMatching(/^bun install --production --frozen-lockfile\b/)])
  })

  test('the runtime takes node_modules from the deps stage and nothing else from it', () => {
    const fromDeps = all(stage('runtime'), 'COPY').filter((item) => item.args.startsWith('--from='))
    expect(fromDeps.map((item) => item.args)).toEqual(['--from=deps /app/node_modules ./node_modules'])
  })

  test('copies the code, the proto and the schema the services read at run time', () => {
    const copies = all(stage('runtime'), 'COPY').map((item) => item.args)
    expect(copies).toContain('src ./src')
    expect(copies).toContain('proto ./proto')
    expect(copies).toContain('package.json schema.sql ./')
    expect(copies).toContain('scripts/docker-entrypoint.sh ./scripts/docker-entrypoint.sh')
  })

  test('every file it copies exists and is not excluded from the build context', () => {
    const sources = stages.flatMap((item) => all(item, 'COPY')).filter((item) => !item.args.startsWith('--from=')).flatMap((item) => item.args.split(/\s+/).slice(0, -1))
    expect(sources.length).toBeGreaterThan(3)
    for (const source of sources) {
      expect(statSync(join(repoRoot, source), { throwIfNoEntry: false })).toBeDefined()
      expect(dockerignore).not.toContain(source)
    }
  })

  test('runs as a non-root user once everything is in place', () => {
    const runtime = stage('runtime').instructions
    const userAt = runtime.findLastIndex((item) => item.keyword === 'USER')
    expect(runtime[userAt]?.args).not.toMatch(/^(root|0)(:|$)/)
    expect(runtime.slice(userAt).some((item) => item.keyword === 'COPY' || item.keyword === 'RUN')).toBe(false)
  })

  test('starts through the entrypoint script it copies into its working directory', () => {
    const runtime = stage('runtime')
    expect(all(runtime, 'WORKDIR').map((item) => item.args)).toEqual(['/app'])
    expect(all(runtime, 'ENTRYPOINT').map((item) => item.args)).toEqual(['["/app/scripts/docker-entrypoint.sh"]'])
  })

  test('exposes the gRPC and HTTP ports', () => {
    expect(all(stage('runtime'), 'EXPOSE').map((item) => item.args)).toEqual(['50051 8080'])
  })

  test('every package the services import is a production dependency, so the deps stage installs it', async () => {
    const { dependencies } = (await Bun.file(join(repoRoot, 'package.json')).json()) as { dependencies: Record<string, string> }
    const imported = new Set<string>()
    for (const file of new Glob('src/**/*.ts').scanSync(repoRoot)) {
      const text = await Bun.file(join(repoRoot, file)).text()
      for (const [, specifier] of text.matchAll(/^import [^'"]*['"]([^'"]+)['"]/gm)) {
        if (specifier!.startsWith('.') || specifier!.startsWith('node:') || specifier === 'bun') continue
        imported.add(specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/'))
      }
    }
    expect(imported.size).toBeGreaterThan(3)
    for (const name of imported) expect(Object.keys(dependencies)).toContain(name)
  }, SLOW_MS)

  test('the build context leaves out local state, secrets and dependencies', () => {
    for (const excluded of ['.env', 'node_modules', '.data', '.git']) expect(dockerignore).toContain(excluded)
  })
})

// ---------------------------------------------------------------------------------------------------
// The entrypoint, run as the container would run it: `bun` on the PATH, the repository as /app.

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
  test('is executable and valid sh', async () => {
    expect(statSync(entrypoint).mode & 0o111).not.toBe(0)
    expect(await Bun.spawn(['sh', '-n', entrypoint]).exited).toBe(0)
  }, SLOW_MS)

  test('refuses an unknown command with exit code 2 and a usage line', async () => {
    const result = run(['serve'])
    expect(await result.exited).toBe(2)
    expect(result.output()).toContain('usage: docker-entrypoint.sh ingest|consume|query|init')
  }, SLOW_MS)

  test('init creates the topics with their partitions and the schema, then exits 0', async () => {
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
  }, SLOW_MS)

  test('ingest serves gRPC, passes its healthcheck, and exits 0 on SIGTERM', async () => {
    const env = { ...serviceEnv(ingestTopics, database.url), GRPC_PORT: String(freePort()) }
    const ingest = start(['ingest'], env)
    await becomesHealthy('ingest', env, ingest)
    expect(await ingest.stop()).toBe(0)
  }, SLOW_MS)

  test('query serves HTTP, passes its healthcheck, and exits 0 on SIGTERM', async () => {
    const env = { ...serviceEnv(queryTopics, database.url), HTTP_PORT: String(freePort()) }
    const query = start(['query'], env)
    await becomesHealthy('query', env, query)
    expect(await query.stop()).toBe(0)
  }, SLOW_MS)

  test('consume joins its consumer group, passes its healthcheck, and exits 0 on SIGTERM', async () => {
    const config = consumeTopics
    const env = serviceEnv(config, database.url)
    const consume = start(['consume'], env)
    await becomesHealthy('consume', env, consume)
    const admin = new Admin({ clientId: 'logstream-test', bootstrapBrokers: config.kafka.brokers })
    try {
      await eventually(async () => {
        const groups = await admin.describeGroups({ groups: [config.kafka.consumerGroup] })
        return (groups.get(config.kafka.consumerGroup)?.members.size ?? 0) > 0 ? true : undefined
      }, 40_000, 'a member in the consumer group')
    } finally {
      await admin.close()
    }
    expect(await consume.stop()).toBe(0)
  }, SLOW_MS)

  test('the ingest healthcheck fails when no service answers', async () => {
    expect(await run(['healthcheck', 'ingest'], { GRPC_PORT: String(freePort()) }).exited).toBe(1)
  }, SLOW_MS)

  test('the query healthcheck fails when no service answers', async () => {
    expect(await run(['healthcheck', 'query'], { HTTP_PORT: String(freePort()) }).exited).toBe(1)
  }, SLOW_MS)

  test('the consume healthcheck fails when the database cannot be reached', async () => {
    expect(await run(['healthcheck', 'consume'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${freePort()}/logstream` }).exited).toBe(1)
  }, SLOW_MS)

  test('send runs the sender CLI with the arguments given', async () => {
    const result = run(['send', '--help'])
    expect(await result.exited).toBe(0)
    expect(result.output()).toContain('usage: bun run send')
  }, SLOW_MS)
})
