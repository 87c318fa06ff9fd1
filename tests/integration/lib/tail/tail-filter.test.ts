import { describe, expect, test } from 'bun:test'
import { attributeCondition, parseAttributeFilters } from '../../../../src/lib/attribute-filters.ts'
import { formatMicros, type LogRecord } from '../../../../src/lib/log-entry.ts'
import { formatLogId } from '../../../../src/lib/log-id.ts'
import { type LogRow, logColumns, logView, timestampText, withContent } from '../../../../src/lib/log-rows.ts'
import { parseSearch, type SearchInput, searchConditions } from '../../../../src/lib/log-search.ts'
import { createLogWriter } from '../../../../src/lib/log-writer.ts'
import { asciiLower, type FilterInput, filterInput, matchesFields, queryMayMatch, tailFilter } from '../../../../src/lib/tail/tail-filter.ts'
import { createTailStore } from '../../../../src/lib/tail/tail-store.ts'
import { freshDatabase } from '../../../support/infra.ts'

/**
 * The live tail decides filters in JavaScript (tail-filter.ts) that /query leaves to PostgreSQL
 * (log-search.ts searchConditions). These tests put both side by side on the same logs, so the two cannot
 * drift apart unnoticed.
 */
const db = await freshDatabase()
const NOW = Date.now() * 1000

const messages = [
  'Request processed successfully',
  'GET /api/v1/orders/8812 200 in 23ms',
  'upstream timeout after 3000ms calling inventory-service, retrying (attempt 2/3)',
  'connection refused by db-1:5432',
  'refused connection from 10.0.0.7:443',
  'payment authorised for order 99123 amount=42.50 currency=EUR',
  'payment declined for customer u60036',
  'mail to user@example.com failed: 550 mailbox unavailable',
  'fetching https://api.example.com/v2/items?page=3 took 1.25s',
  'rotated /var/log/app.log and /var/log/app.log.1',
  'deployed v1.2.3 (build 2024-11-06T12:00:00Z)',
  'cache-miss for key user:4411:profile',
  'it\'s a user\'s "quoted" thing with back\\slash',
  'Straße İstanbul ÉCOLE naïve café',
  'ERROR: NullPointerException at com.example.Foo.bar(Foo.java:42)',
  'x-request-id=3f2a-44b1 trace=abc123def456',
  '<b>bold</b> &amp; entity',
  'disk 91% full on /dev/sda1',
  'TIMEOUT Timeout timeout',
  'multi\nline\tmessage with\r\ncarriage returns',
  '1e10 3.14159 -42 +7 0x1F',
  'foo-bar-baz foo bar',
  'self-signed certificate in chain',
  'a b c d e f g',
]

const queries = [
  'timeout',
  'Timeout',
  'connection refused',
  '"connection refused"',
  '"refused connection"',
  'payment -declined',
  'declined or refused',
  '-timeout',
  'user@example.com',
  'example',
  'example.com',
  'api.example.com',
  '/var/log/app.log',
  'app',
  'log',
  'v1.2.3',
  '1.2.3',
  'inventory-service',
  'inventory',
  'service',
  'istanbul',
  'straße',
  'École',
  "it's",
  'back\\slash',
  '42',
  '-42',
  '3.14159',
  'foo-bar',
  '"foo bar"',
  '"a c"',
  'bold',
  '<b>',
  'self-signed',
  'signed certificate',
  '91%',
  'user:4411:profile',
  'or',
  '"" or timeout',
]

const metadataDocs: Record<string, unknown>[] = [
  {},
  { http: { status: 500, method: 'GET' } },
  { http: { status: '500' } },
  { http: { status: 500.0 } },
  { 'http.status': 500 },
  { http: { status: [500, 502] } },
  { http: [{ status: 500 }] },
  { http: { status: null } },
  { http: null },
  { user: { id: 'u1' }, 'user.id': 'u2' },
  { flag: true, off: false, n: 0, neg: -1.5, big: 1e21, text: 'true' },
  { list: [{ name: 'a' }, [{ name: 'deep' }], 'x'] },
  { deep: { a: { b: { c: 'v' } } }, 'deep.a': { 'b.c': 'w' } },
  { 'weird key': { 'with "quotes"': 'x' }, emoji: '😀', empty: '' },
  { constructor: 'own', __proto__x: 1 },
]

