import { describe, expect, test } from 'bun:test'
import { loadConfig, refuseOpenListeners } from '../../../src/lib/config.ts'
import { ConfigError } from '../../../src/lib/errors.ts'

describe('loadConfig', () => {
  test('defaults match the documented ports, topics and database', () => {
    const config = loadConfig({})
    expect(config.grpc.port).toBe(50051)
    expect(config.http.port).toBe(8080)
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092'])
    expect(config.kafka.topic).toBe('logs.raw')
    expect(config.kafka.dlqTopic).toBe('logs.dlq')
    expect(config.kafka.partitions).toBe(3)
    expect(config.kafka.retentionHours).toBe(24)
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/logstream')
    expect(config.dbPoolMax).toBe(25)
    expect(config.retentionDays).toBe(7)
  })

  test('KAFKA_PORT moves the default broker address', () => {
    expect(loadConfig({ KAFKA_PORT: '19092' }).kafka.brokers).toEqual(['127.0.0.1:19092'])
  })

  test('a malformed number names the variable', () => {
    expect(() => loadConfig({ GRPC_PORT: 'abc' })).toThrow(/GRPC_PORT/)
  })

  test('an out-of-range number names the variable and the range', () => {
    expect(() => loadConfig({ KAFKA_PARTITIONS: '0' })).toThrow('KAFKA_PARTITIONS: must be between 1 and 10000, got 0')
  })

  test('a non-postgres DATABASE_URL is refused', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x/y' })).toThrow(ConfigError)
  })

  test('a DATABASE_URL without a database name is refused', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://127.0.0.1:5432' })).toThrow(/DATABASE_URL/)
  })

  test('a malformed broker list is refused', () => {
    expect(() => loadConfig({ KAFKA_BROKERS: 'localhost' })).toThrow(/KAFKA_BROKERS/)
  })

  test('LOG_LEVEL accepts only known levels', () => {
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug')
    expect(() => loadConfig({ LOG_LEVEL: 'chatty' })).toThrow(/LOG_LEVEL/)
  })

  test('errors carry the stable CONFIG_INVALID code', () => {
    try {
      loadConfig({ HTTP_PORT: '70000' })
      throw new Error('expected loadConfig to throw')
    } catch (error) {
      expect((error as ConfigError).code).toBe('CONFIG_INVALID')
      expect((error as ConfigError).variable).toBe('HTTP_PORT')
    }
  })
})

describe('loadConfig: CONSUME_BATCH_MAX_BYTES', () => {
  test('defaults to 4 MiB and accepts a value in range', () => {
    expect(loadConfig({}).consume.batchMaxBytes).toBe(4 * 1024 * 1024)
    expect(loadConfig({ CONSUME_BATCH_MAX_BYTES: '1048576' }).consume.batchMaxBytes).toBe(1024 * 1024)
  })

  test('refuses a value below 64 KiB or above 1 GiB, naming the variable', () => {
    expect(() => loadConfig({ CONSUME_BATCH_MAX_BYTES: '1000' })).toThrow(/CONSUME_BATCH_MAX_BYTES: must be between 65536 and 1073741824/)
    expect(() => loadConfig({ CONSUME_BATCH_MAX_BYTES: String(2 * 1024 ** 3) })).toThrow(/CONSUME_BATCH_MAX_BYTES/)
  })
})

describe('loadConfig: INGEST_MAX_FUTURE_SECONDS', () => {
  test('defaults to 10 minutes and accepts 0 up to a day', () => {
    expect(loadConfig({}).ingest.maxFutureSeconds).toBe(600)
    expect(loadConfig({ INGEST_MAX_FUTURE_SECONDS: '0' }).ingest.maxFutureSeconds).toBe(0)
    expect(loadConfig({ INGEST_MAX_FUTURE_SECONDS: '86400' }).ingest.maxFutureSeconds).toBe(86_400)
  })

  test('refuses a negative, fractional or over-a-day value, naming the variable', () => {
    expect(() => loadConfig({ INGEST_MAX_FUTURE_SECONDS: '-1' })).toThrow(ConfigError)
    expect(() => loadConfig({ INGEST_MAX_FUTURE_SECONDS: '1.5' })).toThrow(/INGEST_MAX_FUTURE_SECONDS: expected a whole number/)
    expect(() => loadConfig({ INGEST_MAX_FUTURE_SECONDS: '86401' })).toThrow(/INGEST_MAX_FUTURE_SECONDS: must be between 0 and 86400/)
  })
})

describe('loadConfig: the live tail (TAIL_*)', () => {
  test('defaults: 100 clients, 1 MiB per client, 32 MiB of recent logs, a heartbeat at least every 5 s', () => {
    expect(loadConfig({}).tail).toEqual({ maxClients: 100, clientQueueBytes: 1024 * 1024, ringBytes: 32 * 1024 * 1024, heartbeatMs: 5000 })
  })

  test('each is read from its variable', () => {
    const env = { TAIL_MAX_CLIENTS: '7', TAIL_CLIENT_QUEUE_BYTES: '65536', TAIL_RING_BYTES: '2097152', TAIL_HEARTBEAT_MS: '1000' }
    expect(loadConfig(env).tail).toEqual({ maxClients: 7, clientQueueBytes: 65536, ringBytes: 2097152, heartbeatMs: 1000 })
  })

  test.each([
    ['TAIL_MAX_CLIENTS', '0'],
    ['TAIL_CLIENT_QUEUE_BYTES', '1024'],
    ['TAIL_RING_BYTES', '1000'],
    ['TAIL_HEARTBEAT_MS', '30000'],
    ['TAIL_HEARTBEAT_MS', 'soon'],
  ])('%s=%s is refused, naming the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(variable)
  })
})

