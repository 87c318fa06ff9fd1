import type { ServerHttp2Stream } from 'node:http2'
import * as http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check'
import type { Config } from './config.ts'
import { LogStreamError } from './errors.ts'
import { createIntake, type Intake, NoValidLogsError } from './intake.ts'
import type { Reservation } from './intake-budget.ts'
import type { Logger } from './log.ts'
import { createLogProducer, type LogProducer } from './producer.ts'
import {
  ERROR_CODE_METADATA,
  encodeIngestResponse,
  INGEST_METHOD_PATH,
  INGEST_SERVICE_NAME,
  type IngestResponse,
  ingestService,
  RESPONSE_TRAILER,
  type ReceivedRequest,
  reflectionDefinition,
} from './proto.ts'

/**
 * The gRPC transport of the intake: logstream.LogIngestion/Ingest decoded into intake entries, the
 * intake's answer or typed error rendered as a gRPC status. Also serves gRPC reflection and the standard
 * health service.
 */

export interface GrpcIngest {
  /** The port actually bound (useful with port 0). */
  port: number
  /** Stops taking calls, flushes and awaits every in-flight batch, answers their callers, closes the producer. */
  close(): Promise<void>
}

export interface GrpcIngestOptions {
  log: Logger
  /** Defaults to a producer for `config.kafka`. */
  producer?: LogProducer
}

/** Time kept back from the client's deadline so our UNAVAILABLE reaches it before it gives up. */
const DEADLINE_MARGIN_MS = 50

/** A gRPC status for any error: ours carry their status and stable code; anything else is INTERNAL. */
export function statusFor(error: unknown): grpc.StatusObject {
  const metadata = new grpc.Metadata()
  if (!(error instanceof LogStreamError)) {
    metadata.set(ERROR_CODE_METADATA, 'INTERNAL')
    return { code: grpc.status.INTERNAL, details: `internal error: ${(error as Error)?.message ?? String(error)}`, metadata }
  }
  metadata.set(ERROR_CODE_METADATA, error.code)
  // A request refused for having no valid entry still describes every entry, in a binary trailer.
  if (error instanceof NoValidLogsError) metadata.set(RESPONSE_TRAILER, encodeIngestResponse(error.response))
  return { code: error.grpcStatus as number as grpc.status, details: error.message, metadata }
}

function waitLimitMs(call: grpc.ServerUnaryCall<unknown, unknown>, sendTimeoutMs: number): number {
  const deadline = call.getDeadline()
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  if (!Number.isFinite(at)) return sendTimeoutMs
  return Math.max(1, Math.min(sendTimeoutMs, at - Date.now() - DEADLINE_MARGIN_MS))
}

/**
 * Resets the HTTP/2 stream of a call answered before its request was read (RST_STREAM NO_ERROR, as HTTP/2
 * allows after a complete response), so the client stops sending a body nobody will read. Without it a
 * refused client still sent its whole request, and reading and dropping those bytes made as much garbage as
 * accepting them (README, ingest).
 * grpc-js gives interceptors no handle for this, so the stream is taken from its base call.
 */
function stopReceiving(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream
  if (stream && !stream.destroyed && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR)
}

/** True once the call's client has gone: its stream is closed, or grpc-js cancelled the call (deadline, reset). */
function isGone(call: grpc.ServerInterceptingCallInterface): boolean {
  const base = call as unknown as { cancelled?: boolean; stream?: ServerHttp2Stream }
  return base.cancelled === true || base.stream?.destroyed === true || base.stream?.closed === true
}

/**
 * Holds room in the intake's byte budget for each Ingest call from before its body is read until it is
 * answered. grpc-js reads a call's body only once the handler starts (the HTTP/2 stream is paused until
 * then), so a call waits for room without costing memory, and one that finds none within RESERVE_WAIT_MS
 * is refused with RESOURCE_EXHAUSTED before its bytes are buffered.
 * The size is unknown until the message has arrived, so the call first holds the largest allowed request,
 * then only its actual size.
 */
