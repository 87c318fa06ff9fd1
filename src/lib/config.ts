import { ConfigError } from './errors.ts'
import { type LocalKafkaNode, localKafkaNodes, portProblems } from './kafka-nodes.ts'
import { type LogLevel, LogLevels } from './log.ts'

export const KafkaCompressions = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const
export type KafkaCompression = (typeof KafkaCompressions)[number]

/**
 * Every setting LogStream reads, with its default, parsed and validated once at start.
 * A bad value throws ConfigError naming the variable, so a service never runs half-configured.
 */
export interface Config {
  logLevel: LogLevel
  kafka: {
    brokers: string[]
    clientId: string
    topic: string
    dlqTopic: string
    partitions: number
    retentionHours: number
    consumerGroup: string
    /** KAFKA_REPLICATION_FACTOR; absent: decided from the cluster's broker count when topics are created (kafka.ts topicReplication). */
    replicationFactor?: number
    /** What `infra:up` starts locally (KAFKA_LOCAL_BROKERS, KAFKA_PORT, KAFKA_CONTROLLER_PORT); their broker ports are the default KAFKA_BROKERS. */
    localNodes: LocalKafkaNode[]
    /**
     * KAFKA_COMPRESSION: how ingest compresses its produce batches; consumers read any. Off by default: the
     * consumer decompresses a fetched record batch whole, so its memory bound would scale with how well
     * clients' logs compress (README, Benchmarks).
     */
    compression: KafkaCompression
  }
  databaseUrl: string
  dbPoolMax: number
  retentionDays: number
  partitionsAheadDays: number
  grpc: {
    host: string
    port: number
    /** A second port for the same server, where OpenTelemetry exporters look by default. */
    otlpPort: number
    maxRequestBytes: number
    maxConcurrentStreams: number
  }
  /** The ingest service's HTTP listener (OTLP/HTTP, Loki push, Elasticsearch bulk, JSON lines); its host is grpc.host. */
  intakeHttp: { port: number; maxBodyBytes: number }
  http: { host: string; port: number; queryTimeoutMs: number }
  /** The consumer's HTTP listener: GET /health (Kafka and PostgreSQL) for orchestrators, GET /metrics for Prometheus. */
  consumeHttp: { host: string; port: number }
  /** API keys (src/lib/auth/). */
  auth: {
    /** required: every request needs a live key of the right scope; off: none is asked for (loopback only, unless allowOpen). */
    mode: 'required' | 'off'
    /** LOGSTREAM_ALLOW_OPEN=true: serve without keys on a non-loopback address anyway. */
    allowOpen: boolean
    /** How often each process reloads the keys from PostgreSQL: a revoked key stops working within this (plus a query). */
    refreshMs: number
    /** Default limits per key, for keys without their own (keys create/limit --entries-per-second/--bytes-per-second). */
    entriesPerSecond: number
    bytesPerSecond: number
  }
  /** Certificate and key (PEM files) for every listener; both or neither. */
  tls: { certFile?: string; keyFile?: string }
  /** The query process's live tail, GET /tail (src/lib/tail/). */
  tail: {
    /** Clients streamed to at once; one more is answered 429. */
    maxClients: number
    /** Frames waiting for one client, in bytes, before logs that match are dropped for it (and counted). */
    clientQueueBytes: number
    /** Recent frames kept in memory for resuming (Last-Event-ID) and catching up, in bytes. */
    ringBytes: number
    /** Longest an idle stream goes without a byte (a comment), for proxies that close silent connections. */
    heartbeatMs: number
  }
  ingest: {
    batchMaxCount: number
    batchMaxBytes: number
    lingerMs: number
    maxPendingBytes: number
    maxInFlightBatches: number
    sendTimeoutMs: number
    /** INGEST_MAX_FUTURE_SECONDS: a client timestamp further ahead of the server's clock is refused (log-entry.ts). */
    maxFutureSeconds: number
  }
  consume: {
    batchMaxRows: number
    /**
     * Bytes (message values and keys) a batch may hold; a lone larger message still makes a batch. With
     * the stream paused while every batch is busy, the consumer holds about (maxInFlightBatches + 1) × this.
     */
    batchMaxBytes: number
    lingerMs: number
    retentionIntervalMs: number
    /** How often today's partition gets fresh statistics (once enough rows changed) and merged GIN pending lists. */
    hotPartitionIntervalMs: number
    hotPartitionAnalyzeRows: number
    statsIntervalMs: number
    /** Capped exponential backoff while PostgreSQL or Kafka is failing. */
    retryMinMs: number
    retryMaxMs: number
    /** Batches written to PostgreSQL at once (offsets are still committed in order). */
    maxInFlightBatches: number
    /** A batch write with no reply after this long fails and is retried, so a hung connection cannot stall consumption. */
    writeTimeoutMs: number
  }
}

