/**
 * `npm start`: the whole stack in the foreground. Starts Kafka and PostgreSQL if they are not running,
 * creates topics and schema, then runs ingest, consume and query with prefixed output. Ctrl-C (or SIGTERM)
 * stops the services gracefully, then whatever infrastructure this run started.
 */
import { infraDown, infraUp } from './infra.ts'
import { type Service, serviceNames, spawnService } from './services.ts'

const colours = { ingest: 36, consume: 35, query: 33 } as const

const started = await infraUp()
const services: Service[] = serviceNames.map((name) => {
  const prefix = `\x1b[${colours[name]}m${name.padEnd(7)}|\x1b[0m `
  return spawnService(name, {
    onLine: (line, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${prefix + line}\n`),
  })
})

let stopping = false
async function stopAll(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  const codes = await Promise.all(services.map((service) => service.stop('SIGTERM')))
  await infraDown(started)
  process.exit(codes.every((exit) => exit === 0) ? code : 1)
}

process.on('SIGINT', () => void stopAll(0))
process.on('SIGTERM', () => void stopAll(0))

for (const service of services) {
  void service.exited.then((code) => {
    if (stopping) return
    process.stderr.write(`${service.name} exited with code ${code}; stopping the stack\n`)
    void stopAll(1)
  })
}
