import { resolve } from 'node:path'
import type { Subprocess } from 'bun'

/** Spawns LogStream's services as child processes: used by `npm start`, end-to-end tests and benchmarks. */
export const serviceNames = ['ingest', 'consume', 'query'] as const
export type ServiceName = (typeof serviceNames)[number]

const repoRoot = resolve(import.meta.dir, '..')

export interface SpawnOptions {
  env?: Record<string, string>
  /** Called with each line the service prints (stdout and stderr). Output is discarded without it. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
}

export interface Service {
  name: ServiceName
  pid: number
  exited: Promise<number>
  /** null while the service runs. */
  readonly exitCode: number | null
  /** Sends SIGTERM (or `signal`) and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>
}

/** Calls `onLine` for each line of a byte stream (a child's stdout), the last one even without a newline. */
export async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder()
  let pending = ''
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true })
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) onLine(line)
  }
  if (pending) onLine(pending)
}

export function spawnService(name: ServiceName, options: SpawnOptions = {}): Service {
  const child: Subprocess<'ignore', 'pipe', 'pipe'> = Bun.spawn([process.execPath, `src/${name}.ts`], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    // Its own process group: a terminal's Ctrl-C reaches only the parent, which then sends exactly one
    // SIGTERM. (A service treats a second signal as "stop now".)
    detached: true,
  })
  const onLine = options.onLine ?? (() => {})
  void forEachLine(child.stdout, (line) => onLine(line, 'stdout'))
  void forEachLine(child.stderr, (line) => onLine(line, 'stderr'))
  return {
    name,
    pid: child.pid,
    exited: child.exited,
    get exitCode() {
      return child.exitCode
    },
    stop: (signal = 'SIGTERM') => {
      child.kill(signal)
      return child.exited
    },
  }
}

/** A port nothing listens on right now, for services that must be told their port up front. */
export function freePort(): number {
  const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = server
  server.stop(true)
  return port
}
