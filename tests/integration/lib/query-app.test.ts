import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { formatMicros } from '../../../src/lib/log-entry.ts'
import { queryDatabaseUrl } from '../../../src/lib/log-search.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { freshDatabase } from '../../support/infra.ts'

/**
 * The HTTP API in process (app.handle) against a real PostgreSQL database holding a small, known set of
 * logs an hour old, plus one three days old.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
afterAll(() => sql.end())
const app = createQueryApp({ sql })

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736'
const TRACE_B = '0af7651916cd43dd8448eb211c80319c'
const HOUR = 3_600_000_000
const base = Date.now() * 1000 - HOUR
let nextOffset = 1

interface Row {
  at: number
  service: string
  level: string
  message: string
  host?: string | null
  trace_id?: string | null
  span_id?: string | null
  tags?: string[]
  metadata?: Record<string, unknown>
  partition?: number
}

/** Timestamps go in as text cast by PostgreSQL, so their microseconds survive (see log-search.ts). */
async function insert(rows: Row[]): Promise<void> {
  const offsets = rows.map(() => String(nextOffset++))
  await sql`
    insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset)
    select t::timestamptz, s, l, m, md::jsonb, tr, sp, h, array(select jsonb_array_elements_text(tg::jsonb)), p::integer, o::bigint
    from unnest(
      ${rows.map((row) => formatMicros(row.at))}::text[], ${rows.map((row) => row.service)}::text[], ${rows.map((row) => row.level)}::text[],
      ${rows.map((row) => row.message)}::text[], ${rows.map((row) => JSON.stringify(row.metadata ?? {}))}::text[],
      ${rows.map((row) => row.trace_id ?? null)}::text[], ${rows.map((row) => row.span_id ?? null)}::text[], ${rows.map((row) => row.host ?? null)}::text[],
      ${rows.map((row) => JSON.stringify(row.tags ?? []))}::text[], ${rows.map((row) => String(row.partition ?? 0))}::text[], ${offsets}::text[]
    ) as r(t, s, l, m, md, tr, sp, h, tg, p, o)`
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await app.handle(new Request(`http://localhost${path}`))
  return { status: response.status, body: await response.json() }
}

const messages = async (path: string) => (await get(path)).body.logs.map((log: { message: string }) => log.message)

beforeAll(async () => {
  await insert([
    {
      at: base + 1_000_001,
      service: 'api',
      level: 'INFO',
      message: 'user alice logged in',
      host: 'web-1',
      trace_id: TRACE_A,
      span_id: '00f067aa0ba902b7',
      tags: ['env:prod', 'region:eu'],
      metadata: { user: 'alice', attempt: 1 },
    },
    { at: base + 2_000_002, service: 'api', level: 'ERROR', message: 'payment declined for order 42', host: 'web-2', trace_id: TRACE_A, tags: ['env:prod'] },
    { at: base + 3_000_003, service: 'billing', level: 'WARN', message: 'disk almost full on volume data', host: 'db-1', tags: ['env:staging', 'region:eu'] },
    { at: base + 4_000_004, service: 'billing', level: 'FATAL', message: 'out of memory while billing order 42', host: 'db-1', trace_id: TRACE_B },
    { at: base + 5_000_005, service: 'worker', level: 'DEBUG', message: 'cache miss for session abc', tags: ['env:prod', 'region:us'] },
    { at: base - 72 * HOUR, service: 'api', level: 'INFO', message: 'archived three days ago', host: 'web-1' },
  ])
})

