/**
 * A real `bun src/query.ts` process for the query memory benchmark: on loopback, on a free port (the port it
 * reports listening on is read from its log), ready once `/health` answers 200, with `env` on top (e.g.
 * DATABASE_URL). Its log lines at warn and error are counted by event and error code.
 *
 * It runs the working tree's code, or with `commit` a clean copy of that commit's src/ (git archive into
 * bench/.work, the repository's node_modules linked beside it): a before/after comparison can measure an older
 * commit, and edits in progress in a shared tree do not leak into a measurement.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { resolve } from 'node:path'
import { forEachLine } from '../scripts/services.ts'

export interface QueryProcess {
  pid: number
  origin: string
  /** null while it runs. */
  readonly exitCode: number | null
  /** Count per "level event code" of its warn and error lines, e.g. "warn query.unavailable QUERY_TIMEOUT". */
  problems: Record<string, number>
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves to how it ended. */
  stop(graceMs?: number): Promise<{ code: number; seconds: number; killed: boolean }>
  kill(): void
}

const repoRoot = resolve(import.meta.dir, '..')
const BENCH_ENV = { HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info' }

/** The full hash of `revision`, or throws. */
export async function resolveCommit(revision: string): Promise<string> {
  const result = await Bun.$`git -C ${repoRoot} rev-parse --verify ${`${revision}^{commit}`}`.nothrow().quiet()
  if (result.exitCode !== 0) throw new Error(`no commit ${revision}: ${result.stderr.toString().trim()}`)
  return result.stdout.toString().trim()
}

/** A clean copy of `commit`'s src/, proto/ and schema.sql under `workDir`, made once; returns its root. */
export async function checkoutForBench(commit: string, workDir: string): Promise<string> {
  const root = `${workDir}/query-code-${commit.slice(0, 12)}`
  if (existsSync(`${root}/src/query.ts`)) return root
  rmSync(root, { recursive: true, force: true })
  mkdirSync(root, { recursive: true })
  const archive = await Bun.$`git -C ${repoRoot} archive --format=tar ${commit} src proto schema.sql package.json tsconfig.json bunfig.toml | tar -x -C ${root}`
    .nothrow()
    .quiet()
  if (archive.exitCode !== 0) throw new Error(`git archive ${commit} failed: ${archive.stderr.toString().trim()}`)
  symlinkSync(`${repoRoot}/node_modules`, `${root}/node_modules`)
  return root
}

export async function startQueryProcess(env: Record<string, string>, root: string = repoRoot): Promise<QueryProcess> {
  const child = Bun.spawn([process.execPath, `${root}/src/query.ts`], {
    cwd: root,
    env: { ...process.env, ...BENCH_ENV, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const problems: Record<string, number> = {}
  const listening = Promise.withResolvers<number>()
  // Kept draining for the life of the process, so the service never blocks on a full pipe.
  void forEachLine(child.stdout, (line) => {
    const port = /"event":"query\.listening".*"port":(\d+)/.exec(line)?.[1]
    if (port) listening.resolve(Number(port))
    const level = /"level":"(warn|error)"/.exec(line)?.[1]
    if (level) {
      const event = /"event":"([^"]*)"/.exec(line)?.[1] ?? '?'
      const code = /"code":"([A-Z_]+)"/.exec(line)?.[1]
      const key = `${level} ${event}${code ? ` ${code}` : ''}`
      problems[key] = (problems[key] ?? 0) + 1
    }
  }).then(() => listening.reject(new Error('query exited before listening')))
  // A service that never says it listens is killed, so the wait below ends instead of lasting for ever.
  const startup = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try {
    const port = await listening.promise
    const origin = `http://127.0.0.1:${port}`
    for (;;) {
      const health = await fetch(`${origin}/health`).catch(() => undefined)
      if (health?.status === 200) break
      if (child.exitCode !== null) throw new Error(`query exited (code ${child.exitCode}) before /health answered 200`)
      await Bun.sleep(100)
    }
    return {
      pid: child.pid,
      origin,
      get exitCode() {
        return child.exitCode
      },
      problems,
      async stop(graceMs = 10_000) {
        const began = performance.now()
        if (child.exitCode !== null) return { code: child.exitCode, seconds: 0, killed: false }
        child.kill('SIGTERM')
        const code = await Promise.race([child.exited, Bun.sleep(graceMs).then(() => undefined)])
        if (code !== undefined) return { code, seconds: (performance.now() - began) / 1000, killed: false }
        child.kill('SIGKILL')
        return { code: await child.exited, seconds: (performance.now() - began) / 1000, killed: true }
      },
      kill() {
        child.kill('SIGKILL')
      },
    }
  } catch (error) {
    child.kill('SIGKILL')
    await child.exited
    throw error
  } finally {
    clearTimeout(startup)
  }
}
