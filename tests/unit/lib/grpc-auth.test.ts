import { describe, expect, test } from 'bun:test'
import * as grpc from '@grpc/grpc-js'
import { IngestOverloadedError, RateLimitedError, RequestInvalidError, UnauthenticatedError } from '../../../src/lib/errors.ts'
import { callerOf } from '../../../src/lib/grpc-auth.ts'
import { otlpStatusFor } from '../../../src/lib/grpc-otlp.ts'
import { statusFor } from '../../../src/lib/grpc-status.ts'
import { RetryInfoType, RpcStatusType } from '../../../src/lib/proto.ts'
import { retryDelayMs, retryHeaders } from '../../../src/lib/retry-after.ts'

/** The pure parts of keys and rate limits on the intake: peers, callers, and how a wait is told to clients. */

/** The code and delay (ms) of the google.rpc.Status in a status's grpc-status-details-bin. */
function retryInfo(status: grpc.StatusObject): { code: number; delayMs: number } | undefined {
  const [details] = status.metadata.get('grpc-status-details-bin') as Buffer[]
  if (!details) return undefined
  const decoded = RpcStatusType.toObject(RpcStatusType.decode(details)) as { code: number; details: { value: Uint8Array }[] }
  const { retryDelay } = RetryInfoType.toObject(RetryInfoType.decode(decoded.details[0]!.value), { longs: Number }) as {
    retryDelay: { seconds?: number; nanos?: number }
  }
  return { code: decoded.code, delayMs: (retryDelay.seconds ?? 0) * 1000 + (retryDelay.nanos ?? 0) / 1e6 }
}

test('callerOf: metadata no interceptor vouched for is unauthenticated, never open', () => {
  expect(() => callerOf(new grpc.Metadata())).toThrow(UnauthenticatedError)
})

describe('how long to wait', () => {
  test("a rate limit's own wait; 2 s for other retryable failures; none for the rest", () => {
    expect(retryDelayMs(new RateLimitedError('slow down', 1234))).toBe(1234)
    expect(retryDelayMs(new IngestOverloadedError('busy'))).toBe(2000)
    expect(retryDelayMs(new RequestInvalidError('bad'))).toBeUndefined()
  })

  test('Retry-After is whole seconds rounded up, at least 1', () => {
    expect(retryHeaders(new RateLimitedError('x', 1))).toEqual({ 'retry-after': '1' })
    expect(retryHeaders(new RateLimitedError('x', 1001))).toEqual({ 'retry-after': '2' })
    expect(retryHeaders(new UnauthenticatedError())).toEqual({})
  })

  test('native gRPC: RESOURCE_EXHAUSTED with a RetryInfo of the exact wait; OTLP: UNAVAILABLE with the same', () => {
    const limited = new RateLimitedError('over the limit', 1250)
    const native = statusFor(limited)
    expect(native.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    expect(native.metadata.get('logstream-error-code')).toEqual(['RATE_LIMITED'])
    expect(retryInfo(native)).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, delayMs: 1250 })
    const otlp = otlpStatusFor(limited)
    expect(otlp.code).toBe(grpc.status.UNAVAILABLE)
    expect(retryInfo(otlp)).toEqual({ code: grpc.status.UNAVAILABLE, delayMs: 1250 })
  })

  test('refusals retrying cannot fix carry no RetryInfo', () => {
    for (const error of [new UnauthenticatedError(), new RequestInvalidError('bad')]) {
      expect(retryInfo(statusFor(error))).toBeUndefined()
      expect(retryInfo(otlpStatusFor(error))).toBeUndefined()
    }
    expect(otlpStatusFor(new UnauthenticatedError()).code).toBe(grpc.status.UNAUTHENTICATED)
  })
})
