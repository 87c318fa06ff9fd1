/**
 * CPU time of a local PostgreSQL server, for the benchmarks' cost per log. Backends come and go, so the
 * exact total is the postmaster's own time, plus what it has reaped of its exited children (cutime/cstime),
 * plus its live children's time. The server is shared (other databases, other people's tests), so a sampler
 * also attributes live processes to our database, the server's background processes, or something else.
 */
import type { Sql } from '../src/lib/db.ts'
import { childPids, clockTicksPerSecond, processTitle, readProcStat } from './process-cpu.ts'

/** The postmaster of the server `sql` talks to (the parent of our own backend), or undefined if it is not on this machine. */
export async function postmasterPid(sql: Sql): Promise<number | undefined> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`
  const backend = row && readProcStat(row.pid)
  if (backend?.comm !== 'postgres') return undefined
  return readProcStat(backend.ppid)?.comm === 'postgres' ? backend.ppid : undefined
}

/** User + system seconds of the whole server so far: the postmaster, every child it has reaped, and its live children. */
export function postgresServerCpuSeconds(postmaster: number): number | undefined {
  const main = readProcStat(postmaster)
  if (!main) return undefined
  let ticks = main.utime + main.stime + main.cutime + main.cstime
  // A child that exits between the two reads is missed, never counted twice; a zombie still shows its time.
  for (const pid of childPids(postmaster)) {
    const child = readProcStat(pid)
    if (child?.ppid === postmaster) ticks += child.utime + child.stime
  }
  return ticks / clockTicksPerSecond()
}

export type PostgresProcessClass = 'database' | 'server' | 'other'

const BACKGROUND =
  /\b(checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|archiver|stats collector|walsender|walreceiver|startup)\b/

/**
 * Whose work a server process does, from its title (`postgres: 15/main: <role> <database> <client> <state>`,
 * `… autovacuum worker <database>`, `… parallel worker for PID <leader>`, `… checkpointer`): `database` if it
 * names `database` (or its leader does), `server` for the shared background processes, `other` otherwise
 * (other databases' backends, or a backend forked too recently to have its title yet).
 */
export function classifyPostgresProcess(title: string, database: string, titleOf: (pid: number) => string | undefined): PostgresProcessClass {
  const leader = /parallel worker for PID (\d+)/.exec(title)?.[1]
  if (leader) {
    const leaderTitle = titleOf(Number(leader))
    return leaderTitle === undefined || leaderTitle.includes('parallel worker') ? 'other' : classifyPostgresProcess(leaderTitle, database, titleOf)
  }
  if (title.split(/\s+/).includes(database)) return 'database'
  return BACKGROUND.test(title) ? 'server' : 'other'
}

export interface PostgresCpu {
  /** Exact: the whole server, every process, over the window. */
  totalSeconds: number
  /** Sampled: live processes seen working for our database, the shared background processes, anything else. */
  databaseSeconds: number
  serverSeconds: number
  otherSeconds: number
}

interface Tracked {
  first: number
  last: number
  class: PostgresProcessClass
}

/**
 * Starts a window over the server's CPU: the exact total at both ends, and every `everyMs` the time of each
 * live child by class. A child that exits between samples loses its last interval from the sampled classes
 * (the total still has it).
 */
export function watchPostgresCpu(postmaster: number, database: string, everyMs = 250): { finish(): PostgresCpu | undefined } {
  const ticksPerSecond = clockTicksPerSecond()
  const startTotal = postgresServerCpuSeconds(postmaster)
  const tracked = new Map<string, Tracked>()
  let initial = true
  const sample = () => {
    for (const pid of childPids(postmaster)) {
      const stat = readProcStat(pid)
      const title = processTitle(pid)
      if (!stat || stat.ppid !== postmaster || title === undefined) continue
      const ticks = stat.utime + stat.stime
      // pid and start time: a reused pid is another process.
      const key = `${pid}:${stat.starttime}`
      const entry = tracked.get(key) ?? { first: initial ? ticks : 0, last: ticks, class: 'other' }
      entry.last = ticks
      const cls = classifyPostgresProcess(title, database, processTitle)
      // A backend shows the postmaster's command line until it has its own title: keep what it was last known as.
      if (cls !== 'other' || !tracked.has(key)) entry.class = cls
      tracked.set(key, entry)
    }
    initial = false
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    finish() {
      sample()
      clearInterval(timer)
      const endTotal = postgresServerCpuSeconds(postmaster)
      if (startTotal === undefined || endTotal === undefined) return undefined
      const by = { database: 0, server: 0, other: 0 }
      for (const entry of tracked.values()) by[entry.class] += (entry.last - entry.first) / ticksPerSecond
      return { totalSeconds: endTotal - startTotal, databaseSeconds: by.database, serverSeconds: by.server, otherSeconds: by.other }
    },
  }
}