type Env = Record<string, string | undefined>

const MiB = 1024 * 1024

function reader(env: Env) {
  const raw = (name: string) => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }

  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const value = raw(name)
    if (value === undefined) return fallback
    if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `expected a whole number, got "${value}"`)
    const parsed = Number(value)
    if (parsed < min || parsed > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${parsed}`)
    return parsed
  }

  const string = (name: string, fallback: string) => raw(name) ?? fallback

  const oneOf = <const T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = raw(name)
    if (value === undefined) return fallback
    const lower = value.toLowerCase()
    const match = allowed.find((item) => item === lower)
    if (!match) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${value}"`)
    return match
  }

  const hostPorts = (name: string, fallback: string) => {
    const items = string(name, fallback)
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
    for (const item of items) {
      if (!/^[^\s:]+:\d{1,5}$/.test(item)) throw new ConfigError(name, `expected host:port[,host:port…], got "${item}"`)
    }
    if (items.length === 0) throw new ConfigError(name, 'must name at least one host:port')
    return items
  }

  const postgresUrl = (name: string, fallback: string) => {
    const value = string(name, fallback)
    let url: URL
    try {
      url = new URL(value)
    } catch {
      throw new ConfigError(name, `not a URL: "${value}"`)
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ConfigError(name, `expected a postgres:// URL, got protocol "${url.protocol}"`)
    }
    if (url.pathname.length <= 1) throw new ConfigError(name, 'must name a database, e.g. postgres://host:5432/logstream')
    return value
  }

  return { raw, int, string, oneOf, hostPorts, postgresUrl }
}

