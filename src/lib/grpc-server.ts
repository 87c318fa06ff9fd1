import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check'
import type { Authenticator } from './auth/key-ring.ts'
import type { RateLimits } from './auth/rate-limits.ts'
import type { Config } from './config.ts'
import { authInterceptor } from './grpc-auth.ts'
import { budgetInterceptor } from './grpc-budget.ts'
import { ingestHandlers } from './grpc-ingest.ts'
import { otlpHandlers, otlpStatusFor } from './grpc-otlp.ts'
import { statusFor } from './grpc-status.ts'
import type { Intake } from './intake.ts'
import type { Logger } from './log.ts'
import type { IngestMetrics } from './metrics.ts'
import {
  INGEST_METHOD_PATH,
  INGEST_SERVICE_NAME,
  ingestService,
  OTLP_EXPORT_PATH,
  OTLP_LOGS_SERVICE_NAME,
  otlpLogsService,
  reflectionDefinition,
} from './proto.ts'
import type { TlsFiles } from './tls-files.ts'

/**
 * The ingest service's gRPC server: logstream.LogIngestion and OTLP's LogsService over one intake, on
 * GRPC_PORT and also on OTLP_GRPC_PORT (where exporters look by default), with reflection and the standard
 * health service. Every intake call needs an API key of scope ingest (when keys are required), then holds
 * room in the intake's byte budget while it is read and answered, within its key's rate limits. With
 * `tls`, both ports serve TLS only.
 */

export interface GrpcServerOptions {
  authenticator: Authenticator
  limits: RateLimits
  /** Certificate and key, read once at start; plaintext without. */
  tls?: TlsFiles
  /** Where each call's entries are counted (metrics.ts); uncounted without. */
  metrics?: IngestMetrics
}

export interface GrpcServer {
  /** The ports actually bound (useful with port 0). */
  port: number
  otlpPort: number
  /** Refuses new calls at once; resolves when every started call has been answered (forced after `graceMs`). */
  shutdown(graceMs: number): Promise<void>
}

function bind(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)))
  })
}

export async function startGrpcServer(config: Config, intake: Intake, log: Logger, options: GrpcServerOptions): Promise<GrpcServer> {
  const refusals = { [INGEST_METHOD_PATH]: statusFor, [OTLP_EXPORT_PATH]: otlpStatusFor }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.grpc.maxRequestBytes,
    'grpc.max_concurrent_streams': config.grpc.maxConcurrentStreams,
    // Channelz keeps per-call statistics nobody here reads, at a cost per call (README, ingest).
    'grpc.enable_channelz': 0,
    // The first sees a call's metadata first: a key is checked before any room is taken for the request.
    interceptors: [authInterceptor(options.authenticator, 'ingest', refusals, log), budgetInterceptor(intake, config.grpc.maxRequestBytes, refusals, log)],
  })
  server.addService(ingestService, ingestHandlers(intake, options.limits, config, log, options.metrics))
  server.addService(otlpLogsService, otlpHandlers(intake, options.limits, { sendTimeoutMs: config.ingest.sendTimeoutMs, log, metrics: options.metrics }))
  // Reflection describes the health service too, so `grpcurl … grpc.health.v1.Health/Check` needs no proto file.
  new ReflectionService({ ...reflectionDefinition(), ...protoLoader.loadSync(healthProtoPath, { keepCase: true }) }).addToServer(server)
  const health = new HealthImplementation({ '': 'SERVING', [INGEST_SERVICE_NAME]: 'SERVING', [OTLP_LOGS_SERVICE_NAME]: 'SERVING' })
  health.addToServer(server)

  const { host } = config.grpc
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }], false)
    : grpc.ServerCredentials.createInsecure()
  const port = await bind(server, host, config.grpc.port, credentials)
  const otlpPort = await bind(server, host, config.grpc.otlpPort, credentials)
  log.info('ingest.listening', {
    address: `${host}:${port}`,
    otlpAddress: `${host}:${otlpPort}`,
    tls: options.tls !== undefined,
    topic: config.kafka.topic,
    maxRequestBytes: config.grpc.maxRequestBytes,
    maxConcurrentStreams: config.grpc.maxConcurrentStreams,
    ...config.ingest,
  })

  return {
    port,
    otlpPort,
    async shutdown(graceMs) {
      for (const service of ['', INGEST_SERVICE_NAME, OTLP_LOGS_SERVICE_NAME]) health.setStatus(service, 'NOT_SERVING')
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
      const forced = setTimeout(() => server.forceShutdown(), graceMs)
      await drained
      clearTimeout(forced)
    },
  }
}
