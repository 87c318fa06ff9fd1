import { describe, expect, test } from 'bun:test'
import { openAuthenticator } from '../../../../src/lib/auth/key-ring.ts'
import { RateLimits } from '../../../../src/lib/auth/rate-limits.ts'
import { createHttpIntakeHandler } from '../../../../src/lib/http-intake/server.ts'
import { createIntake } from '../../../../src/lib/intake.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import { testIngestSettings } from '../../../support/intake-settings.ts'

/** The Elasticsearch adapter's reading of the request path (no Kafka: the producer acknowledges at once). */

const log = createLogger({ service: 'es-adapter-test' }, { level: 'error' })
const ingest = testIngestSettings
const intake = createIntake({ ingest, retentionDays: 7 }, { producer: { send: async () => {}, close: async () => {} }, log })
const limits = new RateLimits({ entriesPerSecond: 1000, bytesPerSecond: 1024 * 1024 })
const handle = createHttpIntakeHandler(intake, log, { maxBodyBytes: 64 * 1024, sendTimeoutMs: 5000, authenticator: openAuthenticator, limits })

const bulk = (path: string) =>
  handle(
    new Request(`http://127.0.0.1${path}`, {
      method: 'POST',
      body: `${JSON.stringify({ create: {} })}\n${JSON.stringify({ message: 'm', 'service.name': 's' })}\n`,
    }),
  )

describe('POST /{index}/_bulk', () => {
  test('the index is percent-decoded and given to actions that name none', async () => {
    const response = await bulk('/logs%2Dweb/_bulk')
    expect(response.status).toBe(200)
    expect(((await response.json()) as { items: { create: { _index: string } }[] }).items[0]!.create._index).toBe('logs-web')
  })

  test('an index that is not valid percent-encoding is a 400 Elasticsearch error naming it, not a 500', async () => {
    const response = await bulk('/logs%E0%A4%A/_bulk')
    expect(response.status).toBe(400)
    expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch')
    const body = (await response.json()) as { status: number; error: { type: string; reason: string } }
    expect(body).toMatchObject({ status: 400, error: { type: 'illegal_argument_exception' } })
    expect(body.error.reason).toContain('logs%E0%A4%A')
  })
})
