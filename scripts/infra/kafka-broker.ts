import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { InfraError } from '../../src/lib/errors.ts'
import { REPLICATED_CLUSTER_BROKERS, waitForKafka } from '../../src/lib/kafka.ts'
import type { LocalKafkaNode } from '../../src/lib/kafka-nodes.ts'
import { dataDir, repoRoot } from './paths.ts'
import { isOurProcess, readPid, removePid, run, stopProcess, writePid } from './processes.ts'

const pomFile = `${repoRoot}/infra/kafka/pom.xml`
export const kafkaLibsDir = `${dataDir}/kafka-libs`
export const toolsLog4j = `${repoRoot}/infra/kafka/tools-log4j2.properties`
// A fixed cluster id lets a restart reuse formatted storage; a new id would refuse it. A multi-node
// cluster has its own, so a node folder formatted for one layout can never join the other.
const CLUSTER_ID = 'TG9nU3RyZWFtTG9jYWwxAA'
const MULTI_NODE_CLUSTER_ID = 'TG9nU3RyZWFtQ2x1c3RlcgA'

export interface KafkaVoter {
  nodeId: number
  controllerPort: number
}

export interface BrokerOptions {
  /** Folder for this broker's config, data, log and PID file. */
  dir: string
  port: number
  controllerPort: number
  /** KRaft node.id; 1 unless the node is one of several. */
  nodeId?: number
  /** Every controller of a multi-node cluster, this node included; absent: a single node, its own quorum. */
  voters?: KafkaVoter[]
  heapMb?: number
  readyTimeoutMs?: number
}

const pomDigest = () => createHash('sha256').update(readFileSync(pomFile)).digest('hex')

/** Fetches the broker's jars with Maven once; later calls are offline while the pom is unchanged. */
export async function ensureKafkaJars(): Promise<void> {
  const marker = `${kafkaLibsDir}/.pom-sha256`
  const digest = pomDigest()
  if (existsSync(marker) && readFileSync(marker, 'utf8') === digest) return
  const result = await run(['mvn', '-q', '-B', '-f', pomFile, 'dependency:copy-dependencies', `-DoutputDirectory=${kafkaLibsDir}`])
  if (result.code !== 0) throw new InfraError(`fetching Kafka jars with Maven failed (is mvn installed?):\n${result.output}`)
  writeFileSync(marker, digest)
}

/** Copies of Kafka's internal topics (group offsets, transaction and share state) and their min ISR. */
function internalReplication(nodes: number): { factor: number; minIsr: number } {
  return nodes >= REPLICATED_CLUSTER_BROKERS ? { factor: 3, minIsr: 2 } : { factor: 1, minIsr: 1 }
}

/**
 * One node's server.properties. With voters, the nodes form one cluster whose internal topics and default
 * topic settings are replicated 3 times with min ISR 2 (from three nodes up), so a lost broker cannot take
 * the group coordinator's committed offsets with it, nor a topic created without explicit settings.
 */
export function serverProperties(options: BrokerOptions): string {
  const listeners = `PLAINTEXT://127.0.0.1:${options.port},CONTROLLER://127.0.0.1:${options.controllerPort}`
  const voters = options.voters ?? []
  const internal = internalReplication(voters.length)
  const quorum =
    voters.length > 0
      ? `controller.quorum.voters=${voters.map((voter) => `${voter.nodeId}@127.0.0.1:${voter.controllerPort}`).join(',')}`
      : `controller.quorum.bootstrap.servers=127.0.0.1:${options.controllerPort}`
  return [
    'process.roles=broker,controller',
    `node.id=${options.nodeId ?? 1}`,
    quorum,
    `listeners=${listeners}`,
    `advertised.listeners=${listeners}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${options.dir}/data`,
    'num.partitions=3',
    `offsets.topic.replication.factor=${internal.factor}`,
    `transaction.state.log.replication.factor=${internal.factor}`,
    `transaction.state.log.min.isr=${internal.minIsr}`,
    `share.coordinator.state.topic.replication.factor=${internal.factor}`,
    `share.coordinator.state.topic.min.isr=${internal.minIsr}`,
    ...(internal.factor > 1 ? [`default.replication.factor=${internal.factor}`, `min.insync.replicas=${internal.minIsr}`] : []),
    'group.initial.rebalance.delay.ms=0',
    // Topics are created by the project with explicit partition counts; never by a stray produce.
    'auto.create.topics.enable=false',
    'log.retention.hours=24',
    '',
  ].join('\n')
}

const pidFile = (options: Pick<BrokerOptions, 'dir'>) => `${options.dir}/kafka.pid`

export const brokerLogFile = (options: Pick<BrokerOptions, 'dir'>) => `${options.dir}/broker.log`

const address = (options: BrokerOptions) => `127.0.0.1:${options.port}`

export interface StartedBroker {
  /** Whether this call started it; only a broker we started is ever stopped by us. */
  started: boolean
  pid?: number
}

