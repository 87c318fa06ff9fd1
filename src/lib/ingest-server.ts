import type { Authenticator } from './auth/key-ring.ts'
import { RateLimits } from './auth/rate-limits.ts'
import { startAuth } from './auth/start-auth.ts'
import type { Config } from './config.ts'
import { startGrpcServer } from './grpc-server.ts'
import { startHttpIntake } from './http-intake/server.ts'
import { createIntake } from './intake.ts'
import type { Logger } from './log.ts'
import { createRegistry, IngestMetrics } from './metrics.ts'
import { createLogProducer, type LogProducer } from './producer.ts'
import { readTlsFiles } from './tls-files.ts'

/**
 * The ingest service: one intake (validation, batching, Kafka) behind every listener — gRPC (native and
 * OTLP, two ports) and HTTP (OTLP/HTTP, Loki push, Elasticsearch bulk, JSON lines) — each asking for an
 * API key of scope ingest as config.auth says, and holding each key to its rate limits.
 */

export interface IngestServer {
  /** Ports actually bound (useful with port 0). */
  port: number
  otlpPort: number
  httpPort: number
  /** Stops taking requests, sends everything queued, answers every caller, closes the producer and the key store. */
  close(): Promise<void>
}

export interface IngestServerOptions {
  log: Logger
  /** Defaults to a producer for `config.kafka`. */
  producer?: LogProducer
  /** Defaults to startAuth(config): the keys in PostgreSQL when config.auth.mode is required, everyone when off. */
  authenticator?: Authenticator
}

export async function startIngestServer(config: Config, options: IngestServerOptions): Promise<IngestServer> {
  const { log } = options
  const tls = readTlsFiles(config.tls)
  const auth = options.authenticator ? { authenticator: options.authenticator, close: async () => {} } : await startAuth(config, log)
  const limits = new RateLimits(config.auth)
  const producer = options.producer ?? createLogProducer({ kafka: config.kafka, sendTimeoutMs: config.ingest.sendTimeoutMs })
  const intake = createIntake(config, { producer, log })
  const registry = createRegistry()
  const metrics = { registry, ingest: new IngestMetrics(registry, () => intake.stats) }
  const security = { authenticator: auth.authenticator, limits, tls }
  const grpc = await startGrpcServer(config, intake, log, { ...security, metrics: metrics.ingest })
  const http = startHttpIntake(intake, log, {
    host: config.grpc.host,
    port: config.intakeHttp.port,
    maxBodyBytes: config.intakeHttp.maxBodyBytes,
    sendTimeoutMs: config.ingest.sendTimeoutMs,
    ...security,
    metrics,
  })

  let closing: Promise<void> | undefined
  return {
    port: grpc.port,
    otlpPort: grpc.otlpPort,
    httpPort: http.port,
    close() {
      closing ??= (async () => {
        // Listeners refuse new requests at once; those in progress are answered once their batches settle.
        const answered = Promise.all([grpc.shutdown(config.ingest.sendTimeoutMs), http.close()])
        const { queuedItems, inFlight } = intake.stats
        log.info('ingest.draining', { queuedItems, inFlight })
        await intake.close()
        await answered
        await producer.close()
        await auth.close()
      })()
      return closing
    },
  }
}
