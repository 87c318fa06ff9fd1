/**
 * A real `bun src/query.ts` process for the query benchmark: on loopback, on a free port (read from its
 * `query.listening` log line), against `databaseUrl`, with the service's defaults otherwise (pool of
 * DB_POOL_MAX 25, QUERY_TIMEOUT_MS 10 s). Its own process, so its RSS can be read from /proc and the load
 * generator does not share its event loop.
 */
export interface QueryServer {
  pid: number
  origin: string
  /** Log lines at level error the service wrote so far (e.g. query.failed), by event: how many, and the first one's `error`. */
  errorEvents(): Record<string, { count: number; first: string }>
  stop(): Promise<number>
}

export async function startQueryServer(databaseUrl: string, env: Record<string, string> = {}): Promise<QueryServer> {
  const child = Bun.spawn([process.execPath, new URL('../src/query.ts', import.meta.url).pathname], {
    env: { ...process.env, DATABASE_URL: databaseUrl, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const reader = child.stdout.getReader()
  // A service that never says it listens is killed, so the read below ends instead of waiting for ever.
  const startup = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const decoder = new TextDecoder()
  let buffered = ''
  let port: string | undefined
  try {
    while (port === undefined) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`query exited before listening: ${buffered}`)
      buffered += decoder.decode(value, { stream: true })
      port = /"event":"query\.listening".*?"port":(\d+)/.exec(buffered)?.[1]
    }
  } finally {
    clearTimeout(startup)
  }
  const errors: Record<string, { count: number; first: string }> = {}
  // Keep draining its stdout (so it never blocks on a full pipe), counting error lines.
  void (async () => {
    let rest = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      const lines = (rest + decoder.decode(value, { stream: true })).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.includes('"level":"error"')) continue
        const event = /"event":"([^"]*)"/.exec(line)?.[1] ?? 'unknown'
        const seen = errors[event]
        if (seen) seen.count += 1
        else errors[event] = { count: 1, first: JSON.stringify((JSON.parse(line) as { error?: unknown }).error ?? line).slice(0, 300) }
      }
    }
  })()
  return {
    pid: child.pid,
    origin: `http://127.0.0.1:${port}`,
    errorEvents: () => ({ ...errors }),
    async stop() {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      try {
        return await child.exited
      } finally {
        clearTimeout(killer)
      }
    },
  }
}
