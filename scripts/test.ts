/**
 * `npm test`: the two tiers of the suite, one after the other.
 *
 *   1. unit (tests/unit): no Kafka, no PostgreSQL, seconds. Run first, with nothing started, for fast feedback;
 *      on a machine where the infrastructure is not running yet (CI) this also proves the tier needs none.
 *   2. integration (every other test file under tests/): against the local Kafka and PostgreSQL, started here if
 *      they are not running and stopped again afterwards (only what this run started).
 *
 *   npm test                         both tiers (unit first; integration only if unit passed)
 *   npm test -- unit | integration   one tier (`npm run test:unit` is the unit tier with plain `bun test`)
 *   npm test -- <bun test args…>     bun test with these arguments, infrastructure up (e.g. one file)
 *
 * A tier fails when bun test fails, and also when it ran no test or passed none (a filter that matches nothing,
 * a file that crashes before registering its tests): bun test alone can exit 0 in those cases.
 */

import { resolve } from 'node:path'
import { Glob } from 'bun'
import { infraDown, infraUp } from './infra.ts'

const repoRoot = resolve(import.meta.dir, '..')
const args = process.argv.slice(2)
// Integration tests talk to a real broker and database; a rebalance or a broker restart takes seconds.
// (Bun 1.4.5 ignores a timeout set in bunfig.toml, so it is passed here.) Unit tests keep bun's 5 s.
const integrationTimeout = ['--timeout', '60000']

let running: ReturnType<typeof Bun.spawn> | undefined
// Ctrl-C reaches bun test directly; we wait for it to finish, then clean up.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => running?.kill(signal))

// The unit tier takes seconds; past this it is hung (a leaked handle, a test waiting on a server that is not there).
const UNIT_LIMIT_MS = 120_000

interface Summary {
  code: number
  ran: number
  passed: number
  failed: number
  /** Set when bun test was stopped for running longer than its limit. */
  timedOutMs?: number
}

/** Runs bun test, passing its output through, and reads the counts from its closing summary. */
async function bunTest(argv: string[], limitMs?: number): Promise<Summary> {
  const child = Bun.spawn([process.execPath, 'test', ...argv], {
    cwd: repoRoot,
    stdio: ['inherit', 'inherit', 'pipe'],
    // bun test writes its report to stderr; keep its colours when that is a terminal, although we pipe it.
    env: process.stderr.isTTY ? { ...process.env, FORCE_COLOR: '1' } : process.env,
  })
  running = child
  let timedOut = false
  const limit =
    limitMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          child.kill('SIGTERM')
          setTimeout(() => child.kill('SIGKILL'), 5000).unref()
        }, limitMs)
  const decoder = new TextDecoder()
  let tail = ''
  for await (const chunk of child.stderr as ReadableStream<Uint8Array>) {
    process.stderr.write(chunk)
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-8192)
  }
  const code = await child.exited
  clearTimeout(limit)
  running = undefined
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the terminal's colour codes
  const text = tail.replace(/\x1b\[[0-9;]*m/g, '')
  const count = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0)
  return {
    code,
    ran: count(/Ran (\d+) tests? across \d+ files?/),
    passed: count(/^\s*(\d+) pass\s*$/m),
    failed: count(/^\s*(\d+) fail\s*$/m),
    timedOutMs: timedOut ? limitMs : undefined,
  }
}

/** Test files of the integration tier: everything under tests/ but tests/unit, wherever it lives during the move. */
function integrationFiles(): string[] {
  return [...new Glob('tests/**/*.test.ts').scanSync(repoRoot)]
    .filter((file) => !file.startsWith('tests/unit/'))
    .sort()
    .map((file) => `./${file}`)
}

function verdict(tier: string, summary: Summary): boolean {
  const problem =
    summary.timedOutMs !== undefined
      ? `did not finish within ${summary.timedOutMs / 1000} s, stopped`
      : summary.code !== 0
        ? `bun test exited ${summary.code}`
        : summary.failed > 0
          ? `${summary.failed} failed`
          : summary.ran === 0 || summary.passed === 0
            ? `no test ran (ran ${summary.ran}, passed ${summary.passed})`
            : undefined
  process.stderr.write(`\n${tier}: ${problem ? `FAILED, ${problem}` : `ok, ${summary.passed} passed`}\n`)
  return !problem
}

async function unitTier(): Promise<boolean> {
  process.stderr.write('== unit tier (tests/unit; no Kafka, no PostgreSQL)\n')
  return verdict('unit tier', await bunTest(['./tests/unit'], UNIT_LIMIT_MS))
}

/**
 * The explorer's browser tests (tests/browser) drive Debian's chromium, which a fresh machine lacks:
 * scripts/install-chromium.sh installs it (as root, with apt-get) or says what to install.
 */
function ensureChromium(): boolean {
  const { exitCode } = Bun.spawnSync(['sh', resolve(repoRoot, 'scripts/install-chromium.sh')], { stdio: ['ignore', 'inherit', 'inherit'] })
  return exitCode === 0
}

async function withInfrastructure(tier: string, argv: string[]): Promise<boolean> {
  process.stderr.write(`== ${tier} (Kafka and PostgreSQL)\n`)
  if (!ensureChromium()) return false
  const started = await infraUp()
  try {
    return verdict(tier, await bunTest([...integrationTimeout, ...argv]))
  } finally {
    await infraDown(started)
  }
}

let ok: boolean
if (args.length === 0) ok = (await unitTier()) && (await withInfrastructure('integration tier', integrationFiles()))
else if (args.length === 1 && args[0] === 'unit') ok = await unitTier()
else if (args.length === 1 && args[0] === 'integration') ok = await withInfrastructure('integration tier', integrationFiles())
else ok = await withInfrastructure(`bun test ${args.join(' ')}`, args)
process.exit(ok ? 0 : 1)
