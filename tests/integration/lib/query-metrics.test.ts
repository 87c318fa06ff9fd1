import { afterAll, describe, expect, test } from 'bun:test'
import { KeyRing } from '../../../src/lib/auth/key-ring.ts'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { queryDatabaseUrl } from '../../../src/lib/log-search.ts'
import { createRegistry } from '../../../src/lib/metrics.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { testKey } from '../../support/api-keys.ts'
import { eventually, freshDatabase } from '../../support/infra.ts'

/**
 * GET /metrics on the query API (issue 16), in process (app.handle) over a real database, keys required:
 * requests are counted by route pattern and status, never by raw URL; /metrics itself needs a read key.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const read = testKey('metrics reader', 'read')
const ingest = testKey('shipper', 'ingest')
const app = createQueryApp({ sql, authenticator: new KeyRing([read.record, ingest.record]), registry: createRegistry() })
const get = (path: string, key?: string) => app.handle(new Request(`http://localhost${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }))

describe('query /metrics', () => {
  test('counts requests by route pattern and status, times them, and needs a read key', async () => {
    expect((await get('/query?service=web', read.key)).status).toBe(200)
    expect((await get('/histogram', read.key)).status).toBe(200)
    expect((await get('/query/4bf92f3577b34da6a3ce929d0e0e4736', read.key)).status).toBe(200)
    expect((await get('/query/0af7651916cd43dd8448eb211c80319c', read.key)).status).toBe(200)
    expect((await get('/query?limit=0', read.key)).status).toBe(400)

    expect((await get('/metrics')).status).toBe(401)
    expect((await get('/metrics', ingest.key)).status).toBe(403)
    const response = await get('/metrics', read.key)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    // Elysia runs onAfterResponse once the answer is out, so the last requests may be counted a moment later.
    const scrape = async () => (await get('/metrics', read.key)).text()
    const text = await eventually(
      async () => {
        const body = await scrape()
        return body.includes('route="unmatched",status="401"} 1') && body.includes('route="/query/:trace_id",status="200"} 2') ? body : undefined
      },
      10_000,
      'every request counted',
    )
    expect(text).toContain('logstream_query_requests_total{route="/query",status="200"} 1')
    expect(text).toContain('logstream_query_requests_total{route="/query",status="400"} 1')
    expect(text).toContain('logstream_query_requests_total{route="/histogram",status="200"} 1')
    // Two trace ids, one series: the label is the pattern.
    expect(text).toContain('logstream_query_requests_total{route="/query/:trace_id",status="200"} 2')
    expect(text).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(text).toContain('# TYPE logstream_query_seconds histogram')
    expect(text).toMatch(/logstream_query_seconds_bucket\{le="\+Inf",route="\/query"\} 2/)
    expect(text).toContain('logstream_query_seconds_count{route="/histogram"} 1')
    // Refused before routing: counted, under the one "unmatched" route.
    expect(text).toContain('logstream_query_requests_total{route="unmatched",status="401"} 1')
    expect(text).toContain('# TYPE logstream_process_cpu_seconds_total counter')
  })
})
