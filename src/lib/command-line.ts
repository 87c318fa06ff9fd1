import { type ParseArgsConfig, parseArgs } from 'node:util'

/** Ends a command-line tool with a usage error. Callers annotate it (`const fail: Fail`) so that TypeScript narrows after a call. */
export type Fail = (message: string) => never

/** A usage error for tool `name`: `name: message` and the usage on stderr, exit code 2. */
export function usageFailure(name: string, usage: string): Fail {
  return (message) => {
    process.stderr.write(`${name}: ${message}\n\n${usage}`)
    process.exit(2)
  }
}

/**
 * The arguments of a command-line tool (`bun run send`, `bun run keys`): anything parseArgs refuses is a
 * usage error; a `help` option given prints `usage` and exits 0.
 */
export function parseCommandLine<const T extends ParseArgsConfig>(config: T, usage: string, fail: Fail): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>
  try {
    parsed = parseArgs(config)
  } catch (error) {
    return fail((error as Error).message)
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage)
    process.exit(0)
  }
  return parsed
}