describe('GET /query', () => {
  test('returns logs newest first', async () => {
    expect(await messages('/query')).toEqual([
      'cache miss for session abc',
      'out of memory while billing order 42',
      'disk almost full on volume data',
      'payment declined for order 42',
      'user alice logged in',
      'archived three days ago',
    ])
  })

  test('returns each log with a microsecond RFC 3339 timestamp, metadata as an object, and an id', async () => {
    const { body } = await get('/query?service=api&level=info&from=2h')
    expect(body.logs).toEqual([
      {
        id: `0-1-${formatMicros(base + 1_000_001).replace(/\D/g, '')}`,
        timestamp: formatMicros(base + 1_000_001),
        service: 'api',
        level: 'INFO',
        message: 'user alice logged in',
        metadata: { user: 'alice', attempt: 1 },
        trace_id: TRACE_A,
        span_id: '00f067aa0ba902b7',
        host: 'web-1',
        tags: ['env:prod', 'region:eu'],
        ingested_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      },
    ])
    expect(body.logs[0].timestamp).toMatch(/\.\d{6}Z$/)
  })

  test('gives null for an absent trace_id, span_id and host', async () => {
    const { body } = await get('/query?service=worker')
    expect([body.logs[0].trace_id, body.logs[0].span_id, body.logs[0].host]).toEqual([null, null, null])
  })

  test('returns an empty array, not null, when nothing matches', async () => {
    const { status, body } = await get('/query?service=nobody')
    expect(status).toBe(200)
    expect(body.logs).toEqual([])
    expect(body.pagination.has_more).toBe(false)
    expect(typeof body.took_ms).toBe('number')
  })

  test('filters by service', async () => {
    expect(await messages('/query?service=billing')).toEqual(['out of memory while billing order 42', 'disk almost full on volume data'])
  })

  test('filters by a comma list of levels, in any case and by alias', async () => {
    expect(await messages('/query?level=fatal,Warning')).toEqual(['out of memory while billing order 42', 'disk almost full on volume data'])
  })

  test('filters by an RFC 3339 range, both bounds inclusive, to the microsecond', async () => {
    const from = encodeURIComponent(formatMicros(base + 2_000_002))
    const to = encodeURIComponent(formatMicros(base + 4_000_004))
    expect(await messages(`/query?from=${from}&to=${to}`)).toEqual([
      'out of memory while billing order 42',
      'disk almost full on volume data',
      'payment declined for order 42',
    ])
    const justAfter = encodeURIComponent(formatMicros(base + 2_000_003))
    expect(await messages(`/query?from=${justAfter}&to=${to}`)).not.toContain('payment declined for order 42')
  })

  test('filters by a relative time', async () => {
    expect(await messages('/query?from=24h')).not.toContain('archived three days ago')
    expect(await messages('/query?to=24h')).toEqual(['archived three days ago'])
  })

  test('filters by host', async () => {
    expect(await messages('/query?host=db-1')).toEqual(['out of memory while billing order 42', 'disk almost full on volume data'])
  })

  test('filters by trace_id, given as hex or as a UUID', async () => {
    expect(await messages(`/query?trace_id=${TRACE_A}`)).toEqual(['payment declined for order 42', 'user alice logged in'])
    expect(await messages('/query?trace_id=4BF92F35-77B3-4DA6-A3CE-929D0E0E4736')).toEqual(['payment declined for order 42', 'user alice logged in'])
  })

  test('filters by tags, requiring all of them, repeated or comma-separated', async () => {
    expect(await messages('/query?tags=env:prod&tags=region:eu')).toEqual(['user alice logged in'])
    expect(await messages('/query?tags=env:prod,region:eu')).toEqual(['user alice logged in'])
    expect(await messages('/query?tags=env:prod')).toEqual(['cache miss for session abc', 'payment declined for order 42', 'user alice logged in'])
  })

  test('searches message text by whole words', async () => {
    expect(await messages('/query?q=order%2042')).toEqual(['out of memory while billing order 42', 'payment declined for order 42'])
    expect(await messages('/query?q=DECLINED')).toEqual(['payment declined for order 42'])
    expect(await messages('/query?q=declin')).toEqual([])
  })

  test('searches quoted phrases and excluded words', async () => {
    expect(await messages('/query?q=%22order%2042%22%20-payment')).toEqual(['out of memory while billing order 42'])
  })

  test('combines filters', async () => {
    expect(await messages('/query?service=api&level=error&host=web-2&tags=env:prod&q=payment&from=2h')).toEqual(['payment declined for order 42'])
  })

  test('treats a value that would be SQL as a plain value', async () => {
    const { status, body } = await get(`/query?service=${encodeURIComponent("api' or '1'='1")}`)
    expect(status).toBe(200)
    expect(body.logs).toEqual([])
  })
})

describe('GET /query with full-text and tag filters, searched newest window first', () => {
  const now = Date.now() * 1000
  beforeAll(async () => {
    await insert([
      { at: now - 60e6, service: 'needles', level: 'INFO', message: 'needle one minute ago', tags: ['kind:needle'] },
      { at: now - 2 * HOUR, service: 'needles', level: 'INFO', message: 'needle two hours ago', tags: ['kind:needle', 'urgent'] },
      { at: now - 50 * HOUR, service: 'needles', level: 'INFO', message: 'needle two days ago', tags: ['kind:needle'] },
    ])
  })

  test('matches a single plain-word tag', async () => {
    expect(await messages('/query?tags=urgent')).toEqual(['needle two hours ago'])
  })

  test('matches a list of levels on a connection that has run nothing before', async () => {
    const fresh = connect(queryDatabaseUrl(database.url), { max: 1 })
    try {
      const response = await createQueryApp({ sql: fresh }).handle(new Request('http://localhost/query?service=needles&level=info,warn'))
      expect(((await response.json()) as { logs: { message: string }[] }).logs).toHaveLength(3)
    } finally {
      await fresh.end()
    }
  })

  test('finds matches older than every window', async () => {
    expect(await messages('/query?q=needle')).toEqual(['needle one minute ago', 'needle two hours ago', 'needle two days ago'])
  })

  test('returns the newest matches and says more follow when a window holds enough', async () => {
    const { body } = await get('/query?q=needle&limit=1')
    expect(body.logs.map((log: { message: string }) => log.message)).toEqual(['needle one minute ago'])
    expect(body.pagination.has_more).toBe(true)
  })

  test('pages and cursors go on past the windows', async () => {
    expect(await messages('/query?tags=kind:needle&limit=1&page=3')).toEqual(['needle two days ago'])
    const first = await get('/query?q=needle&limit=2')
    const { body } = await get(`/query?q=needle&limit=2&cursor=${first.body.pagination.next_cursor}`)
    expect(body.logs.map((log: { message: string }) => log.message)).toEqual(['needle two days ago'])
    expect(body.pagination.has_more).toBe(false)
  })
})

