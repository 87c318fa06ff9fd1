import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { connect, maintenanceUrl } from '../../src/lib/db.ts'
import { InfraError } from '../../src/lib/errors.ts'
import { dataDir } from './paths.ts'
import { isAlive, readPid, removePid, run, writePid } from './processes.ts'

/** Where a private cluster lives; its PID file sits beside PostgreSQL's own, so down finds exactly ours. */
export const defaultClusterDir = `${dataDir}/postgres`
const pidFileOf = (clusterDir: string) => `${clusterDir}/logstream.pid`
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

/** True when the server `url` points at accepts a connection (to its `postgres` database). */
export async function answers(url: string): Promise<boolean> {
  const sql = connect(maintenanceUrl(url), { max: 1, connectTimeout: 2 })
  try {
    await sql`select 1`
    return true
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 1 })
  }
}

function serverBinDir(): string | undefined {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return undefined
  const versions = readdirSync(base).filter((name) => existsSync(`${base}/${name}/bin/pg_ctl`))
  versions.sort((a, b) => Number(b) - Number(a))
  return versions[0] ? `${base}/${versions[0]}/bin` : undefined
}

/** PostgreSQL refuses to run as root; as root we run its tools as the `postgres` system user. */
function asServerUser(command: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...command] : command
}

/**
 * Uses the server DATABASE_URL points at if it answers. Otherwise, for a local URL on a machine with
 * PostgreSQL's server binaries, starts a private cluster under .data/postgres on the URL's port.
 */
export async function startPostgres(url: string, clusterDir = defaultClusterDir): Promise<{ started: boolean }> {
  if (await answers(url)) return { started: false }
  const target = new URL(url)
  const port = target.port || '5432'
  if (!LOCAL_HOSTS.has(target.hostname)) {
    throw new InfraError(`no PostgreSQL answers at ${target.host}, and it is not a local address we could start one on; check DATABASE_URL`)
  }
  const bin = serverBinDir()
  if (!bin) {
    throw new InfraError(
      `no PostgreSQL answers at ${target.host} and no server binaries were found under /usr/lib/postgresql; install them (Debian: apt-get install postgresql) or set DATABASE_URL to a running server`,
    )
  }

  if (!existsSync(`${clusterDir}/PG_VERSION`)) {
    mkdirSync(clusterDir, { recursive: true })
    if (process.getuid?.() === 0) {
      const { code, output } = await run(['id', '-u', 'postgres'])
      if (code !== 0) throw new InfraError(`running as root needs a "postgres" system user for the private cluster: ${output}`)
      const gid = Number((await run(['id', '-g', 'postgres'])).output)
      chownSync(clusterDir, Number(output), gid)
    }
    const init = await run(asServerUser([`${bin}/initdb`, '-D', clusterDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']))
    if (init.code !== 0) throw new InfraError(`initdb failed:\n${init.output}`)
  }
  const start = await run(
    asServerUser([
      `${bin}/pg_ctl`,
      '-D',
      clusterDir,
      '-l',
      `${clusterDir}/server.log`,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -k ${clusterDir}`,
      'start',
    ]),
  )
  if (start.code !== 0) throw new InfraError(`pg_ctl start failed:\n${start.output}`)
  const postmasterPid = Number(readFileSync(`${clusterDir}/postmaster.pid`, 'utf8').split('\n')[0])
  writePid(pidFileOf(clusterDir), postmasterPid)
  return { started: true }
}

/** Stops the private cluster, only if this project started it. */
export async function stopPostgres(clusterDir = defaultClusterDir): Promise<boolean> {
  const pid = readPid(pidFileOf(clusterDir))
  if (!pid) return false
  const bin = serverBinDir()
  if (bin && isAlive(pid)) {
    const stop = await run(asServerUser([`${bin}/pg_ctl`, '-D', clusterDir, '-m', 'fast', '-w', 'stop']))
    if (stop.code !== 0) throw new InfraError(`pg_ctl stop failed:\n${stop.output}`)
  }
  removePid(pidFileOf(clusterDir))
  return true
}
