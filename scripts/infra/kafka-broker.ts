import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { InfraError } from '../../src/lib/errors.ts'
import { waitForKafka } from '../../src/lib/kafka.ts'
import { dataDir, repoRoot } from './paths.ts'
import { isOurProcess, readPid, removePid, run, stopProcess, writePid } from './processes.ts'

const pomFile = `${repoRoot}/infra/kafka/pom.xml`
export const kafkaLibsDir = `${dataDir}/kafka-libs`
export const toolsLog4j = `${repoRoot}/infra/kafka/tools-log4j2.properties`
// A fixed cluster id lets a restart reuse formatted storage; a new id would refuse it.
const CLUSTER_ID = 'TG9nU3RyZWFtTG9jYWwxAA'

export interface BrokerOptions {
  /** Folder for this broker's config, data, log and PID file. */
  dir: string
  port: number
  controllerPort: number
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

function serverProperties(options: BrokerOptions): string {
  const listeners = `PLAINTEXT://127.0.0.1:${options.port},CONTROLLER://127.0.0.1:${options.controllerPort}`
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${options.controllerPort}`,
    `listeners=${listeners}`,
    `advertised.listeners=${listeners}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${options.dir}/data`,
    'num.partitions=3',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Topics are created by the project with explicit partition counts; never by a stray produce.
    'auto.create.topics.enable=false',
    'log.retention.hours=24',
    '',
  ].join('\n')
}

const pidFile = (options: BrokerOptions) => `${options.dir}/kafka.pid`

export const brokerLogFile = (options: BrokerOptions) => `${options.dir}/broker.log`

/**
 * Starts a KRaft broker (broker + controller in one JVM) unless one already answers on the port.
 * Returns whether this call started it; only a broker we started is ever stopped by us.
 */
export async function startKafka(options: BrokerOptions): Promise<{ started: boolean; pid?: number }> {
  const brokers = [`127.0.0.1:${options.port}`]
  const existing = readPid(pidFile(options))
  if (existing && isOurProcess(existing, options.dir)) {
    await waitForKafka({ brokers, clientId: 'logstream-infra' }, options.readyTimeoutMs ?? 60_000)
    return { started: false, pid: existing }
  }
  try {
    await waitForKafka({ brokers, clientId: 'logstream-infra' }, 500)
    return { started: false }
  } catch {
    // Nothing answers: start our own.
  }

  await ensureKafkaJars()
  mkdirSync(`${options.dir}/data`, { recursive: true })
  const config = `${options.dir}/server.properties`
  writeFileSync(config, serverProperties(options))
  const classpath = `${kafkaLibsDir}/*`

  if (!existsSync(`${options.dir}/data/meta.properties`)) {
    const format = await run([
      'java',
      `-Dlog4j2.configurationFile=${toolsLog4j}`,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      CLUSTER_ID,
      '-c',
      config,
      '--standalone',
      '--ignore-formatted',
    ])
    if (format.code !== 0) throw new InfraError(`formatting Kafka storage failed:\n${format.output}`)
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

  try {
    await waitForKafka({ brokers, clientId: 'logstream-infra' }, options.readyTimeoutMs ?? 60_000)
  } catch (error) {
    await stopKafka(options)
    const log = existsSync(brokerLogFile(options)) ? readFileSync(brokerLogFile(options), 'utf8').split('\n').slice(-20).join('\n') : ''
    throw new InfraError(`Kafka did not become ready; last broker log lines:\n${log}`, error)
  }
  return { started: true, pid: child.pid }
}

/** Stops the broker this project started in `options.dir`, if any. */
export async function stopKafka(options: BrokerOptions): Promise<boolean> {
  const pid = readPid(pidFile(options))
  if (!pid) return false
  if (isOurProcess(pid, options.dir)) await stopProcess(pid, 30_000)
  removePid(pidFile(options))
  return true
}

export function defaultBrokerOptions(env: Record<string, string | undefined> = process.env): BrokerOptions {
  return {
    dir: `${dataDir}/kafka`,
    port: Number(env.KAFKA_PORT ?? 9092),
    controllerPort: Number(env.KAFKA_CONTROLLER_PORT ?? 9093),
  }
}
