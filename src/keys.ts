/**
 * `bun run keys`: creates, lists, revokes and limits the API keys every LogStream service checks
 * (LOGSTREAM_AUTH=required). Works on the database DATABASE_URL names, creating it and applying schema.sql
 * first. Exit code 0 on success, 1 when it failed (no such key, database unreachable), 2 for a usage error
 * (including a name a live key already has).
 */
import { type Scope, Scopes } from './lib/auth/api-key.ts'
import { createKey, type KeyInfo, type KeyLimits, LimitRanges, listKeys, revokeKey, setLimits } from './lib/auth/key-store.ts'
import { type Fail, parseCommandLine, usageFailure } from './lib/command-line.ts'
import { loadConfig } from './lib/config.ts'
import { applySchema, connect, ensureDatabase, type Sql } from './lib/db.ts'
import { asLogStreamError, ErrorCodes } from './lib/errors.ts'

const usage = `usage: bun run keys COMMAND [options]

commands:
  create --name NAME --scope ingest|read|admin [--entries-per-second N] [--bytes-per-second N]
                     create a key; it is printed once, alone on the last line, and only its hash is stored
  list [--json]      every key: name, scope, id, created, last used, revoked, limits (never the key)
  revoke NAME        revoke the live key NAME; services refuse it within AUTH_REFRESH_MS (2 s by default)
  limit NAME [--entries-per-second N|default] [--bytes-per-second N|default]
                     set a key's own limits, or return them to the defaults (AUTH_ENTRIES_PER_SECOND, AUTH_BYTES_PER_SECOND)

scopes: ingest (write logs through every intake), read (query API, tail, explorer, /metrics), admin (everything)
The database is DATABASE_URL (default postgres://postgres@127.0.0.1:5432/logstream).

options:
  -h, --help         show this help
`

const fail: Fail = usageFailure('keys', usage)

const { values, positionals } = parseCommandLine(
  {
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scope: { type: 'string' },
      'entries-per-second': { type: 'string' },
      'bytes-per-second': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  usage,
  fail,
)

/** A limit flag: a whole number (checked against its range by the key store), "default" (null) when allowed, or absent. */
function limit(which: keyof typeof LimitRanges, allowDefault: boolean): number | null | undefined {
  const flag = LimitRanges[which].flag
  const value = values[flag]
  if (value === undefined) return undefined
  if (allowDefault && value === 'default') return null
  if (!/^\d+$/.test(value)) fail(`--${flag} must be a whole number${allowDefault ? ' or "default"' : ''}, got "${value}"`)
  return Number(value)
}

/** Only the options `allowed` may be given to this command. */
function only(command: string, allowed: readonly string[]): void {
  const extra = Object.keys(values).filter((option) => !allowed.includes(option))
  if (extra.length > 0) fail(`${command} takes no --${extra[0]}`)
}

const [command, ...args] = positionals
type Run = (sql: Sql) => Promise<void>

const time = (date: Date | null) => (date === null ? '-' : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`)
const rate = (value: number | null) => (value === null ? 'default' : String(value))

function table(keys: readonly KeyInfo[]): string {
  if (keys.length === 0) return 'no keys yet: bun run keys create --name NAME --scope ingest|read|admin\n'
  const rows = [
    ['NAME', 'SCOPE', 'ID', 'CREATED', 'LAST USED', 'REVOKED', 'ENTRIES/S', 'BYTES/S'],
    ...keys.map((key) => [
      key.name,
      key.scope,
      key.id,
      time(key.createdAt),
      time(key.lastUsedAt),
      time(key.revokedAt),
      rate(key.entriesPerSecond),
      rate(key.bytesPerSecond),
    ]),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('')
}

function commandFor(): Run {
  switch (command) {
    case 'create': {
      only('create', ['name', 'scope', 'entries-per-second', 'bytes-per-second'])
      if (args.length > 0) fail(`create takes no arguments, got "${args[0]}" (the name goes in --name)`)
      if (values.name === undefined) fail('create needs --name NAME')
      if (values.scope === undefined) fail(`create needs --scope ${Scopes.join('|')}`)
      if (!(Scopes as readonly string[]).includes(values.scope)) fail(`--scope must be one of ${Scopes.join(', ')}, got "${values.scope}"`)
      const input = {
        name: values.name,
        scope: values.scope as Scope,
        entriesPerSecond: limit('entriesPerSecond', false) ?? undefined,
        bytesPerSecond: limit('bytesPerSecond', false) ?? undefined,
      }
      return async (sql) => {
        const { key, record } = await createKey(sql, input)
        process.stdout.write(
          `Created key "${record.name}" (scope ${record.scope}, id ${record.id}). It is shown once: store it now.\n` +
            'Only its SHA-256 is kept, so it cannot be shown again; if it is lost, revoke it and create another.\n' +
            `${key}\n`,
        )
      }
    }
    case 'list':
      only('list', ['json'])
      if (args.length > 0) fail(`list takes no arguments, got "${args[0]}"`)
      return async (sql) => {
        const keys = await listKeys(sql)
        process.stdout.write(values.json ? `${JSON.stringify(keys)}\n` : table(keys))
      }
    case 'revoke': {
      only('revoke', [])
      if (args.length !== 1) fail('revoke needs exactly one NAME')
      const name = args[0]!
      return async (sql) => {
        const revoked = await revokeKey(sql, name)
        process.stdout.write(`Revoked key "${revoked.name}" (id ${revoked.id}); every service refuses it within AUTH_REFRESH_MS (2 s by default).\n`)
      }
    }
    case 'limit': {
      only('limit', ['entries-per-second', 'bytes-per-second'])
      if (args.length !== 1) fail('limit needs exactly one NAME')
      const name = args[0]!
      const limits: KeyLimits = { entriesPerSecond: limit('entriesPerSecond', true), bytesPerSecond: limit('bytesPerSecond', true) }
      if (limits.entriesPerSecond === undefined && limits.bytesPerSecond === undefined) fail('limit needs --entries-per-second, --bytes-per-second or both')
      return async (sql) => {
        const key = await setLimits(sql, name, limits)
        process.stdout.write(
          `Key "${key.name}": ${rate(key.entriesPerSecond)} entries/s, ${rate(key.bytesPerSecond)} bytes/s; services apply it within AUTH_REFRESH_MS.\n`,
        )
      }
    }
    default:
      fail(command === undefined ? 'no command given' : `unknown command "${command}"`)
  }
}

const run = commandFor()
let databaseUrl: string
try {
  databaseUrl = loadConfig().databaseUrl
} catch (error) {
  process.stderr.write(`keys: ${(error as Error).message}\n`)
  process.exit(2)
}

let code = 0
const sql = connect(databaseUrl, { max: 1 })
try {
  await ensureDatabase(databaseUrl)
  await applySchema(sql)
  await run(sql)
} catch (error) {
  const failure = asLogStreamError(error)
  // An unexpected error's message is hidden from HTTP clients, not from the operator at this terminal.
  process.stderr.write(`keys: ${failure.code === ErrorCodes.INTERNAL ? (error as Error).message : failure.message}\n`)
  code = failure.code === ErrorCodes.QUERY_INVALID ? 2 : 1
} finally {
  await sql.end({ timeout: 5 })
}
process.exit(code)