const attrFilters: SearchInput[] = [
  { 'attr.http.status': '500' },
  { 'attr.http.status': '500.0' },
  { 'attr.http.status': '5e2' },
  { 'attr.http.status': '*' },
  { 'attr.http.status': 'null' },
  { 'attr.http': '*' },
  { 'attr.http': 'null' },
  { '-attr.http.status': '500' },
  { '-attr.http.status': '*' },
  { 'attr.http.method': 'GET' },
  { 'attr.user.id': 'u1' },
  { 'attr.user.id': 'u2' },
  { 'attr.user.id': '*' },
  { 'attr.flag': 'true' },
  { 'attr.off': 'false' },
  { 'attr.n': '0' },
  { 'attr.n': '-0' },
  { 'attr.neg': '-1.50' },
  { 'attr.big': '1e21' },
  { 'attr.text': 'true' },
  { 'attr.list.name': '*' },
  { 'attr.list.name': 'a' },
  { 'attr.deep.a.b.c': 'v' },
  { 'attr.deep.a.b.c': 'w' },
  { 'attr.deep.a.b.c': '*' },
  { 'attr.weird key.with "quotes"': 'x' },
  { 'attr.emoji': '😀' },
  { 'attr.empty': '*' },
  { 'attr.constructor': 'own' },
  { 'attr.toString': '*' },
  { 'attr.http.status': ['500', '*'] },
]

/** A row's timestamp: whole seconds apart, with microseconds that milliseconds would lose. */
const at = (i: number) => NOW - i * 1_000_000 + 123

const record = (i: number, overrides: Partial<LogRecord> = {}): LogRecord => ({
  timestampMicros: at(i),
  service: ['api', 'web', 'billing', 'API'][i % 4]!,
  level: (['INFO', 'WARN', 'ERROR', 'DEBUG'] as const)[i % 4]!,
  message: messages[i % messages.length]!,
  metadata: JSON.stringify(metadataDocs[i % metadataDocs.length]),
  traceId: i % 5 === 0 ? '4bf92f3577b34da6a3ce929d0e0e4736' : '',
  spanId: '',
  host: i % 4 === 0 ? '' : `web-${i % 3}`,
  tags: [['env:prod'], ['env:prod', 'db'], [], ['env:dev', 'db']][i % 4]!,
  ...overrides,
})

const count = Math.max(messages.length, metadataDocs.length) * 2
await createLogWriter(db.sql).write(Array.from({ length: count }, (_, i) => ({ partition: i % 3, offset: BigInt(i), record: record(i) })))
const rows = await withContent(db.sql, await db.sql<LogRow[]>`select ${logColumns(db.sql)} from logs`)
const inputs: FilterInput[] = rows.map((row) => filterInput(logView(row)))

async function pgIds(search: ReturnType<typeof parseSearch>): Promise<string[]> {
  const found = await db.sql<{ timestamp: string; kafka_partition: number; kafka_offset: bigint }[]>`
    select ${timestampText(db.sql)} as timestamp, kafka_partition, kafka_offset from logs where ${searchConditions(db.sql, search)}`
  return found.map(formatLogId).sort()
}

