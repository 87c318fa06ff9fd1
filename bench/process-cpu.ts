/**
 * CPU time of a process from /proc/<pid>/stat: user + system, in seconds. Benchmarks snapshot it at the
 * start and end of a window and charge the difference to that process's stage.
 */
import { readFileSync } from 'node:fs'

export interface ProcStat {
  pid: number
  comm: string
  state: string
  ppid: number
  /** Clock ticks this process (all its threads) spent in user and kernel mode. */
  utime: number
  stime: number
  /** Clock ticks of children it has waited for (reaped): a parent that reaps its workers accumulates them here. */
  cutime: number
  cstime: number
  /** Clock ticks after boot at which it started: with the pid, tells a new process from a reused pid. */
  starttime: number
}

/**
 * Parses one /proc/<pid>/stat line (proc(5)). The command name (field 2) is in parentheses and may itself
 * hold spaces and parentheses, so the fields are counted from the last `)`, not split from the start.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(')
  const close = line.lastIndexOf(')')
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`)
  // After the comm: field 3 (state) is rest[0], so field n is rest[n - 3].
  const rest = line
    .slice(close + 2)
    .trim()
    .split(/\s+/)
  const field = (n: number) => {
    const value = Number(rest[n - 3])
    if (!Number.isFinite(value)) throw new Error(`/proc/<pid>/stat field ${n} missing: ${line.slice(0, 80)}`)
    return value
  }
  return {
    pid: Number(line.slice(0, open).trim()),
    comm: line.slice(open + 1, close),
    state: rest[0] ?? '',
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
    starttime: field(22),
  }
}

let ticks: number | undefined

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux builds we know of, used if getconf is missing). */
export function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    const result = Bun.spawnSync(['getconf', 'CLK_TCK'], { stdout: 'pipe', stderr: 'ignore' })
    const value = Number(result.stdout.toString().trim())
    ticks = result.exitCode === 0 && Number.isInteger(value) && value > 0 ? value : 100
  }
  return ticks
}

/** The stat of `pid`, or undefined if it is gone (or /proc is not there). */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * User + system CPU seconds `pid` has used so far, its children not included (the services and the broker
 * do their work in threads of one process), or undefined if it is not running.
 */
export function processCpuSeconds(pid: number): number | undefined {
  const stat = readProcStat(pid)
  return stat && (stat.utime + stat.stime) / clockTicksPerSecond()
}

/** Pids of the live (or not yet reaped) children of a single-threaded `pid`, from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** The title a process shows (`/proc/<pid>/cmdline`, arguments joined by spaces): PostgreSQL puts its role and database there. */
export function processTitle(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
  } catch {
    return undefined
  }
}

/**
 * Waits until each of `pids` has used at most one clock tick in `quietMs` (a service that has finished
 * starting up), or `timeoutMs` has passed: a window opened before that would charge start-up to the work.
 * Resolves to whether they all settled.
 */
export async function waitForIdle(pids: readonly number[], quietMs = 500, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  let before = pids.map((pid) => readProcStat(pid))
  while (Date.now() < deadline) {
    await Bun.sleep(quietMs)
    const after = pids.map((pid) => readProcStat(pid))
    const busy = after.some((stat, i) => stat && before[i] && stat.utime + stat.stime - (before[i]!.utime + before[i]!.stime) > 1)
    if (!busy) return true
    before = after
  }
  return false
}