describe("loadConfig: the consumer's HTTP listener (CONSUME_HTTP_*)", () => {
  test('defaults: loopback, port 8081', () => {
    expect(loadConfig({}).consumeHttp).toEqual({ host: '127.0.0.1', port: 8081 })
  })

  test('read from CONSUME_HTTP_HOST and CONSUME_HTTP_PORT; 0 picks a free port', () => {
    expect(loadConfig({ CONSUME_HTTP_HOST: '0.0.0.0', CONSUME_HTTP_PORT: '0' }).consumeHttp).toEqual({ host: '0.0.0.0', port: 0 })
  })

  test('a port out of range names the variable', () => {
    expect(() => loadConfig({ CONSUME_HTTP_PORT: '70000' })).toThrow(/CONSUME_HTTP_PORT: must be between 0 and 65535/)
  })

  test('keys off on a non-loopback consumer host is refused unless LOGSTREAM_ALLOW_OPEN=true', () => {
    const open = loadConfig({ CONSUME_HTTP_HOST: '0.0.0.0' })
    expect(() => refuseOpenListeners(open, [open.consumeHttp.host])).toThrow(/LOGSTREAM_AUTH: off while listening on 0.0.0.0/)
    const allowed = loadConfig({ CONSUME_HTTP_HOST: '0.0.0.0', LOGSTREAM_ALLOW_OPEN: 'true' })
    expect(() => refuseOpenListeners(allowed, [allowed.consumeHttp.host])).not.toThrow()
  })
})

describe('loadConfig: a local Kafka cluster (KAFKA_LOCAL_BROKERS) and replication', () => {
  test('by default one local node, the single broker of 9092/9093, and replication left to the cluster', () => {
    const { kafka } = loadConfig({})
    expect(kafka.localNodes).toEqual([{ nodeId: 1, port: 9092, controllerPort: 9093 }])
    expect(kafka.replicationFactor).toBeUndefined()
  })

  test('KAFKA_LOCAL_BROKERS=3: three nodes, and KAFKA_BROKERS defaults to all three', () => {
    const { kafka } = loadConfig({ KAFKA_LOCAL_BROKERS: '3' })
    expect(kafka.localNodes.map((node) => [node.nodeId, node.port, node.controllerPort])).toEqual([
      [1, 9092, 9093],
      [2, 9094, 9095],
      [3, 9096, 9097],
    ])
    expect(kafka.brokers).toEqual(['127.0.0.1:9092', '127.0.0.1:9094', '127.0.0.1:9096'])
  })

  test('KAFKA_PORT and KAFKA_CONTROLLER_PORT move every node; KAFKA_BROKERS still wins when set', () => {
    expect(loadConfig({ KAFKA_LOCAL_BROKERS: '3', KAFKA_PORT: '19092', KAFKA_CONTROLLER_PORT: '29092' }).kafka.brokers).toEqual([
      '127.0.0.1:19092',
      '127.0.0.1:19094',
      '127.0.0.1:19096',
    ])
    expect(loadConfig({ KAFKA_LOCAL_BROKERS: '3', KAFKA_BROKERS: 'kafka:9092' }).kafka.brokers).toEqual(['kafka:9092'])
  })

  test('ports two nodes would share are refused, naming the variables', () => {
    expect(() => loadConfig({ KAFKA_LOCAL_BROKERS: '3', KAFKA_CONTROLLER_PORT: '9094' })).toThrow(
      'KAFKA_CONTROLLER_PORT: with KAFKA_PORT and KAFKA_LOCAL_BROKERS: node 2 would reuse port 9094; node 3 would reuse port 9096',
    )
  })

  test.each([
    ['KAFKA_LOCAL_BROKERS', '0'],
    ['KAFKA_LOCAL_BROKERS', '10'],
    ['KAFKA_LOCAL_BROKERS', 'three'],
    ['KAFKA_REPLICATION_FACTOR', '0'],
    ['KAFKA_REPLICATION_FACTOR', '2.5'],
  ])('%s=%s is refused, naming the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(variable)
  })

  test('KAFKA_COMPRESSION: none by default, any of the codecs Kafka knows, anything else refused by name', () => {
    expect(loadConfig({}).kafka.compression).toBe('none')
    expect(loadConfig({ KAFKA_COMPRESSION: 'ZSTD' }).kafka.compression).toBe('zstd')
    expect(() => loadConfig({ KAFKA_COMPRESSION: 'brotli' })).toThrow(/KAFKA_COMPRESSION: must be one of none, gzip, snappy, lz4, zstd/)
  })

  test('KAFKA_REPLICATION_FACTOR is read as given', () => {
    expect(loadConfig({ KAFKA_REPLICATION_FACTOR: '3' }).kafka.replicationFactor).toBe(3)
  })
})
