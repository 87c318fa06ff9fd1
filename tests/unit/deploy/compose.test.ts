import { describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { parse } from 'yaml'

/**
 * docker-compose.yml checked structurally (no Docker engine needed): the services, their order of start,
 * healthchecks, restart policies and where their settings and secrets come from.
 */
const root = resolve(import.meta.dir, '../../..')
const composeText = await Bun.file(`${root}/docker-compose.yml`).text()
const envExample = await Bun.file(`${root}/.env.example`).text()

interface Healthcheck {
  test: string[]
  interval?: string
  timeout?: string
  retries?: number
  start_period?: string
}

interface Service {
  image?: string
  build?: string
  user?: string
  command?: string[]
  environment?: Record<string, string>
  env_file?: string | string[]
  ports?: string[]
  expose?: string[]
  volumes?: string[]
  restart?: string
  init?: boolean
  healthcheck?: Healthcheck
  depends_on?: Record<string, { condition: string }>
  deploy?: { replicas?: string | number }
}

// Merge keys (`<<: *logstream`) are how the LogStream services share their settings.
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> }
const services = compose.services
const logstreamServices = ['init', 'ingest', 'consume', 'query'] as const
const longRunning = ['ingest', 'consume', 'query'] as const

const service = (name: string): Service => {
  const found = services[name]
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`)
  return found
}

/** `${NAME}`, `${NAME:-default}`, `${NAME:?error}` references; `$$` escapes are for the container's shell. */
function interpolations(text: string): { name: string; hasDefault: boolean }[] {
  return [...text.replaceAll('$$', '').matchAll(/\$\{([A-Z0-9_]+)(:?[-?])?[^}]*\}/g)].map((match) => ({
    name: match[1]!,
    hasDefault: match[2]?.endsWith('-') ?? false,
  }))
}

const envExampleNames = new Set([...envExample.matchAll(/^#?\s*([A-Z0-9_]+)=/gm)].map((match) => match[1]!))

describe('services', () => {
  test('names Kafka, PostgreSQL, the init and the three LogStream services', () => {
    expect(Object.keys(services).sort()).toEqual(['consume', 'ingest', 'init', 'kafka', 'postgres', 'query'])
  })

  test('runs every LogStream service from the one image, picked by its command', () => {
    for (const name of logstreamServices) {
      expect(service(name).image).toBe('${LOGSTREAM_IMAGE:-logstream:local}')
      expect(service(name).command).toEqual([name])
    }
  })

  // Several services building one tag race to export it under Compose's bake (docker/buildx#3576).
  test('builds the image once, in init; every other service only names it', () => {
    const builders = Object.entries(services).filter(([, item]) => item.build !== undefined)
    expect(builders.map(([name]) => name)).toEqual(['init'])
    expect(service('init').build).toBe('.')
    for (const name of longRunning) expect(service(name)).not.toHaveProperty('build')
  })

  test('publishes gRPC on 50051 and HTTP on 8080, as the README says', () => {
    expect(service('ingest').ports).toContain('50051:50051')
    expect(service('query').ports).toEqual(['8080:8080'])
    expect(service('ingest').environment?.GRPC_PORT).toBe('50051')
    expect(service('query').environment?.HTTP_PORT).toBe('8080')
  })

  test("publishes the shippers' intake: OTLP/gRPC on 4317 and the HTTP intake on 4318, fixed inside the container", () => {
    expect(service('ingest').ports).toEqual(['50051:50051', '4317:4317', '4318:4318'])
    expect(service('ingest').environment?.OTLP_GRPC_PORT).toBe('4317')
    expect(service('ingest').environment?.INGEST_HTTP_PORT).toBe('4318')
  })

  test('every LogStream service listens on all interfaces with keys required unless .env says otherwise', () => {
    for (const name of logstreamServices) {
      const env = service(name).environment ?? {}
      expect(env.GRPC_HOST).toBe('0.0.0.0')
      expect(env.HTTP_HOST).toBe('0.0.0.0')
      expect(env.CONSUME_HTTP_HOST).toBe('0.0.0.0')
      expect(env.LOGSTREAM_AUTH).toBe('${LOGSTREAM_AUTH:-required}')
      expect(env).not.toHaveProperty('LOGSTREAM_ALLOW_OPEN')
    }
  })

  test('.env.example documents the key, limit and TLS settings', () => {
    for (const name of [
      'LOGSTREAM_AUTH',
      'LOGSTREAM_ALLOW_OPEN',
      'AUTH_REFRESH_MS',
      'AUTH_ENTRIES_PER_SECOND',
      'AUTH_BYTES_PER_SECOND',
      'TLS_CERT_FILE',
      'TLS_KEY_FILE',
    ])
      expect(envExampleNames).toContain(name)
    // The documented defaults are config.ts's.
    expect(envExample).toMatch(/^# AUTH_REFRESH_MS=2000$/m)
    expect(envExample).toMatch(/^# AUTH_ENTRIES_PER_SECOND=10000$/m)
    expect(envExample).toMatch(/^# AUTH_BYTES_PER_SECOND=4194304$/m)
  })

  test('.env.example lists the intake settings', () => {
    for (const name of ['OTLP_GRPC_PORT', 'INGEST_HTTP_PORT', 'INGEST_HTTP_MAX_BODY_BYTES']) expect(envExampleNames).toContain(name)
  })

  test('publishes Kafka and PostgreSQL on the host loopback only', () => {
    for (const name of ['kafka', 'postgres']) {
      for (const port of service(name).ports ?? []) expect(port).toStartWith('127.0.0.1:')
    }
  })

  test("the consumer's /health and /metrics port is fixed at 8081 and exposed to the network, never published (replicas would clash)", () => {
    expect(service('consume').environment?.CONSUME_HTTP_PORT).toBe('8081')
    expect(service('consume').expose).toEqual(['8081'])
    expect(service('consume').ports).toBeUndefined()
  })

  test('makes the consumer replica count settable, two by default', () => {
    expect(service('consume').deploy?.replicas).toBe('${CONSUMER_REPLICAS:-2}')
  })
})

describe('kafka', () => {
  const kafka = service('kafka')
  const env = kafka.environment ?? {}

  test('uses the official apache/kafka 4.x image', () => {
    expect(kafka.image).toMatch(/^\$\{KAFKA_IMAGE:-apache\/kafka:4\.\d+\.\d+\}$/)
  })

  test('runs in KRaft combined mode with no ZooKeeper', () => {
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller')
    expect(env.KAFKA_NODE_ID).toBe('1')
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka:9093')
    expect(env.KAFKA_CONTROLLER_LISTENER_NAMES).toBe('CONTROLLER')
    expect(composeText.toLowerCase()).not.toContain('zookeeper')
  })

  test('advertises an in-network listener the services use and a host listener', () => {
    const advertised = env.KAFKA_ADVERTISED_LISTENERS?.split(',') ?? []
    for (const name of logstreamServices) expect(advertised).toContain(`PLAINTEXT://${service(name).environment?.KAFKA_BROKERS}`)
    expect(advertised.some((listener) => listener.startsWith('PLAINTEXT_HOST://localhost:'))).toBe(true)
    const protocols = env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP?.split(',').map((pair) => pair.split(':')[0]) ?? []
    for (const listener of env.KAFKA_LISTENERS?.split(',') ?? []) expect(protocols).toContain(listener.split(':')[0]!)
  })

  test('never creates topics on its own', () => {
    expect(env.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false')
  })

  test('keeps its log in a named volume', () => {
    expect(kafka.volumes).toContain(`kafka-data:${env.KAFKA_LOG_DIRS}`)
    expect(compose.volumes).toHaveProperty('kafka-data')
  })
})