/** Formats the node's storage on first start and spawns its JVM, detached; returns its PID. */
async function launch(options: BrokerOptions): Promise<number> {
  mkdirSync(`${options.dir}/data`, { recursive: true })
  const config = `${options.dir}/server.properties`
  writeFileSync(config, serverProperties(options))
  const classpath = `${kafkaLibsDir}/*`

  if (!existsSync(`${options.dir}/data/meta.properties`)) {
    // --standalone makes a single node its own quorum; nodes listed in controller.quorum.voters take no flag.
    const quorum = options.voters ? ['-t', MULTI_NODE_CLUSTER_ID] : ['-t', CLUSTER_ID, '--standalone']
    const format = await run([
      'java',
      `-Dlog4j2.configurationFile=${toolsLog4j}`,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      ...quorum,
      '-c',
      config,
      '--ignore-formatted',
    ])
    if (format.code !== 0) throw new InfraError(`formatting Kafka storage in ${options.dir} failed:\n${format.output}`)
  }

  const out = openSync(`${options.dir}/stdout.log`, 'a')
  const child = spawn(
    'java',
    [
      `-Xmx${options.heapMb ?? 512}m`,
      `-Xms${options.heapMb ?? 512}m`,
      `-Dlog4j2.configurationFile=${repoRoot}/infra/kafka/log4j2.properties`,
      `-Dkafka.logs.file=${brokerLogFile(options)}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      config,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  )
  child.unref()
  if (!child.pid) throw new InfraError('could not start java for the Kafka broker (is a JDK installed?)')
  writePid(pidFile(options), child.pid)
  return child.pid
}

const lastLogLines = (options: BrokerOptions) =>
  existsSync(brokerLogFile(options)) ? readFileSync(brokerLogFile(options), 'utf8').split('\n').slice(-20).join('\n') : ''

/**
 * Starts each KRaft node (broker + controller in one JVM) unless one already answers on its port, then
 * waits until every node answers and the cluster lists them all. The nodes of a multi-node cluster are
 * launched together: none becomes ready before a majority of the controllers runs.
 */
export async function startKafkaNodes(nodes: BrokerOptions[]): Promise<StartedBroker[]> {
  const found = await Promise.all(
    nodes.map(async (options): Promise<StartedBroker | undefined> => {
      const existing = readPid(pidFile(options))
      if (existing && isOurProcess(existing, options.dir)) return { started: false, pid: existing }
      try {
        await waitForKafka({ brokers: [address(options)], clientId: 'logstream-infra' }, 500)
        return { started: false }
      } catch {
        return undefined // Nothing answers: start our own.
      }
    }),
  )
  if (found.some((item) => item === undefined)) await ensureKafkaJars()
  const results: StartedBroker[] = []
  for (const [index, options] of nodes.entries()) results.push(found[index] ?? { started: true, pid: await launch(options) })

  const timeoutMs = Math.max(...nodes.map((options) => options.readyTimeoutMs ?? 60_000))
  try {
    await Promise.all(nodes.map((options) => waitForKafka({ brokers: [address(options)], clientId: 'logstream-infra' }, timeoutMs)))
    await waitForKafka({ brokers: nodes.map(address), clientId: 'logstream-infra' }, timeoutMs, nodes.length)
  } catch (error) {
    const launched = nodes.filter((_, index) => results[index]?.started)
    await Promise.all(launched.map(stopKafka))
    const logs = launched.map((options) => `${brokerLogFile(options)}:\n${lastLogLines(options)}`).join('\n')
    throw new InfraError(`Kafka did not become ready; last broker log lines:\n${logs}`, error)
  }
  return results
}

/** Starts one KRaft node (see startKafkaNodes); returns whether this call started it. */
export async function startKafka(options: BrokerOptions): Promise<StartedBroker> {
  const [result] = await startKafkaNodes([options])
  return result ?? { started: false }
}

/** Stops the broker this project started in `options.dir`, if any. */
export async function stopKafka(options: Pick<BrokerOptions, 'dir'>): Promise<boolean> {
  const pid = readPid(pidFile(options))
  if (!pid) return false
  if (isOurProcess(pid, options.dir)) await stopProcess(pid, 30_000)
  removePid(pidFile(options))
  return true
}

/** Where a multi-node local cluster keeps its nodes (a single broker keeps `.data/kafka`, as before clusters). */
export const clusterDir = (parent = dataDir) => `${parent}/kafka-cluster`

/**
 * The nodes of `nodes` as broker options. One node keeps `.data/kafka` and formats standalone, as before;
 * several live under `.data/kafka-cluster/node-<id>` and list each other as voters. Separate folders,
 * because storage formatted as a standalone quorum cannot join a static voter set (and holds topics with one copy).
 */
export function localBrokerOptions(nodes: readonly LocalKafkaNode[], parent = dataDir): BrokerOptions[] {
  if (nodes.length === 1) {
    const [node] = nodes as [LocalKafkaNode]
    return [{ dir: `${parent}/kafka`, port: node.port, controllerPort: node.controllerPort }]
  }
  const voters = nodes.map(({ nodeId, controllerPort }) => ({ nodeId, controllerPort }))
  return nodes.map((node) => ({ dir: `${clusterDir(parent)}/node-${node.nodeId}`, ...node, voters }))
}

/** Every folder under `parent` that may hold a broker `infra:up` started, whichever layout started it. */
export function knownBrokerDirs(parent = dataDir): string[] {
  const nodes = existsSync(clusterDir(parent)) ? readdirSync(clusterDir(parent)).filter((name) => name.startsWith('node-')) : []
  return [`${parent}/kafka`, ...nodes.sort().map((name) => `${clusterDir(parent)}/${name}`)]
}
