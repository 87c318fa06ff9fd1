/**
 * The one timeout helper: settles like `promise`, or rejects with `onTimeout()` after `ms`. The timer is
 * always cleared, and a promise that loses the race has its later rejection handled, so it never surfaces
 * as an unhandled rejection.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  promise.catch(() => {})
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