describe('postgres', () => {
  const postgres = service('postgres')

  test('uses the official postgres image with a data volume', () => {
    expect(postgres.image).toMatch(/^\$\{POSTGRES_IMAGE:-postgres:\d+\}$/)
    expect(postgres.volumes).toContain('postgres-data:/var/lib/postgresql/data')
    expect(compose.volumes).toHaveProperty('postgres-data')
  })

  test('takes its password from .env and refuses to start without one', () => {
    expect(postgres.environment?.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/)
  })
})

describe('first admin key', () => {
  const init = service('init')
  const keyFile = init.environment?.LOGSTREAM_ADMIN_KEY_FILE ?? ''

  test('init writes it into a directory mounted from the host, beside docker-compose.yml', () => {
    expect(keyFile).toStartWith('/')
    const [hostDir, containerDir] = (init.volumes ?? []).find((volume) => volume.startsWith('./secrets:'))?.split(':') ?? []
    expect(hostDir).toBe('./secrets')
    expect(keyFile).toBe(`${containerDir}/admin-key`)
    expect(init.environment?.LOGSTREAM_ADMIN_KEY_SHOWN_AS).toStartWith('./secrets/admin-key')
  })

  test('only init runs as root (to write the root-only file), and only init sees the secrets directory', () => {
    expect(init.user).toBe('0:0')
    for (const name of longRunning) {
      expect(service(name).user).toBeUndefined()
      expect(service(name).environment).not.toHaveProperty('LOGSTREAM_ADMIN_KEY_FILE')
      for (const volume of service(name).volumes ?? []) expect(volume).not.toContain('secrets')
    }
  })

  test('init keeps the settings every LogStream service has', () => {
    const shared = service('query').environment ?? {}
    for (const [name, value] of Object.entries(shared)) expect([name, init.environment?.[name]]).toEqual([name, value])
  })
})

