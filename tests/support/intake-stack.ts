import { afterAll } from 'bun:test'
import type { Authenticator } from '../../src/lib/auth/key-ring.ts'
import type { Config } from '../../src/lib/config.ts'
import { type LogConsumer, startConsumer } from '../../src/lib/consumer/consumer.ts'
import { type IngestServer, startIngestServer } from '../../src/lib/ingest-server.ts'
import { createLogger, type Logger } from '../../src/lib/log.ts'
import type { LogView } from '../../src/lib/log-rows.ts'
import { createQueryApp } from '../../src/lib/query-app.ts'
import { eventually, freshDatabase, freshTopics, type TestDatabase } from './infra.ts'
import { committedToEnd } from './topic-reader.ts'

/**
 * The whole pipeline in this process for intake tests: the ingest server (gRPC, OTLP, HTTP intake, all on
 * port 0) over a fresh topic, a consumer storing into a fresh database, and the query API answering
 * in-process requests. Call at the top of a test file (it registers its own afterAll).
 */
export interface IntakeStack {
  config: Config
  db: TestDatabase
  ingest: IngestServer
  consumer: LogConsumer
  /** Base URL of the HTTP intake listener, e.g. http://127.0.0.1:40123 */
  httpUrl: string
  /** host:port of the OTLP gRPC port (the native one is `127.0.0.1:${ingest.port}`). */
  otlpGrpcAddress: string
  /** GET on the query API (in process), parsed: e.g. query('/query?service=web'). */
  query(path: string): Promise<{ status: number; body: { logs: StoredRow[] } & Record<string, unknown> }>
  /** Waits until `count` logs are stored and the group has committed the topic to its end; returns them. */
  storedLogs(count: number, path?: string): Promise<StoredRow[]>
}

/** A log as `/query` returns it. */
export type StoredRow = LogView

export interface IntakeStackOptions {
  /** The services' logger (default: errors only, to stdout), e.g. one that keeps every line for the test to read. */
  log?: Logger
  /** Given to the ingest server instead of startAuth(config). */
  authenticator?: Authenticator
}

export async function startIntakeStack(overrides: (config: Config) => Config = (config) => config, options: IntakeStackOptions = {}): Promise<IntakeStack> {
  const db = await freshDatabase()
  const topics = await freshTopics({ databaseUrl: db.url })
  const config = overrides({
    ...topics,
    databaseUrl: db.url,
    grpc: { ...topics.grpc, host: '127.0.0.1', port: 0, otlpPort: 0 },
    intakeHttp: { ...topics.intakeHttp, port: 0 },
    consume: { ...topics.consume, lingerMs: 50, statsIntervalMs: 600_000 },
  })
  const log = options.log ?? createLogger({ service: 'intake-test' }, { level: (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'error' })
  const ingest = await startIngestServer(config, { log, authenticator: options.authenticator })
  const consumer = await startConsumer({ config, log })
  const app = createQueryApp({ sql: db.sql, log })
  afterAll(async () => {
    await ingest.close()
    await consumer.stop()
  }, 30_000)

  const query: IntakeStack['query'] = async (path) => {
    const response = await app.handle(new Request(`http://localhost${path}`))
    return { status: response.status, body: (await response.json()) as { logs: StoredRow[] } }
  }
  return {
    config,
    db,
    ingest,
    consumer,
    httpUrl: `http://127.0.0.1:${ingest.httpPort}`,
    otlpGrpcAddress: `127.0.0.1:${ingest.otlpPort}`,
    query,
    async storedLogs(count, path = '/query?limit=1000') {
      await eventually(async () => ((await query(path)).body.logs.length >= count ? true : undefined), 30_000, `${count} stored logs at ${path}`)
      await committedToEnd(config)
      return (await query(path)).body.logs
    },
  }
}
