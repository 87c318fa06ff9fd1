import { afterAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { Glob } from 'bun'
import { HealthImplementation } from 'grpc-health-check'
import { freePort } from '../../../scripts/services.ts'

/**
 * The image, without a Docker engine: the Dockerfile's stages read as text, and what its entrypoint script
 * does without Kafka or PostgreSQL (usage, failing healthchecks, the sender CLI). The script running each
 * service against the real stack is tests/integration/deploy/docker-entrypoint.test.ts.
 */
const repoRoot = resolve(import.meta.dir, '../../..')
const entrypoint = join(repoRoot, 'scripts/docker-entrypoint.sh')
const dockerfile = await Bun.file(join(repoRoot, 'Dockerfile')).text()
const dockerignore = (await Bun.file(join(repoRoot, '.dockerignore')).text())
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
const packageJson = (await Bun.file(join(repoRoot, 'package.json')).json()) as { devDependencies: Record<string, string>; scripts: Record<string, string> }

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
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
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

  test('installs production dependencies only, exactly as the lockfile pins them, then applies the driver fix', () => {
    const deps = stage('deps')
    expect(all(deps, 'COPY').map((item) => item.args)).toEqual(['package.json package-lock.json ./', 'scripts/patch-postgres.ts ./scripts/'])
    const runs = all(deps, 'RUN').map((item) => item.args)
    expect(runs).toHaveLength(2)
    expect(runs[0]).toMatch(/^bun install --production --frozen-lockfile\b/)
    expect(runs[1]).toBe('bun scripts/patch-postgres.ts')
  })

  test('applies the same install step as package.json postinstall', () => {
    expect(packageJson.scripts.postinstall).toBe('bun scripts/patch-postgres.ts')
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
    const sources = stages
      .flatMap((item) => all(item, 'COPY'))
      .filter((item) => !item.args.startsWith('--from='))
      .flatMap((item) => item.args.split(/\s+/).slice(0, -1))
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

  test('exposes the gRPC, OTLP/gRPC, HTTP intake and query ports', () => {
    expect(all(stage('runtime'), 'EXPOSE').map((item) => item.args)).toEqual(['50051 4317 4318 8080'])
  })

  test('every package the services import is a production dependency, so the deps stage installs it', async () => {
    const { dependencies } = (await Bun.file(join(repoRoot, 'package.json')).json()) as { dependencies: Record<string, string> }
    const imported = new Set<string>()
    for (const file of new Glob('src/**/*.ts').scanSync(repoRoot)) {
      const text = await Bun.file(join(repoRoot, file)).text()
      for (const [, specifier] of text.matchAll(/^import [^'"]*['"]([^'"]+)['"]/gm)) {
        // Relative files and the runtime's own modules (node:*, bun, bun:*) are not packages.
        if (specifier!.startsWith('.') || specifier!.startsWith('node:') || specifier === 'bun' || specifier!.startsWith('bun:')) continue
        imported.add(
          specifier!
            .split('/')
            .slice(0, specifier!.startsWith('@') ? 2 : 1)
            .join('/'),
        )
      }
    }
    expect(imported.size).toBeGreaterThan(3)
    for (const name of imported) expect(Object.keys(dependencies)).toContain(name)
  })

  test('the build context leaves out local state, secrets and dependencies', () => {
    for (const excluded of ['.env', 'node_modules', '.data', '.git']) expect(dockerignore).toContain(excluded)
  })
})

// ---------------------------------------------------------------------------------------------------
// The entrypoint as the container runs it (`bun` on the PATH, the repository as /app), where nothing needs Kafka
// or PostgreSQL.

// The image has `bun` on its PATH; here the running Bun may be named otherwise (bun.exe in the npm package).
const bunDir = await mkdtemp(join(tmpdir(), 'logstream-bun-'))
await symlink(process.execPath, join(bunDir, 'bun'))
afterAll(() => rm(bunDir, { recursive: true, force: true }))

/** Runs the entrypoint with `argv` to completion: its exit code and everything it printed. */
async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const child = Bun.spawn(['sh', entrypoint, ...argv], {
    cwd: '/',
    env: { ...process.env, PATH: `${bunDir}:${process.env.PATH}`, GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, output: stdout + stderr }
}

describe('docker-entrypoint.sh', () => {
  test('is executable and valid sh', async () => {
    expect(statSync(entrypoint).mode & 0o111).not.toBe(0)
    expect(await Bun.spawn(['sh', '-n', entrypoint]).exited).toBe(0)
  })

  test('refuses an unknown command with exit code 2 and a usage line', async () => {
    const result = await run(['serve'])
    expect(result.code).toBe(2)
    expect(result.output).toContain('usage: docker-entrypoint.sh ingest|consume|query|init')
  })

  test('the ingest healthcheck fails when no service answers', async () => {
    expect((await run(['healthcheck', 'ingest'], { GRPC_PORT: String(freePort()) })).code).toBe(1)
  })

  test('the query healthcheck fails when no service answers', async () => {
    expect((await run(['healthcheck', 'query'], { HTTP_PORT: String(freePort()) })).code).toBe(1)
  })

  test('the consume healthcheck fails when no service answers on CONSUME_HTTP_PORT', async () => {
    expect((await run(['healthcheck', 'consume'], { CONSUME_HTTP_PORT: String(freePort()) })).code).toBe(1)
  })

  test("the consume healthcheck is the consumer's GET /health on CONSUME_HTTP_PORT: 200 passes, 503 fails and prints the failed check", async () => {
    let answer = { status: 200, body: '{"status":"ok"}' }
    const paths: string[] = []
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (request) => {
        paths.push(new URL(request.url).pathname)
        return new Response(answer.body, { status: answer.status })
      },
    })
    try {
      const env = { CONSUME_HTTP_PORT: String(server.port) }
      expect((await run(['healthcheck', 'consume'], env)).code).toBe(0)
      answer = { status: 503, body: '{"status":"unavailable","checks":{"database":{"status":"down","error":"connect ECONNREFUSED"}}}' }
      const failed = await run(['healthcheck', 'consume'], env)
      expect(failed.code).toBe(1)
      expect(failed.output).toContain('consume /health (http): 503')
      expect(failed.output).toContain('"database":{"status":"down"')
      expect(paths).toEqual(['/health', '/health'])
    } finally {
      server.stop(true)
    }
  })

  test('send runs the sender CLI with the arguments given', async () => {
    const result = await run(['send', '--help'])
    expect(result.code).toBe(0)
    expect(result.output).toContain('usage: bun run send')
  })

  test('keys runs the key CLI with the arguments given', async () => {
    const result = await run(['keys', '--help'])
    expect(result.code).toBe(0)
    expect(result.output).toContain('usage: bun run keys')
    expect((await run(['keys', 'frobnicate'])).code).toBe(2)
  })

  test('the usage line names the keys command', async () => {
    expect((await run([])).output).toContain('|keys [ARGS...]|')
  })

  test('init takes no arguments', async () => {
    expect((await run(['init', 'extra'])).code).toBe(2)
  })
})

// ---------------------------------------------------------------------------------------------------
// Healthchecks with TLS_CERT_FILE set: the services speak TLS on every listener, so the checks must too. The
// certificate names another host, as a real one would (not 127.0.0.1), and is self-signed.

const tlsDir = await mkdtemp(join(tmpdir(), 'logstream-tls-'))
afterAll(() => rm(tlsDir, { recursive: true, force: true }))
const certFile = join(tlsDir, 'cert.pem')
const keyFile = join(tlsDir, 'key.pem')
const openssl = Bun.spawnSync(
  ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
    '-subj',
    '/CN=logstream.example',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]),
  { stdout: 'ignore', stderr: 'pipe' },
)
if (openssl.exitCode !== 0) throw new Error(`openssl could not make a test certificate: ${openssl.stderr.toString()}`)
const tlsEnv = { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile }

