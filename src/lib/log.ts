/** The services' own logs: one JSON object per line on stdout, with a level, so any collector can parse them. */
export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type LogLevel = keyof typeof LogLevels

export type LogFields = Record<string, unknown>

export interface Logger {
  debug(event: string, fields?: LogFields): void
  info(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  error(event: string, fields?: LogFields): void
  child(fields: LogFields): Logger
}

export interface LoggerOptions {
  level?: LogLevel
  write?: (line: string) => void
}

function errorFields(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  const { code, retryable } = error as { code?: unknown; retryable?: unknown }
  return { name: error.name, message: error.message, code, retryable }
}

function serialise(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) return errorFields(value)
  return value
}

export function createLogger(base: LogFields, options: LoggerOptions = {}): Logger {
  const threshold = LogLevels[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))

  const emit = (level: LogLevel, event: string, fields?: LogFields) => {
    if (LogLevels[level] < threshold) return
    const record = { time: new Date().toISOString(), level, ...base, event, ...fields }
    write(JSON.stringify(record, (_key, value) => serialise(value)))
  }

  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  }
}
