import type { Logger } from './log.ts'

/**
 * Runs `shutdown` once on the first SIGTERM or SIGINT, then exits 0 (1 if shutdown failed).
 * A second signal while shutting down exits at once with 130, for an operator who cannot wait.
 */
export function handleSignals(log: Logger, shutdown: () => Promise<void>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('shutdown.forced', { signal })
      process.exit(130)
    }
    stopping = true
    log.info('shutdown.begin', { signal })
    const began = performance.now()
    shutdown().then(
      () => {
        log.info('shutdown.done', { ms: Math.round(performance.now() - began) })
        process.exit(0)
      },
      (error: unknown) => {
        log.error('shutdown.failed', { error })
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

/** Logs a start-up failure (bad config, unreachable dependency) as one structured line and exits 1. */
export function exitOnStartupError(log: Logger, error: unknown): never {
  log.error('startup.failed', { error })
  process.exit(1)
}
