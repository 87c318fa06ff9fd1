/**
 * `npm start`: the whole stack in the foreground. Starts Kafka and PostgreSQL if they are not running,
 * creates topics and schema, then runs ingest, consume and query with prefixed output. Ctrl-C (or SIGTERM)
 * stops the services gracefully, then whatever infrastructure this run started.
 */
import type { Subprocess } from 'bun'
import { infraDown, infraUp } from './infra.ts'

const services = ['ingest', 'consume', 'query'] as const
const colours = { ingest: 36, consume: 35, query: 33 } as const

async function pipeWithPrefix(stream: ReadableStream<Uint8Array>, name: (typeof services)[number], out: NodeJS.WriteStream) {
  const prefix = `\x1b[${colours[name]}m${name.padEnd(7)}|\x1b[0m `
  let pending = ''
  const decoder = new TextDecoder()
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true })
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) out.write(prefix + line + '\n')
  }
  if (pending) out.write(prefix + pending + '\n')
}

const started = await infraUp()
const children = new Map<string, Subprocess<'ignore', 'pipe', 'pipe'>>()
for (const name of services) {
  const child = Bun.spawn([process.execPath, `src/${name}.ts`], { cwd: `${import.meta.dir}/..`, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  children.set(name, child)
  void pipeWithPrefix(child.stdout, name, process.stdout)
  void pipeWithPrefix(child.stderr, name, process.stderr)
}

let stopping = false
async function stopAll(code: number): Promise<never> {
  stopping = true
  for (const child of children.values()) child.kill('SIGTERM')
  const codes = await Promise.all([...children.values()].map((child) => child.exited))
  await infraDown(started)
  process.exit(codes.every((exit) => exit === 0) ? code : 1)
}

// Ctrl-C reaches the services too (same process group); forwarding SIGTERM as well covers `kill <pid>`.
process.on('SIGINT', () => void (stopping || stopAll(0)))
process.on('SIGTERM', () => void (stopping || stopAll(0)))

for (const [name, child] of children) {
  void child.exited.then((code) => {
    if (stopping) return
    process.stderr.write(`${name} exited with code ${code}; stopping the stack\n`)
    void stopAll(1)
  })
}
