import { pinoLoki } from 'pino-loki'

type PinoLokiOptions = Parameters<typeof pinoLoki>[0]
type PinoLokiStream = ReturnType<typeof pinoLoki>

/**
 * Runs `write` against a pino-loki stream made with `options` in this process, then closes the stream, which
 * pushes what is still batched. Returns what pino-loki reported on console.error, its only channel for a
 * failed push: a test expects it empty.
 */
export async function throughPinoLoki(options: PinoLokiOptions, write: (stream: PinoLokiStream) => void): Promise<unknown[]> {
  const failures: unknown[] = []
  const originalError = console.error
  console.error = (...args: unknown[]) => failures.push(args)
  try {
    const stream = pinoLoki(options)
    write(stream)
    await new Promise((resolve) => {
      stream.on('close', resolve)
      stream.end()
    })
    return failures
  } finally {
    console.error = originalError
  }
}
