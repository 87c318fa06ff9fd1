import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { startIntakeStack } from '../../support/intake-stack.ts'

setDefaultTimeout(60_000)
const stack = await startIntakeStack()

describe('POST /jsonlines', () => {
  test('stores each line with every unknown field in metadata; a broken line is reported by number and its neighbours are stored', async () => {
    const body = [
      JSON.stringify({ service: 'web', level: 'error', msg: 'x', user: 'u1', request: { id: 7 } }),
      '{"msg": broken',
      JSON.stringify({ message: 'second', trace_id: 'ab'.repeat(16) }),
      '',
    ].join('\n')
    const response = await fetch(`${stack.httpUrl}/jsonlines?service=cli&tags=a,b`, { method: 'POST', body })
    expect(response.status).toBe(200)
    const answer = (await response.json()) as { accepted: number; rejected: number; rejections: { line: number; field: string }[] }
    expect(answer).toMatchObject({ accepted: 2, rejected: 1, rejections: [{ line: 2, field: 'entry' }] })

    const logs = await stack.storedLogs(2)
    expect(logs).toHaveLength(2)
    const byMessage = Object.fromEntries(logs.map((log) => [log.message, log]))
    expect(byMessage.x).toMatchObject({ service: 'web', level: 'ERROR', metadata: { user: 'u1', request: { id: 7 } }, tags: ['a', 'b'] })
    expect(byMessage.second).toMatchObject({ service: 'cli', level: 'INFO', trace_id: 'ab'.repeat(16), metadata: {} })
  })

  test('a body with no valid line is a 400 naming the first problem', async () => {
    const response = await fetch(`${stack.httpUrl}/jsonlines`, { method: 'POST', body: '{"message":"m","level":"loud"}\n' })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'REQUEST_INVALID', accepted: 0, rejected: 1, rejections: [{ line: 1, field: 'level' }] })
  })

  test('what PostgreSQL would refuse is refused per line with a reason; invalid UTF-8 is stored as U+FFFD', async () => {
    const deep = `${'['.repeat(150)}${']'.repeat(150)}`
    const body = Buffer.concat([
      Buffer.from(['{"message":"lone \\ud800 here"}', `{"message":"too deep","deep":${deep}}`, '{"message":"fine 🎉"}', '{"message":"bad byte: '].join('\n')),
      Buffer.from([0xff]),
      Buffer.from('"}\n'),
    ])
    const response = await fetch(`${stack.httpUrl}/jsonlines?service=utf-checks`, { method: 'POST', body })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      accepted: 2,
      rejected: 2,
      rejections: [
        { line: 1, field: 'message', reason: 'holds an unpaired UTF-16 surrogate, which UTF-8 cannot encode' },
        { line: 2, field: 'metadata', reason: expect.stringContaining('more than 100 levels deep') },
      ],
    })
    const logs = await stack.storedLogs(2, '/query?service=utf-checks')
    expect(logs.map((log) => log.message).sort()).toEqual(['bad byte: \ufffd', 'fine 🎉'])
  })

  test('gzip bodies are accepted; an unknown path is a 404 naming it', async () => {
    const gz = Bun.gzipSync(Buffer.from(`${JSON.stringify({ message: 'zipped', service: 'gz' })}\n`))
    const response = await fetch(`${stack.httpUrl}/jsonlines`, { method: 'POST', body: gz, headers: { 'content-encoding': 'gzip' } })
    expect(response.status).toBe(200)
    expect((await stack.storedLogs(1, '/query?service=gz'))[0]).toMatchObject({ message: 'zipped' })
    const missing = await fetch(`${stack.httpUrl}/nope`, { method: 'POST', body: '{}' })
    expect(missing.status).toBe(404)
  })
})