describe('healthchecks over TLS', () => {
  test('query: https to /health when TLS_CERT_FILE is set, and http is not tried instead', async () => {
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: Bun.file(certFile), key: Bun.file(keyFile) },
      fetch: (request) => new Response('ok', { status: new URL(request.url).pathname === '/health' ? 200 : 404 }),
    })
    try {
      const port = String(server.port)
      expect((await run(['healthcheck', 'query'], { ...tlsEnv, HTTP_PORT: port })).code).toBe(0)
      // Without TLS_CERT_FILE the check speaks plain HTTP, which a TLS listener refuses.
      expect((await run(['healthcheck', 'query'], { HTTP_PORT: port })).code).toBe(1)
    } finally {
      server.stop(true)
    }
  })

  test('query: a TLS /health that is not 200 fails the check', async () => {
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: { cert: Bun.file(certFile), key: Bun.file(keyFile) },
      fetch: () => new Response('database down', { status: 503 }),
    })
    try {
      const result = await run(['healthcheck', 'query'], { ...tlsEnv, HTTP_PORT: String(server.port) })
      expect(result.code).toBe(1)
      expect(result.output).toContain('503')
    } finally {
      server.stop(true)
    }
  })

  /** A gRPC server over TLS with only the standard health service, reporting `status` for the server as a whole. */
  async function grpcHealthServer(status: 'SERVING' | 'NOT_SERVING'): Promise<{ port: number; stop: () => void }> {
    const server = new grpc.Server()
    new HealthImplementation({ '': status }).addToServer(server)
    const credentials = grpc.ServerCredentials.createSsl(null, [
      { cert_chain: Buffer.from(await Bun.file(certFile).text()), private_key: Buffer.from(await Bun.file(keyFile).text()) },
    ])
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    )
    return { port, stop: () => server.forceShutdown() }
  }

  test('ingest: the gRPC health check over TLS when TLS_CERT_FILE is set', async () => {
    const server = await grpcHealthServer('SERVING')
    try {
      const result = await run(['healthcheck', 'ingest'], { ...tlsEnv, GRPC_PORT: String(server.port) })
      expect([result.code, result.output]).toEqual([0, expect.stringContaining('SERVING')])
      // Plaintext against a TLS listener fails: the check really follows the setting.
      expect((await run(['healthcheck', 'ingest'], { GRPC_PORT: String(server.port) })).code).toBe(1)
    } finally {
      server.stop()
    }
  })

  test('ingest: NOT_SERVING over TLS fails the check', async () => {
    const server = await grpcHealthServer('NOT_SERVING')
    try {
      expect((await run(['healthcheck', 'ingest'], { ...tlsEnv, GRPC_PORT: String(server.port) })).code).toBe(1)
    } finally {
      server.stop()
    }
  })

  test('ingest: nothing listening fails the TLS check too', async () => {
    expect((await run(['healthcheck', 'ingest'], { ...tlsEnv, GRPC_PORT: String(freePort()) })).code).toBe(1)
  })
})
