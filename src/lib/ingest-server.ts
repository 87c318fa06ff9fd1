import type { Config } from './config.ts'
import { startGrpcServer } from './grpc-server.ts'
import { startHttpIntake } from './http-intake/server.ts'
import { createIntake } from './intake.ts'
import type { Logger } from './log.ts'
import { createLogProducer, type LogProducer } from './producer.ts'

/**
 * The ingest service: one intake (validation, batching, Kafka) behind every listener — gRPC (native and
 * OTLP, two ports) and HTTP (OTLP/HTTP, Loki push, Elasticsearch bulk, JSON lines).
 */

export interface IngestServer {
  /** Ports actually bound (useful with port 0). */
  port: number
  otlpPort: number
  httpPort: number
  /** Stops taking requests, sends everything queued, answers every caller, closes the producer. */
  close(): Promise<void>
}

export interface IngestServerOptions {
  log: Logger
  /** Defaults to a producer for `config.kafka`. */
  producer?: LogProducer
}

export async function startIngestServer(config: Config, options: IngestServerOptions): Promise<IngestServer> {
  const { log } = options
  const producer = options.producer ?? createLogProducer({ kafka: config.kafka, sendTimeoutMs: config.ingest.sendTimeoutMs })
  const intake = createIntake(config, { producer, log })
  const grpc = await startGrpcServer(config, intake, log)
  const http = startHttpIntake(intake, log, {
    host: config.grpc.host,
    port: config.intakeHttp.port,
    maxBodyBytes: config.intakeHttp.maxBodyBytes,
    sendTimeoutMs: config.ingest.sendTimeoutMs,
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
      })()
      return closing
    },
  }
}
