import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { encodeCursor } from '../../../src/lib/cursor.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { type FakeSql, failingSql, fakeSql } from '../../support/fake-sql.ts'

/**
 * The query API's answers to failures, with a fake `sql` (tests/support/fake-sql.ts) standing in for
 * PostgreSQL: the status and body follow from the error alone, whatever the route or the failure.
 */
interface Answer {
  status: number
  body: { error?: string; message?: string; parameter?: string; [field: string]: unknown }
}

function appWith(db: FakeSql, healthTimeoutMs?: number) {
  const lines: string[] = []
  const log = createLogger({ service: 'query' }, { write: (line) => lines.push(line) })
  const app = createQueryApp({ sql: db.sql, log, healthTimeoutMs })
  const get = async (path: string): Promise<Answer> => {
    const response = await app.handle(new Request(`http://localhost${path}`))
    return { status: response.status, body: (await response.json()) as Answer['body'] }
  }
  const logged = () => lines.map((line) => JSON.parse(line) as { level: string; event: string; error?: { message: string; code?: string } })
  return { app, get, logged }
}

const mustNotQuery = () => fakeSql(() => Promise.reject(new Error('the database must not be asked')))
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'

describe('bad input', () => {
  test.each([
    ['limit', '/query?limit=5000', /1 to 1000/],
    ['limit', '/query?limit=0', /1 to 1000/],
    ['limit', '/query?limit=ten', /1 to 1000/],
    ['page', '/query?page=0', /1 to 1000/],
    ['from', '/query?from=yesterday', /RFC 3339/],
    ['to', '/query?to=2024-13-45T99:00:00Z', /RFC 3339/],
    ['from', '/query?from=1h&to=2h', /later than to/],
    ['level', '/query?level=LOUD', /TRACE, DEBUG, INFO, WARN, ERROR, FATAL/],
    ['trace_id', '/query?trace_id=not-a-trace', /32 hex digits/],
    ['cursor', '/query?cursor=bogus', /next_cursor/],
    ['q', '/query?q=%21%21%21', /letter or digit/],
    ['service', '/query?service=a%00b', /NUL/],
    ['trace_id', '/query/abc', /32 hex digits/],
    ['servce', '/query?servce=web', /^unknown parameter "servce"; known: service, level, .*attr\.<path>, -attr\.<path>$/],
    // Elysia's own validation (limit is an integer) fails first; that path names the search parameter at fault.
    ['limit', '/query?servce=web&limit=5000', /1 to 1000/],
    ['servce', '/query?servce=web&limit=50', /unknown parameter "servce"/],
    ['attr.http..status', '/query?attr.http..status=500', /non-empty/],
    ['attr.', '/query?attr.=500', /non-empty/],
    ['attr.a', '/query?attr.a=', /needs a value/],
    ['-attr.a', `/query?-attr.a=${'x'.repeat(1025)}`, /at most 1024 bytes/],
    ['attr.a', '/query?attr.a=x%00y', /NUL/],
    ['attr.k20', `/query?${Array.from({ length: 21 }, (_, i) => `attr.k${i}=v`).join('&')}`, /at most 20 attribute filters/],
  ])('a bad %s is a 400 naming the parameter and what it accepts, without asking the database (%s)', async (parameter, path, message) => {
    const db = mustNotQuery()
    const { status, body } = await appWith(db).get(path)
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'QUERY_INVALID', message: expect.stringMatching(message), parameter })
    expect(db.awaited()).toBe(0)
  })

  test('page and cursor together are a 400 naming page', async () => {
    const cursor = encodeCursor({ timestamp: '2026-03-10T12:00:00.123456Z', partition: 1, offset: '42' })
    const { status, body } = await appWith(mustNotQuery()).get(`/query?limit=2&page=2&cursor=${cursor}`)
    expect(status).toBe(400)
    expect(body.parameter).toBe('page')
  })
})

describe('routes', () => {
  test('an unknown route is a 404 NOT_FOUND', async () => {
    const { status, body } = await appWith(mustNotQuery()).get('/logs')
    expect(status).toBe(404)
    expect(body).toEqual({ error: 'NOT_FOUND', message: 'no such route; see /openapi' })
  })

  test('an unknown method on a known path is a 404 NOT_FOUND too', async () => {
    const { app } = appWith(mustNotQuery())
    const response = await app.handle(
      new Request('http://localhost/query', { method: 'POST', body: '{bad json', headers: { 'content-type': 'application/json' } }),
    )
    expect(response.status).toBe(404)
    expect(((await response.json()) as Answer['body']).error).toBe('NOT_FOUND')
  })
})