describe('start order', () => {
  test('the init waits for Kafka and PostgreSQL to be healthy', () => {
    expect(service('init').depends_on).toEqual({ kafka: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } })
  })

  test('the init runs once: it is never restarted', () => {
    expect(service('init').restart).toBe('no')
  })

  test('every long-running service waits for the init to complete successfully', () => {
    for (const name of longRunning) {
      expect(service(name).depends_on).toEqual({
        init: { condition: 'service_completed_successfully' },
        kafka: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
      })
    }
  })
})

describe('healthchecks and restarts', () => {
  test('Kafka, PostgreSQL and the three services each have a healthcheck', () => {
    for (const name of ['kafka', 'postgres', ...longRunning]) {
      const check = service(name).healthcheck
      expect(check?.test.length).toBeGreaterThan(1)
      expect(check?.interval).toBeDefined()
      expect(check?.retries).toBeGreaterThan(0)
    }
  })

  test("each LogStream service is checked by the entrypoint's healthcheck command for that service", () => {
    for (const name of longRunning) expect(service(name).healthcheck?.test).toEqual(['CMD', '/app/scripts/docker-entrypoint.sh', 'healthcheck', name])
  })

  test('long-running containers restart unless stopped and run under an init process', () => {
    for (const name of ['kafka', 'postgres', ...longRunning]) expect(service(name).restart).toBe('unless-stopped')
    for (const name of logstreamServices) expect(service(name).init).toBe(true)
  })
})

describe('settings and secrets', () => {
  test('LogStream services read their settings from .env', () => {
    for (const name of logstreamServices) expect(service(name).env_file).toBe('.env')
  })

  test('the database URL is built from .env values, never a literal password', () => {
    for (const name of logstreamServices) {
      const url = service(name).environment?.DATABASE_URL ?? ''
      expect(url).toStartWith('postgres://')
      expect(url).toContain('${POSTGRES_PASSWORD:?')
      expect(url).toContain('@postgres:5432/')
    }
  })

  test('no password is written into the compose file', () => {
    const passwords = Object.values(services).flatMap((item) => Object.entries(item.environment ?? {}).filter(([name]) => name.includes('PASSWORD')))
    expect(passwords.length).toBeGreaterThan(0)
    for (const [, value] of passwords) expect(value).toMatch(/^\$\{[A-Z_]+:\?[^}]*\}$/)
  })

  test('every variable compose needs without a default is documented in .env.example', () => {
    // From the parsed file, so references in comments do not count.
    const required = interpolations(JSON.stringify(compose)).filter((reference) => !reference.hasDefault)
    expect(required.length).toBeGreaterThan(0)
    for (const { name } of required) expect(envExampleNames).toContain(name)
  })

  test('.env.example leaves the password empty, so nobody deploys a published one', () => {
    expect(envExample).toMatch(/^POSTGRES_PASSWORD=$/m)
  })

  test('.env is git-ignored and kept out of the image build context', async () => {
    const gitignore = await Bun.file(`${root}/.gitignore`).text()
    const dockerignore = await Bun.file(`${root}/.dockerignore`).text()
    expect(gitignore.split('\n')).toContain('.env')
    expect(dockerignore.split('\n')).toContain('.env')
  })
})
