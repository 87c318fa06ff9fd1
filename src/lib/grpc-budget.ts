import type { ServerHttp2Stream } from 'node:http2'
import * as http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import type { LogStreamError } from './errors.ts'
import type { Intake } from './intake.ts'
import type { Reservation } from './intake-budget.ts'
import type { Logger } from './log.ts'

/**
 * Resets the HTTP/2 stream of a call answered before its request was read (RST_STREAM NO_ERROR, as HTTP/2
 * allows after a complete response), so the client stops sending a body nobody will read. Without it a
 * refused client still sent its whole request, and reading and dropping those bytes made as much garbage as
 * accepting them (README, ingest).
 * grpc-js gives interceptors no handle for this, so the stream is taken from its base call.
 */
export function stopReceiving(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream
  if (stream && !stream.destroyed && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR)
}

/** True once the call's client has gone: its stream is closed, or grpc-js cancelled the call (deadline, reset). */
function isGone(call: grpc.ServerInterceptingCallInterface): boolean {
  const base = call as unknown as { cancelled?: boolean; stream?: ServerHttp2Stream }
  return base.cancelled === true || base.stream?.destroyed === true || base.stream?.closed === true
}

/** A budgeted method: how its refusal is rendered, since protocols differ in what their clients retry. */
export type RefusalStatus = (error: unknown) => grpc.StatusObject

/**
 * Holds room in the intake's byte budget for each intake call (the methods in `refusals`) from before its body is read until it is
 * answered. grpc-js reads a call's body only once the handler has its metadata (the HTTP/2 stream is paused
 * until then), so a call waits for room without costing memory, and one that finds none within
 * RESERVE_WAIT_MS is refused (RESOURCE_EXHAUSTED, or what `refusals` says for its method) before its bytes
 * are buffered. Room is taken when the metadata arrives, after the interceptors before this one (API keys)
 * let it through, so a refused key never holds any. The size is unknown until the message has arrived, so
 * the call first holds the largest allowed request, then only its actual size.
 */
export function budgetInterceptor(intake: Intake, maxRequestBytes: number, refusals: Record<string, RefusalStatus>, log: Logger): grpc.ServerInterceptor {
  return (method, call) => {
    const refusal = refusals[method.path]
    if (!refusal) return new grpc.ServerInterceptingCall(call)
    let reservation: Reservation | undefined
    const release = () => reservation?.release()
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            intake.reserve(maxRequestBytes).then(
              (granted) => {
                // The client may have gone (cancelled, deadline) while the call waited for room.
                if (isGone(call)) return granted.release()
                reservation = granted
                nextMetadata(metadata)
              },
              (error: unknown) => {
                if (isGone(call)) return
                const status = refusal(error)
                log.warn('ingest.refused', { code: (error as LogStreamError).code, detail: status.details })
                call.sendStatus(status)
                stopReceiving(call)
              },
            )
          },
          onReceiveMessage(message: { bytes: number }, nextMessage) {
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
      sendStatus(status, next) {
        release()
        next(status)
      },
    })
  }
}