function tlsFiles(certFile: string | undefined, keyFile: string | undefined): Config['tls'] {
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError(certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE', 'TLS needs both TLS_CERT_FILE and TLS_KEY_FILE')
  return certFile === undefined ? {} : { certFile, keyFile }
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i

/** True for an address only this machine can reach. */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host.trim())

/** What a service with keys off says at start about serving open on `host`. */
export const openServiceNote = (config: Config, host: string): string =>
  `serving without API keys on ${host}${config.auth.allowOpen ? ' (LOGSTREAM_ALLOW_OPEN=true)' : ', loopback only'}`

/**
 * Refuses to serve logs without keys to a network (LOGSTREAM_AUTH=off on a non-loopback host) unless
 * LOGSTREAM_ALLOW_OPEN=true says so; `hosts` are the addresses the calling service listens on.
 */
export function refuseOpenListeners(config: Config, hosts: readonly string[]): void {
  if (config.auth.mode === 'required' || config.auth.allowOpen) return
  const open = hosts.find((host) => !isLoopback(host))
  if (open !== undefined)
    throw new ConfigError(
      'LOGSTREAM_AUTH',
      `off while listening on ${open}, which other machines can reach: set LOGSTREAM_AUTH=required (and create keys with bun run keys), listen on 127.0.0.1, or set LOGSTREAM_ALLOW_OPEN=true to serve without keys anyway`,
    )
}

type Reader = ReturnType<typeof reader>

/** KAFKA_LOCAL_BROKERS nodes from KAFKA_PORT and KAFKA_CONTROLLER_PORT upwards (kafka-nodes.ts), refused if two would share a port. */
function kafkaLocalNodes(int: Reader['int'], port: (name: string, fallback: number) => number): LocalKafkaNode[] {
  const nodes = localKafkaNodes(int('KAFKA_LOCAL_BROKERS', 1, 1, 9), port('KAFKA_PORT', 9092), port('KAFKA_CONTROLLER_PORT', 9093))
  const problems = portProblems(nodes)
  if (problems.length > 0) throw new ConfigError('KAFKA_CONTROLLER_PORT', `with KAFKA_PORT and KAFKA_LOCAL_BROKERS: ${problems.join('; ')}`)
  return nodes
}

export function loadConfig(env: Env = process.env): Config {
  const { raw, int, string, oneOf, hostPorts, postgresUrl } = reader(env)
  const port = (name: string, fallback: number) => int(name, fallback, 0, 65535)
  const localNodes = kafkaLocalNodes(int, port)

  return {
    logLevel: oneOf('LOG_LEVEL', Object.keys(LogLevels) as LogLevel[], 'info'),
    kafka: {
      brokers: hostPorts('KAFKA_BROKERS', localNodes.map((node) => `127.0.0.1:${node.port}`).join(',')),
      clientId: string('KAFKA_CLIENT_ID', 'logstream'),
      topic: string('KAFKA_TOPIC', 'logs.raw'),
      dlqTopic: string('KAFKA_DLQ_TOPIC', 'logs.dlq'),
      partitions: int('KAFKA_PARTITIONS', 3, 1, 10_000),
      retentionHours: int('KAFKA_RETENTION_HOURS', 24, 1),
      consumerGroup: string('KAFKA_CONSUMER_GROUP', 'logstream-consumers'),
      replicationFactor: raw('KAFKA_REPLICATION_FACTOR') === undefined ? undefined : int('KAFKA_REPLICATION_FACTOR', 1, 1, 32),
      localNodes,
      compression: oneOf('KAFKA_COMPRESSION', KafkaCompressions, 'none'),
    },
    databaseUrl: postgresUrl('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/logstream'),
    dbPoolMax: int('DB_POOL_MAX', 25, 1, 1000),
    retentionDays: int('RETENTION_DAYS', 7, 1, 3650),
    partitionsAheadDays: int('PARTITIONS_AHEAD_DAYS', 2, 1, 60),
    grpc: {
      // Loopback unless told otherwise: a developer's machine never serves logs to its network by accident.
      host: string('GRPC_HOST', '127.0.0.1'),
      port: port('GRPC_PORT', 50051),
      otlpPort: port('OTLP_GRPC_PORT', 4317),
      // gRPC's own default. grpc-js refuses a larger message from its length prefix, before reading it.
      maxRequestBytes: int('GRPC_MAX_REQUEST_BYTES', 4 * MiB, 1024, 1024 * MiB),
      // Per connection, so one client cannot hold the whole INGEST_MAX_PENDING_BYTES budget with parallel calls.
      maxConcurrentStreams: int('GRPC_MAX_CONCURRENT_STREAMS', 32, 1, 1_000_000),
    },
    intakeHttp: {
      port: port('INGEST_HTTP_PORT', 4318),
      // As sent and once decompressed; a batch of the OpenTelemetry Collector (8192 records) fits.
      maxBodyBytes: int('INGEST_HTTP_MAX_BODY_BYTES', 8 * MiB, 1024, 1024 * MiB),
    },
    http: {
      host: string('HTTP_HOST', '127.0.0.1'),
      port: port('HTTP_PORT', 8080),
      queryTimeoutMs: int('QUERY_TIMEOUT_MS', 10_000, 100, 600_000),
    },
    consumeHttp: {
      // Loopback by default, like every listener; /metrics there needs a read key when keys are required.
      host: string('CONSUME_HTTP_HOST', '127.0.0.1'),
      port: port('CONSUME_HTTP_PORT', 8081),
    },
    auth: {
      mode: oneOf('LOGSTREAM_AUTH', ['required', 'off'] as const, 'off'),
      allowOpen: oneOf('LOGSTREAM_ALLOW_OPEN', ['true', 'false'] as const, 'false') === 'true',
      refreshMs: int('AUTH_REFRESH_MS', 2000, 100, 60_000),
      // Loki's default per-tenant ingestion rate is 4 MB/s; entries: that rate of 400-byte logs.
      entriesPerSecond: int('AUTH_ENTRIES_PER_SECOND', 10_000, 1, 100_000_000),
      bytesPerSecond: int('AUTH_BYTES_PER_SECOND', 4 * MiB, 1024, 1024 * 1024 * MiB),
    },
    tls: tlsFiles(raw('TLS_CERT_FILE'), raw('TLS_KEY_FILE')),
    tail: {
      maxClients: int('TAIL_MAX_CLIENTS', 100, 1, 100_000),
      // A slow client's bytes held here; a single frame larger than this is still sent alone.
      clientQueueBytes: int('TAIL_CLIENT_QUEUE_BYTES', 1 * MiB, 16 * 1024, 1024 * MiB),
      ringBytes: int('TAIL_RING_BYTES', 32 * MiB, 1 * MiB, 4096 * MiB),
      // Proxies close a connection silent for their read timeout (nginx: 60 s by default); well below that.
      heartbeatMs: int('TAIL_HEARTBEAT_MS', 5000, 100, 25_000),
    },
    ingest: {
      batchMaxCount: int('INGEST_BATCH_MAX_COUNT', 2000, 1, 1_000_000),
      batchMaxBytes: int('INGEST_BATCH_MAX_BYTES', 1 * MiB, 1024, 4 * MiB), // kept under the topics' max.message.bytes (8 MiB)
      // 0: a lone call is not held back, and under load batches fill anyway while earlier ones are in flight (README, ingest).
      lingerMs: int('INGEST_LINGER_MS', 0, 0, 60_000),
      // Bounds the request bytes being read and, separately, the accepted entries awaiting Kafka, so memory
      // stays bounded whatever the clients send; the default is the largest that met the RSS target (README, ingest).
      maxPendingBytes: int('INGEST_MAX_PENDING_BYTES', 32 * MiB, 1024, 4096 * MiB),
      // The idempotent producer sends one request at a time per broker anyway; with 2 in flight, calls arriving
      // meanwhile merge into the next batch (README, ingest).
      maxInFlightBatches: int('INGEST_MAX_IN_FLIGHT_BATCHES', 2, 1, 1024),
      sendTimeoutMs: int('INGEST_SEND_TIMEOUT_MS', 10_000, 100, 600_000),
      // NTP keeps hosts within a second; 10 minutes forgives a host unsynced for weeks, yet a clock set to
      // another year, or local time sent as UTC (whole hours off), is refused. At most a day, so an accepted
      // entry always lands in a partition made ahead (PARTITIONS_AHEAD_DAYS is at least 1).
      maxFutureSeconds: int('INGEST_MAX_FUTURE_SECONDS', 600, 0, 86_400),
    },
    consume: {
      batchMaxRows: int('CONSUME_BATCH_MAX_ROWS', 5000, 1, 1_000_000),
      batchMaxBytes: int('CONSUME_BATCH_MAX_BYTES', 4 * MiB, 64 * 1024, 1024 * MiB),
      lingerMs: int('CONSUME_LINGER_MS', 200, 0, 60_000),
      retentionIntervalMs: int('RETENTION_INTERVAL_MS', 3_600_000, 1000),
      hotPartitionIntervalMs: int('HOT_PARTITION_INTERVAL_MS', 60_000, 1000),
      hotPartitionAnalyzeRows: int('HOT_PARTITION_ANALYZE_ROWS', 200_000, 1),
      statsIntervalMs: int('CONSUME_STATS_INTERVAL_MS', 10_000, 100),
      retryMinMs: int('CONSUME_RETRY_MIN_MS', 100, 1, 600_000),
      retryMaxMs: int('CONSUME_RETRY_MAX_MS', 5_000, 1, 600_000),
      maxInFlightBatches: int('CONSUME_MAX_IN_FLIGHT_BATCHES', 2, 1, 64),
      writeTimeoutMs: int('CONSUME_WRITE_TIMEOUT_MS', 30_000, 100, 3_600_000),
    },
  }
}