function budgetInterceptor(intake: Intake, maxRequestBytes: number, log: Logger): grpc.ServerInterceptor {
  return (method, call) => {
    if (method.path !== INGEST_METHOD_PATH) return new grpc.ServerInterceptingCall(call)
    let reservation: Reservation | undefined
    const release = () => reservation?.release()
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        intake.reserve(maxRequestBytes).then(
          (granted) => {
            // The client may have gone (cancelled, deadline) while the call waited for room.
            if (isGone(call)) return granted.release()
            reservation = granted
            next({
              onReceiveMessage(message: ReceivedRequest, nextMessage) {
                reservation?.resize(message.bytes)
                nextMessage(message)
              },
              // Also the end of a call grpc-js itself refused, e.g. one over GRPC_MAX_REQUEST_BYTES.
              onCancel() {
                release()
                stopReceiving(call)
              },
            })
          },
          (error: unknown) => {
            if (isGone(call)) return
            const status = statusFor(error)
            log.warn('ingest.refused', { code: (error as LogStreamError).code, detail: status.details })
            call.sendStatus(status)
            stopReceiving(call)
          },
        )
      },
      sendStatus(status, next) {
        release()
        next(status)
      },
    })
  }
}

export async function startGrpcIngest(config: Config, options: GrpcIngestOptions): Promise<GrpcIngest> {
  const { log } = options
  const producer = options.producer ?? createLogProducer({ kafka: config.kafka, sendTimeoutMs: config.ingest.sendTimeoutMs })
  const intake = createIntake(config, { producer, log })

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.grpc.maxRequestBytes,
    'grpc.max_concurrent_streams': config.grpc.maxConcurrentStreams,
    // Channelz keeps per-call statistics nobody here reads, at a cost per call (README, ingest).
    'grpc.enable_channelz': 0,
    interceptors: [budgetInterceptor(intake, config.grpc.maxRequestBytes, log)],
  })
  server.addService(ingestService, {
    Ingest: (call: grpc.ServerUnaryCall<ReceivedRequest, IngestResponse>, callback: grpc.sendUnaryData<IngestResponse>) => {
      const controller = new AbortController()
      const onCancel = () => controller.abort(new Error('the client cancelled the call'))
      call.once('cancelled', onCancel)
      intake
        .accept(call.request.logs, { timeoutMs: waitLimitMs(call, config.ingest.sendTimeoutMs), signal: controller.signal })
        .then(
          (response) => callback(null, response),
          (error: unknown) => {
            if (call.cancelled) return
            const status = statusFor(error)
            if (status.code === grpc.status.INTERNAL) log.error('ingest.failed', { error })
            else if (status.code !== grpc.status.INVALID_ARGUMENT) log.warn('ingest.refused', { code: (error as LogStreamError).code, detail: status.details })
            callback({ code: status.code, details: status.details, metadata: status.metadata ?? undefined })
          },
        )
        .finally(() => call.removeListener('cancelled', onCancel))
    },
  })
  // Reflection describes the health service too, so `grpcurl … grpc.health.v1.Health/Check` needs no proto file.
  new ReflectionService({ ...reflectionDefinition(), ...protoLoader.loadSync(healthProtoPath, { keepCase: true }) }).addToServer(server)
  const health = new HealthImplementation({ '': 'SERVING', [INGEST_SERVICE_NAME]: 'SERVING' })
  health.addToServer(server)

  const address = `${config.grpc.host}:${config.grpc.port}`
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)))
  })
  log.info('ingest.listening', {
    address: `${config.grpc.host}:${port}`,
    topic: config.kafka.topic,
    maxRequestBytes: config.grpc.maxRequestBytes,
    maxConcurrentStreams: config.grpc.maxConcurrentStreams,
    ...config.ingest,
  })

  let closing: Promise<void> | undefined
  return {
    port,
    close() {
      closing ??= (async () => {
        health.setStatus('', 'NOT_SERVING')
        health.setStatus(INGEST_SERVICE_NAME, 'NOT_SERVING')
        // tryShutdown refuses new calls at once and resolves when every started call has been answered.
        const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
        const { queuedItems, inFlight } = intake.stats
        log.info('ingest.draining', { queuedItems, inFlight })
        await intake.close()
        const forced = setTimeout(() => server.forceShutdown(), config.ingest.sendTimeoutMs)
        await drained
        clearTimeout(forced)
        await producer.close()
      })()
      return closing
    },
  }
}