describe('GET /query/:trace_id', () => {
  test('returns every log of the trace, oldest first', async () => {
    const { status, body } = await get(`/query/${TRACE_A}`)
    expect(status).toBe(200)
    expect(body.trace_id).toBe(TRACE_A)
    expect(body.logs.map((log: { message: string }) => log.message)).toEqual(['user alice logged in', 'payment declined for order 42'])
    expect(body.pagination.truncated).toBe(false)
  })

  test('accepts the trace id as a UUID', async () => {
    const { body } = await get('/query/4bf92f35-77b3-4da6-a3ce-929d0e0e4736')
    expect(body.logs).toHaveLength(2)
  })

  test('returns an empty list for an unknown trace id', async () => {
    const { status, body } = await get('/query/ffffffffffffffffffffffffffffffff')
    expect(status).toBe(200)
    expect(body.logs).toEqual([])
  })

  test('stops at 1000 logs and says the trace was truncated', async () => {
    const trace = '11111111111111111111111111111111'
    await insert(Array.from({ length: 1001 }, (_, i) => ({ at: base - 10 * HOUR + i, service: 'bulk', level: 'INFO', message: `step ${i}`, trace_id: trace })))
    const { body } = await get(`/query/${trace}`)
    expect(body.logs).toHaveLength(1000)
    expect(body.logs[0].message).toBe('step 0')
    expect(body.logs[999].message).toBe('step 999')
    expect(body.pagination.truncated).toBe(true)
  })
})

