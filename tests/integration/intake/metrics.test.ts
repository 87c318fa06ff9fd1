import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { KeyRing } from '../../../src/lib/auth/key-ring.ts'
import { testKey } from '../../support/api-keys.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'

/**
 * GET /metrics on the HTTP intake port (issue 16): entries counted by protocol and result once answered,
 * the ack time of accepted requests, the intake's pending bytes; the endpoint follows the read scope.
 */
setDefaultTimeout(60_000)
const read = testKey('metrics reader', 'read')
const ingest = testKey('shipper', 'ingest')
const stack = await startIntakeStack((config) => ({ ...config, auth: { ...config.auth, mode: 'required' } }), {
  authenticator: new KeyRing([read.record, ingest.record]),
})
const metrics = (key?: string) => fetch(`${stack.httpUrl}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} })

describe('intake /metrics', () => {
  test('counts accepted and rejected JSON lines and times the accepted request; needs a read key', async () => {
    const body = [JSON.stringify({ service: 'web', message: 'one' }), '{"message": broken', JSON.stringify({ service: 'web', message: 'two' })].join('\n')
    const sent = await fetch(`${stack.httpUrl}/jsonlines`, { method: 'POST', body, headers: { authorization: `Bearer ${ingest.key}` } })
    expect(sent.status).toBe(200)
    expect(await sent.json()).toMatchObject({ accepted: 2, rejected: 1 })

    const refused = await metrics()
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain('Bearer')
    expect((await metrics(ingest.key)).status).toBe(403)

    const response = await metrics(read.key)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    const text = await response.text()
    expect(text).toContain('logstream_ingest_entries_total{protocol="jsonlines",result="accepted"} 2')
    expect(text).toContain('logstream_ingest_entries_total{protocol="jsonlines",result="rejected"} 1')
    expect(text).toContain('logstream_ingest_ack_seconds_count{protocol="jsonlines"} 1')
    expect(text).toContain('# TYPE logstream_ingest_pending_bytes gauge')
    expect(text).toContain('# TYPE logstream_process_resident_memory_bytes gauge')
  })
})
