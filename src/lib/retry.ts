import { LogStreamError } from './errors.ts'

/** The one backoff of the project: consumer, log writer and sender all wait with it between attempts. */
export interface Backoff {
  minMs: number
  maxMs: number
}

/**
 * Exponential backoff with jitter, capped: attempt 0 waits about `minMs`, each later one up to twice as
 * long, never past `maxMs`. The jitter (50–100 % of the ceiling) keeps many clients that failed together
 * from retrying together.
 */
export function backoffMs(attempt: number, { minMs, maxMs }: Backoff): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return Math.max(minMs, Math.round(ceiling * (0.5 + Math.random() * 0.5)))
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    signal?.addEventListener('abort', done, { once: true })
  })
}

export interface RetryOptions extends Backoff {
  /** Attempts in all, the first included; unbounded by default. */
  attempts?: number
  /** Whether a failure may be tried again; by default a LogStreamError that says it is retryable. */
  retryable?: (error: unknown) => boolean
  /** Once aborted, no new attempt starts and the last failure is thrown. */
  signal?: AbortSignal
  /** Called before each wait, to log or to update a state. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void
}

export const isRetryable = (error: unknown): boolean => error instanceof LogStreamError && error.retryable

/**
 * Runs `operation` until it succeeds, waiting `backoffMs` between attempts. Throws the failure as it is
 * when it is not retryable, when the attempts are used up, or when `signal` has aborted.
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts = Number.POSITIVE_INFINITY, retryable = isRetryable, signal, onRetry } = options
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt)
    } catch (error) {
      if (!retryable(error) || attempt + 1 >= attempts || signal?.aborted) throw error
      const delay = backoffMs(attempt, options)
      onRetry?.(error, attempt + 1, delay)
      await sleep(delay, signal)
      if (signal?.aborted) throw error
    }
  }
}