describe('tail-filter.ts against PostgreSQL', () => {
  test('every filter but q: matchesFields selects exactly what searchConditions selects', async () => {
    const searches: SearchInput[] = [
      { service: 'api' },
      { level: 'error,warn' },
      { host: 'web-1' },
      { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' },
      { tags: 'env:prod' },
      { tags: ['env:prod', 'db'] },
      { from: '10s' },
      { to: '5s' },
      { from: new Date(NOW / 1000 - 7000).toISOString(), to: new Date(NOW / 1000 - 3000).toISOString() },
      // Bounds on a row's exact microsecond, inclusive, and one microsecond past it.
      { from: formatMicros(at(3)) },
      { from: formatMicros(at(3) + 1) },
      { to: formatMicros(at(5)) },
      { to: formatMicros(at(5) - 1) },
      { service: 'web', level: 'warn', tags: 'db' },
      ...attrFilters,
      ...attrFilters.map((filter) => ({ ...filter, service: 'billing' })),
    ]
    for (const input of searches) {
      const search = parseSearch(input, NOW)
      const filter = tailFilter(search)
      const js = inputs
        .filter((item) => matchesFields(filter, item))
        .map((item) => item.view.id)
        .sort()
      expect({ input, ids: js }).toEqual({ input, ids: await pgIds(search) })
    }
  })

  test('attr.<path>: matchesFields decides each metadata document as metadata @> / @? does', async () => {
    await db.sql`create temporary table tail_filter_docs (id integer, metadata jsonb)`
    await db.sql`insert into tail_filter_docs select i - 1, d::jsonb from unnest(${metadataDocs.map((doc) => JSON.stringify(doc))}::text[]) with ordinality as t(d, i)`
    let decided = 0
    for (const input of attrFilters) {
      for (const filter of parseAttributeFilters(input, [])) {
        const [row] = await db.sql<
          { ids: number[] }[]
        >`select coalesce(array_agg(id order by id), '{}') as ids from tail_filter_docs where ${attributeCondition(db.sql, filter)}`
        const search = { ...parseSearch({}, NOW), attr: [filter] }
        const js = metadataDocs.flatMap((metadata, id) =>
          matchesFields(tailFilter(search), { view: { ...inputs[0]!.view, metadata: JSON.parse(JSON.stringify(metadata)) }, micros: NOW, asciiLower: '' })
            ? [id]
            : [],
        )
        expect({ parameter: filter.parameter, value: filter.value, ids: js }).toEqual({ parameter: filter.parameter, value: filter.value, ids: row!.ids })
        decided++
      }
    }
    expect(decided).toBeGreaterThan(30)
  })

  test('q: the JavaScript test never rules out a message PostgreSQL matches, and rules out most ASCII messages it does not', async () => {
    const pairs = await db.sql<{ m: number; q: number; tsquery: string; matches: boolean }[]>`
      select m.i::int - 1 as m, q.i::int - 1 as q, websearch_to_tsquery('simple', q.t)::text as tsquery,
             to_tsvector('simple', m.t) @@ websearch_to_tsquery('simple', q.t) as matches
      from unnest(${messages}::text[]) with ordinality as m(t, i), unnest(${queries}::text[]) with ordinality as q(t, i)`
    let matched = 0
    let ruledOut = 0
    let asciiMisses = 0
    for (const pair of pairs) {
      const query = tailFilter(parseSearch({ q: queries[pair.q]! }, NOW), pair.tsquery).query!
      const message = messages[pair.m]!
      const may = queryMayMatch(query, { view: { ...inputs[0]!.view, message }, micros: NOW, asciiLower: asciiLower(message) })
      if (pair.matches) {
        matched++
        expect({ message, q: queries[pair.q], tsquery: pair.tsquery, may }).toEqual({ message, q: queries[pair.q], tsquery: pair.tsquery, may: true })
      } else if (asciiLower(message) !== undefined) {
        asciiMisses++
        if (!may) ruledOut++
      }
    }
    expect(matched).toBeGreaterThan(30)
    expect(ruledOut / asciiMisses).toBeGreaterThan(0.8)
  })

  test("q: the store's answer (PostgreSQL on the tsquery's text form) is /query's answer for every message and query", async () => {
    const store = createTailStore(db.sql)
    const tsqueries = await Promise.all(queries.map((q) => store.tsquery(q)))
    const keys = rows.map((row) => ({ timestamp: row.timestamp, partition: row.kafka_partition, offset: row.kafka_offset }))
    const answers = await store.matchQueries(keys, tsqueries)
    for (const [index, q] of queries.entries()) {
      const viaStore = rows.flatMap((row, k) => (answers[k]!.includes(index) ? [formatLogId(row)] : [])).sort()
      expect({ q, ids: viaStore }).toEqual({ q, ids: await pgIds(parseSearch({ q }, NOW)) })
    }
  })
})
