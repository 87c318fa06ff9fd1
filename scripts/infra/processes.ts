import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/** PID files let `infra:down` stop exactly the processes `infra:up` started, and nothing else. */
export function writePid(file: string, pid: number): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${pid}\n`)
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined
  const pid = Number.parseInt(readFileSync(file, 'utf8'), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

export function removePid(file: string): void {
  rmSync(file, { force: true })
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** True when `pid` is alive and its command line contains `marker`, so a recycled PID is never signalled. */
export function isOurProcess(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)
  } catch {
    return false
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await Bun.sleep(50)
  }
  return !isAlive(pid)
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export async function stopProcess(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  process.kill(pid, 'SIGTERM')
  if (await waitForExit(pid, graceMs)) return 'stopped'
  process.kill(pid, 'SIGKILL')
  await waitForExit(pid, 5000)
  return 'killed'
}

/** Resolves to the exit code of a short command, with its output captured for error messages. */
export async function run(command: string[], options: { cwd?: string } = {}): Promise<{ code: number; output: string }> {
  const child = Bun.spawn(command, { cwd: options.cwd, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, output: (stdout + stderr).trim() }
}