describe('database failures', () => {
  const down = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  const cancelled = () => new postgres.PostgresError({ code: '57014', message: 'canceling statement due to statement timeout', severity: 'ERROR' } as never)

  test.each([
    ['a search', '/query?service=api'],
    ['a full-text search (windowed, in a transaction)', '/query?q=refused&tags=env:prod'],
    ['an attribute search (windowed, in a transaction)', '/query?attr.http.status=500&-attr.env=*'],
    ['a trace look-up', `/query/${TRACE}`],
  ])('a database that cannot be reached makes %s 503 DATABASE_UNAVAILABLE, logged as a warning', async (_what, path) => {
    const db = failingSql(down())
    const { get, logged } = appWith(db)
    const { status, body } = await get(path)
    expect(db.awaited()).toBeGreaterThan(0)
    expect(status).toBe(503)
    expect(body.error).toBe('DATABASE_UNAVAILABLE')
    expect(logged().map(({ level, event }) => [level, event])).toEqual([['warn', 'query.unavailable']])
  })

  test.each([
    ['a search', '/query?service=api'],
    ['a trace look-up', `/query/${TRACE}`],
  ])('a statement cancelled by statement_timeout (SQLSTATE 57014) makes %s 503 QUERY_TIMEOUT', async (_what, path) => {
    const { status, body } = await appWith(failingSql(cancelled())).get(path)
    expect(status).toBe(503)
    expect(body.error).toBe('QUERY_TIMEOUT')
    expect(body.message).toMatch(/statement timeout/)
  })

  test('an unexpected failure is a 500 INTERNAL that names nothing, logged as an error with the original', async () => {
    const bug = new postgres.PostgresError({ code: '42P01', message: 'relation "logz" does not exist', severity: 'ERROR' } as never)
    const { get, logged } = appWith(failingSql(bug))
    const { status, body } = await get('/query?service=api')
    expect(status).toBe(500)
    expect(body).toEqual({ error: 'INTERNAL', message: 'internal error' })
    const [entry] = logged()
    expect([entry?.level, entry?.event, entry?.error?.message]).toEqual(['error', 'query.failed', 'relation "logz" does not exist'])
  })

  test('a bug that is not a database error at all is a 500 INTERNAL too', async () => {
    const { status, body } = await appWith(failingSql(new TypeError("Cannot read properties of undefined (reading 'rows')"))).get(`/query/${TRACE}`)
    expect(status).toBe(500)
    expect(body.error).toBe('INTERNAL')
  })
})

describe('GET /health', () => {
  test('is 200 when the database answers', async () => {
    const { status, body } = await appWith(fakeSql(async () => [{ '?column?': 1 }])).get('/health')
    expect(status).toBe(200)
    expect(body.status).toBe('ok')
  })

  test('is 503 with the failing check when the database refuses', async () => {
    const { status, body } = await appWith(failingSql(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).get('/health')
    expect(status).toBe(503)
    expect(body).toEqual({ status: 'unavailable', checks: { database: { status: 'down', error: 'connect ECONNREFUSED 127.0.0.1:5432' } } })
  })

  test('is 503 when the database does not answer within the health timeout', async () => {
    const { status, body } = await appWith(
      fakeSql(() => new Promise(() => {})),
      20,
    ).get('/health')
    expect(status).toBe(503)
    expect(body.checks).toEqual({ database: { status: 'down', error: 'no answer within 20 ms' } })
  })
})

describe('OpenAPI', () => {
  test('describes /query and /query/{trace_id}', async () => {
    const { status, body } = await appWith(mustNotQuery()).get('/openapi/json')
    const paths = body.paths as Record<string, { get: { parameters: { name: string }[] } }>
    expect(status).toBe(200)
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/health', '/query', '/query/{trace_id}']))
    expect(paths['/query']!.get.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'cursor', 'q', 'tags', 'attr.<path>', '-attr.<path>']))
  })

  test('serves a docs page', async () => {
    const response = await appWith(mustNotQuery()).app.handle(new Request('http://localhost/openapi'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
  })
})
