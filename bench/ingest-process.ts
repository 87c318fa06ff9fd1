/**
 * A real `bun src/ingest.ts` process for benchmarks: on loopback, every listener on a free port (the
 * addresses it reports listening on are read from its log), with `env` on top (e.g. its topic).
 */
export interface IngestProcess {
  pid: number
  grpc: string
  otlp: string
  http: string
  stop(): Promise<number>
}

const BENCH_ENV = { GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', OTLP_GRPC_PORT: '0', INGEST_HTTP_PORT: '0', LOG_LEVEL: 'info' }

export async function startIngestProcess(env: Record<string, string>): Promise<IngestProcess> {
  const child = Bun.spawn([process.execPath, new URL('../src/ingest.ts', import.meta.url).pathname], {
    env: { ...process.env, ...BENCH_ENV, ...env },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const reader = child.stdout.getReader()
  // A service that never says it listens is killed, so the read below ends instead of waiting for ever.
  const startup = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const decoder = new TextDecoder()
  let buffered = ''
  let grpcLine: RegExpMatchArray | null = null
  let httpLine: RegExpMatchArray | null = null
  while (!grpcLine || !httpLine) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`ingest exited before listening: ${buffered}`)
    buffered += decoder.decode(value, { stream: true })
    grpcLine = buffered.match(/"event":"ingest\.listening","address":"([^"]*)","otlpAddress":"([^"]*)"/)
    httpLine = buffered.match(/"event":"ingest\.http\.listening","address":"([^"]*)"/)
  }
  clearTimeout(startup)
  // Keep draining its stdout so the service never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done);
  })()
  return {
    pid: child.pid,
    grpc: grpcLine[1]!,
    otlp: grpcLine[2]!,
    http: httpLine[1]!,
    async stop() {
      child.kill('SIGTERM')
      return child.exited
    },
  }
}
