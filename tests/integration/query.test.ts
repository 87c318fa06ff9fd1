import { afterAll, describe, expect, test } from 'bun:test'
import { createLogWriter } from '../../src/lib/log-writer.ts'
import { eventually, freshDatabase } from '../support/infra.ts'
import { readSse } from '../support/sse-reader.ts'

/** `bun src/query.ts` as a process: listens where configured, answers, and stops cleanly on SIGTERM. */
const database = await freshDatabase()
await database.sql`insert into logs ${database.sql({ timestamp: new Date(), service: 'api', level: 'INFO', message: 'hello from the entrypoint test', kafka_partition: 0, kafka_offset: 1 })}`

function start() {
  const child = Bun.spawn([process.execPath, 'src/query.ts'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: database.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: string[] = []
  void (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = child.stdout.getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      buffered += decoder.decode(chunk.value)
      const parts = buffered.split('\n')
      buffered = parts.pop() ?? ''
      lines.push(...parts)
    }
  })()
  const events = () => lines.map((line) => JSON.parse(line) as { event: string; port?: number })
  return { child, events }
}

const running: ReturnType<typeof start>['child'][] = []
afterAll(() => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
})

describe('src/query.ts', () => {
  test('serves queries on the configured port and exits 0 on SIGTERM', async () => {
    const { child, events } = start()
    running.push(child)
    const port = await eventually(() => events().find((event) => event.event === 'query.listening')?.port, 20_000, 'query.listening')

    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).toBe(200)
    const query = await fetch(`http://127.0.0.1:${port}/query?service=api`)
    const body = (await query.json()) as { logs: { message: string }[] }
    expect(body.logs.map((log) => log.message)).toEqual(['hello from the entrypoint test'])

    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    expect(events().map((event) => event.event)).toContain('shutdown.done')
  })

  test("streams /tail from the consumers' announcements, and on SIGTERM ends every stream cleanly and exits 0", async () => {
    const { child, events } = start()
    running.push(child)
    const port = await eventually(() => events().find((event) => event.event === 'query.listening')?.port, 20_000, 'query.listening')
    await eventually(() => (events().some((event) => event.event === 'tail.listening') ? true : undefined), 20_000, 'tail.listening')
    const response = await fetch(`http://127.0.0.1:${port}/tail?service=tailed`)
    expect(response.headers.get('content-type')).toStartWith('text/event-stream')
    const stream = readSse(response.body!)
    const record = {
      timestampMicros: Date.now() * 1000,
      service: 'tailed',
      level: 'INFO' as const,
      message: 'seen live',
      metadata: '{}',
      traceId: '',
      spanId: '',
      host: '',
      tags: [],
    }
    await createLogWriter(database.sql).write([{ partition: 0, offset: 2n, record }])
    await eventually(() => stream.parser.events[0], 20_000, 'the log on the stream')
    expect(JSON.parse(stream.parser.events[0]!.data).message).toBe('seen live')

    child.kill('SIGTERM')
    // The stream ends as a stream does (the reader reports done), not with a reset connection.
    await stream.done
    expect(await child.exited).toBe(0)
    expect(events().map((event) => event.event)).toContain('shutdown.done')
  })
})
