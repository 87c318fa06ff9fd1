/**
 * The local Kafka broker's process and log directory, for charging its CPU and disk to the benchmarks.
 * The broker may have been started from another checkout (its PID file is then not ours to read), so
 * without our PID file the process is found by the socket listening on the broker's port.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { localBrokerOptions } from '../scripts/infra/kafka-broker.ts'
import { loadConfig } from '../src/lib/config.ts'
import { processTitle } from './process-cpu.ts'

/**
 * Inodes of the sockets listening on `port`, whatever the address, in a /proc/net/tcp or tcp6 table: columns
 * `sl local_address rem_address st … inode`, addresses as hex `0100007F:2384` (a JVM listens on IPv6 with
 * the IPv4-mapped `…FFFF00000100007F:2384`), LISTEN is `0A`.
 */
export function listeningInodes(table: string, port: number): number[] {
  const inodes: number[] = []
  for (const line of table.split('\n').slice(1)) {
    const columns = line.trim().split(/\s+/)
    const portHex = (columns[1] ?? '').split(':')[1]
    if (columns[3] === '0A' && Number.parseInt(portHex ?? '', 16) === port) inodes.push(Number(columns[9]))
  }
  return inodes
}

/** The pid holding one of `inodes` open, by reading every process's fd links (processes we may not read are skipped). */
function pidWithSocket(inodes: number[]): number | undefined {
  const wanted = new Set(inodes.map((inode) => `socket:[${inode}]`))
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        if (wanted.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry)
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return undefined
}

/** The first local node's options: the benchmarks run against one broker (KAFKA_LOCAL_BROKERS=1). */
const firstNode = () => localBrokerOptions(loadConfig().kafka.localNodes)[0]!

/** The broker JVM's pid: our PID file (.data/kafka/kafka.pid) if it names a live process, else the listener on `port`. */
export function kafkaBrokerPid(brokerPort?: number): number | undefined {
  const node = firstNode()
  const port = brokerPort ?? node.port
  const pidFile = `${node.dir}/kafka.pid`
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    if (pid > 0 && existsSync(`/proc/${pid}`)) return pid
  }
  const inodes = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => (existsSync(file) ? listeningInodes(readFileSync(file, 'utf8'), port) : []))
  return inodes.length ? pidWithSocket(inodes) : undefined
}

/** The broker's first log directory: `log.dirs` (or `log.dir`) of the server.properties on its command line. */
export function kafkaLogDir(pid: number): string | undefined {
  const config = processTitle(pid)
    ?.split(' ')
    .find((arg) => arg.endsWith('.properties') && !arg.startsWith('-'))
  if (!config || !existsSync(config)) return undefined
  const text = readFileSync(config, 'utf8')
  const dirs = /^log\.dirs?\s*=\s*(.+)$/m.exec(text)?.[1]?.trim()
  return dirs?.split(',')[0]
}
