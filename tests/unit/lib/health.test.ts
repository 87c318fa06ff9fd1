import { describe, expect, test } from 'bun:test'
import { checkHealth, healthResponse } from '../../../src/lib/health.ts'

describe('checkHealth', () => {
  test('200 "ok" when every check answers, each up with its time', async () => {
    const answer = await checkHealth({ kafka: async () => {}, database: async () => [{ one: 1 }] }, 1000)
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({
      status: 'ok',
      checks: { kafka: { status: 'up', took_ms: expect.any(Number) }, database: { status: 'up', took_ms: expect.any(Number) } },
    })
  })

  test('503 "unavailable" naming the check that failed, with its error; the others still up', async () => {
    const answer = await checkHealth({ kafka: async () => {}, database: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')) }, 1000)
    expect(answer.status).toBe(503)
    expect(answer.body.status).toBe('unavailable')
    expect(answer.body.checks.database).toEqual({ status: 'down', error: 'connect ECONNREFUSED 127.0.0.1:5432' })
    expect(answer.body.checks.kafka?.status).toBe('up')
  })

  test('a check that never answers is down after the timeout, not a hung probe', async () => {
    const answer = await checkHealth({ kafka: () => new Promise(() => {}) }, 20)
    expect(answer).toEqual({ status: 503, body: { status: 'unavailable', checks: { kafka: { status: 'down', error: 'no answer within 20 ms' } } } })
  })

  test('a check that throws at once, or rejects with a non-Error, is down too', async () => {
    const answer = await checkHealth(
      {
        database: () => {
          throw new Error('no pool')
        },
        kafka: () => Promise.reject('refused'),
      },
      1000,
    )
    expect(answer.status).toBe(503)
    expect(answer.body.checks).toEqual({ database: { status: 'down', error: 'no pool' }, kafka: { status: 'down', error: 'refused' } })
  })

  test('healthResponse: the body as JSON with the status', async () => {
    const response = healthResponse(await checkHealth({ database: () => Promise.reject(new Error('down')) }, 1000))
    expect(response.status).toBe(503)
    expect(response.headers.get('content-type')).toStartWith('application/json')
    expect(((await response.json()) as { checks: unknown }).checks).toEqual({ database: { status: 'down', error: 'down' } })
  })
})