describe('pagination', () => {
  const SERVICE = 'paged'
  // 25 logs sharing one timestamp across three Kafka partitions, then 5 more a microsecond apart (the
  // same millisecond: a cursor that kept only milliseconds would skip or repeat them).
  const sameInstant = base - 20 * HOUR
  beforeAll(async () => {
    await insert(Array.from({ length: 25 }, (_, i) => ({ at: sameInstant, service: SERVICE, level: 'INFO', message: `same ${i}`, partition: i % 3 })))
    await insert(Array.from({ length: 5 }, (_, i) => ({ at: sameInstant - 5 + i, service: SERVICE, level: 'INFO', message: `older ${i}` })))
  })

  async function walkCursor(path: string, between?: () => Promise<void>): Promise<string[]> {
    const seen: string[] = []
    let cursor: string | null = null
    for (let round = 0; round < 100; round++) {
      const { body } = await get(`${path}${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...body.logs.map((log: { id: string }) => log.id))
      cursor = body.pagination.next_cursor
      if (!cursor) return seen
      await between?.()
    }
    throw new Error('cursor never ended')
  }

  test('pages are disjoint and together complete, with has_more and next_page', async () => {
    const all = (await get(`/query?service=${SERVICE}&limit=1000`)).body.logs.map((log: { id: string }) => log.id)
    expect(all).toHaveLength(30)
    const pages: string[][] = []
    for (let page = 1; page <= 4; page++) {
      const { body } = await get(`/query?service=${SERVICE}&limit=8&page=${page}`)
      pages.push(body.logs.map((log: { id: string }) => log.id))
      expect(body.pagination.page).toBe(page)
      expect(body.pagination.has_more).toBe(page < 4)
      expect(body.pagination.next_page).toBe(page < 4 ? page + 1 : null)
    }
    expect(pages.map((page) => page.length)).toEqual([8, 8, 8, 6])
    expect(pages.flat()).toEqual(all)
  })

  test('a cursor walks logs with equal timestamps without repeating or skipping one', async () => {
    const all = (await get(`/query?service=${SERVICE}&limit=1000`)).body.logs.map((log: { id: string }) => log.id)
    const walked = await walkCursor(`/query?service=${SERVICE}&limit=7`)
    expect(walked).toEqual(all)
  })

  test('a cursor stays correct while newer logs arrive between pages', async () => {
    const all = (await get(`/query?service=${SERVICE}&limit=1000`)).body.logs.map((log: { id: string }) => log.id)
    let arrivals = 0
    const walked = await walkCursor(`/query?service=${SERVICE}&limit=4`, async () => {
      arrivals++
      await insert([{ at: Date.now() * 1000, service: SERVICE, level: 'INFO', message: `new ${arrivals}`, partition: 2 }])
    })
    expect(arrivals).toBeGreaterThan(3)
    expect(walked).toEqual(all)
  })

  test('a cursor response says it is not page-based', async () => {
    const first = await get(`/query?service=${SERVICE}&limit=5`)
    const { body } = await get(`/query?service=${SERVICE}&limit=5&cursor=${first.body.pagination.next_cursor}`)
    expect(body.pagination.page).toBeNull()
    expect(body.pagination.next_page).toBeNull()
    expect(body.logs).toHaveLength(5)
  })
})

describe('GET /health', () => {
  test('is 200 when the database answers', async () => {
    const { status, body } = await get('/health')
    expect(status).toBe(200)
    expect(body.status).toBe('ok')
    expect(body.checks.database.status).toBe('up')
  })
})

describe('GET /', () => {
  test('is the log explorer: an HTML page whose script and style the same app serves', async () => {
    const page = await app.handle(new Request('http://localhost/'))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    const html = await page.text()
    const assets = [...html.matchAll(/(?:src|href)="(\/explorer\/[^"]+)"/g)].map((match) => match[1]!)
    expect(assets.length).toBeGreaterThanOrEqual(2)
    for (const asset of assets) expect((await app.handle(new Request(`http://localhost${asset}`))).status).toBe(200)
  })
})

describe('GET /openapi', () => {
  test('the docs page loads its UI from this process, never from another host', async () => {
    const page = await app.handle(new Request('http://localhost/openapi'))
    expect(page.status).toBe(200)
    const html = await page.text()
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)
    expect(urls.length).toBeGreaterThanOrEqual(2)
    for (const url of urls) {
      expect(url.startsWith('/')).toBe(true)
      expect((await app.handle(new Request(`http://localhost${url}`))).status).toBe(200)
    }
    expect(html).not.toMatch(/https?:\/\//)
  })

  test('/openapi/json describes every endpoint', async () => {
    const spec = (await (await app.handle(new Request('http://localhost/openapi/json'))).json()) as { paths: Record<string, unknown> }
    for (const path of ['/query', '/histogram', '/facets', '/export', '/tail']) expect(Object.keys(spec.paths)).toContain(path)
  })
})

describe('an unreachable database', () => {
  // Nothing listens on port 1: every connection attempt is refused at once.
  const dead = connect('postgres://postgres@127.0.0.1:1/logstream', { max: 1, connectTimeout: 2 })
  const deadApp = createQueryApp({ sql: dead, healthTimeoutMs: 3000 })
  afterAll(() => dead.end({ timeout: 1 }))

  test('makes /health 503 with the failing check', async () => {
    const response = await deadApp.handle(new Request('http://localhost/health'))
    const body = (await response.json()) as { status: string; checks: { database: { status: string; error: string } } }
    expect(response.status).toBe(503)
    expect(body.checks.database.status).toBe('down')
    expect(body.checks.database.error).toBeTruthy()
  })

  test('makes /query 503, not 500', async () => {
    const response = await deadApp.handle(new Request('http://localhost/query?service=api'))
    expect(response.status).toBe(503)
    expect(((await response.json()) as { error: string }).error).toBe('DATABASE_UNAVAILABLE')
  })

  test('makes a trace look-up 503, not 500', async () => {
    const response = await deadApp.handle(new Request(`http://localhost/query/${TRACE_A}`))
    expect(response.status).toBe(503)
    expect(((await response.json()) as { error: string }).error).toBe('DATABASE_UNAVAILABLE')
  })
})

describe('a database too slow to answer', () => {
  test('makes /query 503 QUERY_TIMEOUT once QUERY_TIMEOUT_MS has passed, not hang or 500', async () => {
    const slow = connect(queryDatabaseUrl(database.url, 200), { max: 1 })
    const locker = connect(database.url, { max: 1 })
    try {
      // Another session holds the table: the search waits on the lock until statement_timeout cancels it.
      const response = await locker.begin(async (tx) => {
        await tx`lock table logs in access exclusive mode`
        return createQueryApp({ sql: slow }).handle(new Request('http://localhost/query?service=api'))
      })
      expect(response.status).toBe(503)
      expect(((await response.json()) as { error: string }).error).toBe('QUERY_TIMEOUT')
    } finally {
      await slow.end()
      await locker.end()
    }
  })
})
