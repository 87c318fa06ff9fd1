import * as grpc from '@grpc/grpc-js'
import type { Scope } from './auth/api-key.ts'
import { keyFromAuthorization } from './auth/credentials.ts'
import type { Authenticator, Caller } from './auth/key-ring.ts'
import { UnauthenticatedError } from './errors.ts'
import { type RefusalStatus, stopReceiving } from './grpc-budget.ts'
import { hostOf } from './host-port.ts'
import type { Logger } from './log.ts'

/**
 * API keys on gRPC: the `authorization` metadata (`Bearer KEY`, or Basic with the key as the password) of
 * each call to a method in `refusals`, checked before its request is read. A refused call is answered at
 * once (UNAUTHENTICATED, PERMISSION_DENIED, or RESOURCE_EXHAUSTED for an address that failed too often,
 * rendered as `refusals` says for its method) and its stream reset. The key is removed from the metadata
 * the handler sees; the handler finds who called with callerOf. Other methods (health, reflection) stay open.
 */

const callers = new WeakMap<grpc.Metadata, Caller>()

/** Who made the call whose request metadata this is; UnauthenticatedError when no authInterceptor vouched for it. */
export function callerOf(metadata: grpc.Metadata): Caller {
  const caller = callers.get(metadata)
  if (!caller) throw new UnauthenticatedError()
  return caller
}

export function authInterceptor(authenticator: Authenticator, scope: Scope, refusals: Record<string, RefusalStatus>, log: Logger): grpc.ServerInterceptor {
  return (method, call) => {
    const refusal = refusals[method.path]
    if (!refusal) return new grpc.ServerInterceptingCall(call)
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const [header] = metadata.get('authorization')
            metadata.remove('authorization')
            const peer = hostOf(call.getPeer())
            let caller: Caller
            try {
              caller = authenticator.authenticate(keyFromAuthorization(typeof header === 'string' ? header : undefined), scope, peer)
            } catch (error) {
              const status = refusal(error)
              log.warn('ingest.unauthorized', { code: status.metadata?.get('logstream-error-code')[0], detail: status.details, peer, method: method.path })
              call.sendStatus(status)
              stopReceiving(call)
              return
            }
            callers.set(metadata, caller)
            nextMetadata(metadata)
          },
        })
      },
    })
  }
}
