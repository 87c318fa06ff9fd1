import { afterAll, expect } from 'bun:test'
import type { Config } from '../../src/lib/config.ts'
import { type LogConsumer, startConsumer } from '../../src/lib/consumer/consumer.ts'
import { type IngestServer, startIngestServer } from '../../src/lib/ingest-server.ts'
import { createLogger } from '../../src/lib/log.ts'
import type { LogView } from '../../src/lib/log-rows.ts'
import { createQueryApp } from '../../src/lib/query-app.ts'
import { type LiveTail, startLiveTail } from '../../src/lib/tail/live-tail.ts'
import type { TailSettings } from '../../src/lib/tail/tail-hub.ts'
import { freshDatabase, freshTopics, type TestDatabase } from './infra.ts'
import { readSse, SseParser } from './sse-reader.ts'

/**
 * The whole pipeline for /tail tests: the ingest service (HTTP intake on port 0) over a fresh topic, a
 * consumer storing into a fresh database, and the query API with its live tail on a real Bun server on
 * port 0 (streams need a socket: idle timeouts and backpressure are the server's). Call at the top of a
 * test file; it registers its own afterAll.
 */
export interface TailStack {
  config: Config
  db: TestDatabase
  ingest: IngestServer
  consumer: LogConsumer
  tail: LiveTail
  /** http://127.0.0.1:<port> of the query API. */
  baseUrl: string
  /** Sends logs through the JSON-lines intake (`params` fill what a line does not say); every one must be accepted. */
  send(logs: object[], params?: Record<string, string>): Promise<void>
  /** GET on the query API, parsed. */
  query(path: string): Promise<{ logs: LogView[] }>
  /** Opens a /tail stream (path starting with /tail) and reads it in the background. */
  open(path: string, headers?: Record<string, string>): Promise<TailClient>
}

export interface TailClient {
  status: number
  parser: SseParser
  /** Settles when the stream ends. */
  done: Promise<void>
  close(): Promise<void>
  /** The logs received so far, in order. */
  logs(): LogView[]
}

export const testTailSettings: TailSettings = { maxClients: 50, clientQueueBytes: 1024 * 1024, ringBytes: 8 * 1024 * 1024, heartbeatMs: 5000 }

export interface TailServer {
  tail: LiveTail
  baseUrl: string
  /** Opens a /tail stream (path starting with /tail) and reads it in the background. */
  open(path: string, headers?: Record<string, string>): Promise<TailClient>
  /** Ends the live tail (streams first), then the server. */
  stop(): Promise<void>
}

/**
 * A query API with a live tail of its own over `db`, on a real Bun server on port 0, with `settings` and
 * Bun.serve options (`idleTimeout`, seconds) of its own: another query process, as far as the tail goes.
 */
export async function startTailServer(db: TestDatabase, settings: Partial<TailSettings> = {}, serve: { idleTimeout?: number } = {}): Promise<TailServer> {
  const log = createLogger({ service: 'tail-test' }, { level: (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'error' })
  const tail = startLiveTail({ sql: db.sql, databaseUrl: db.url, settings: { ...testTailSettings, ...settings }, log })
  await tail.ready
  const app = createQueryApp({ sql: db.sql, log, tail: tail.hub }).listen({ hostname: '127.0.0.1', port: 0, ...serve })
  const baseUrl = `http://127.0.0.1:${app.server!.port}`
  const clients: TailClient[] = []
  let stopped = false
  const server: TailServer = {
    tail,
    baseUrl,
    async open(path, headers = {}) {
      const controller = new AbortController()
      const response = await fetch(`${baseUrl}${path}`, { headers, signal: controller.signal })
      const reading = response.body ? readSse(response.body) : undefined
      const client: TailClient = {
        status: response.status,
        parser: reading?.parser ?? new SseParser(),
        done: (reading?.done ?? Promise.resolve()).catch(() => {}),
        async close() {
          controller.abort()
          await client.done
        },
        logs: () => client.parser.events.filter((event) => event.event === 'message').map((event) => JSON.parse(event.data) as LogView),
      }
      clients.push(client)
      return client
    },
    async stop() {
      if (stopped) return
      stopped = true
      await Promise.all(clients.map((client) => client.close()))
      await tail.stop()
      await app.server?.stop(true)
    },
  }
  afterAll(() => server.stop(), 30_000)
  return server
}

export async function startTailStack(settings: Partial<TailSettings> = {}): Promise<TailStack> {
  const db = await freshDatabase()
  const topics = await freshTopics({ databaseUrl: db.url })
  const config: Config = {
    ...topics,
    databaseUrl: db.url,
    grpc: { ...topics.grpc, host: '127.0.0.1', port: 0, otlpPort: 0 },
    intakeHttp: { ...topics.intakeHttp, port: 0 },
    consume: { ...topics.consume, lingerMs: 50, statsIntervalMs: 600_000 },
  }
  const log = createLogger({ service: 'tail-test' }, { level: (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'error' })
  const ingest = await startIngestServer(config, { log })
  const consumer = await startConsumer({ config, log })
  const server = await startTailServer(db, settings)
  afterAll(async () => {
    await server.stop()
    await ingest.close()
    await consumer.stop()
  }, 30_000)

  return {
    config,
    db,
    ingest,
    consumer,
    tail: server.tail,
    baseUrl: server.baseUrl,
    open: server.open,
    async send(logs, params = {}) {
      const body = logs.map((line) => JSON.stringify(line)).join('\n')
      const response = await fetch(`http://127.0.0.1:${ingest.httpPort}/jsonlines?${new URLSearchParams(params)}`, { method: 'POST', body })
      const answer = (await response.json()) as { accepted: number }
      expect([response.status, answer.accepted]).toEqual([200, logs.length])
    },
    async query(path) {
      const response = await fetch(`${server.baseUrl}${path}`)
      expect(response.status).toBe(200)
      return (await response.json()) as { logs: LogView[] }
    },
  }
}
