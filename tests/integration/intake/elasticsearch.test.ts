import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { Client, HttpConnection } from '@elastic/elasticsearch'
import { type StoredRow, startIntakeStack } from '../../support/intake-stack.ts'

/**
 * The Elasticsearch bulk intake end to end (Kafka, PostgreSQL, /query), driven by the real
 * @elastic/elasticsearch v8 client: its handshake and product check, `helpers.bulk` and `bulk`, per-item
 * statuses in order, ECS fields mapped and every other field kept in metadata; raw NDJSON for what the
 * client never sends (broken lines, an empty body).
 *
 * The client's default connection (UndiciConnection) fails under Bun 1.4.5 before any request is made
 * (`undefined is not an object (evaluating 'response.headers')`: Bun's built-in `undici` has no working
 * Pool#request), so the client runs here with its node:http connection (`Connection: HttpConnection`, a
 * documented option), and once with its default connection under Node in a child process.
 */

setDefaultTimeout(60_000)
const stack = await startIntakeStack()
const client = new Client({ node: stack.httpUrl, Connection: HttpConnection })

/** The client as Node users run it (default undici connection): info(), then one bulk; what it saw, as JSON. */
const NODE_CLIENT = `
const { Client, UndiciConnection } = await import('@elastic/elasticsearch')
const client = new Client({ node: process.argv[1] })
const info = await client.info()
const bulk = await client.bulk({ operations: [{ create: { _index: 'logs' } }, { message: 'from node', 'service.name': 'es-node' }] })
const connection = client.connectionPool.connections[0] instanceof UndiciConnection ? 'undici' : 'other'
console.log(JSON.stringify({ connection, version: info.version.number, errors: bulk.errors, statuses: bulk.items.map((item) => Object.values(item)[0].status) }))
await client.close()
`

const byMessage = (logs: StoredRow[]) => Object.fromEntries(logs.map((log) => [log.message, log]))
/** A recent RFC 3339 time with microseconds, as Beats send @timestamp. */
const recent = (agoMs: number, micros = '456') => new Date(Date.now() - agoMs).toISOString().replace('Z', `${micros}Z`)

const bulkRaw = (body: string, path = '/_bulk') =>
  fetch(`${stack.httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })
const ndjson = (...lines: unknown[]) => `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`

type Item = Record<string, { status: number; _index: string; error?: { type: string; reason: string } }>
const itemOf = (item: Item) => Object.values(item)[0]!

describe('the handshake', () => {
  test('client.info(): the version banner, with the X-Elastic-Product header the client insists on', async () => {
    const info = await client.info()
    expect(info.version.number).toStartWith('8.')
    expect(info.tagline).toBe('You Know, for Search')
  })

  test("probes: ping (HEAD /), the license, an index template, rsyslog's health check: each answered with the product header", async () => {
    expect(await client.ping()).toBe(true)
    expect(await client.license.get()).toEqual({} as never)
    expect(await client.indices.putIndexTemplate({ name: 'logs-template', index_patterns: ['logs-*'], template: { settings: {} } })).toEqual({} as never)
    for (const [method, path] of [
      ['HEAD', '/'],
      ['GET', '/_license'],
      ['PUT', '/_index_template/x'],
      ['GET', '/_ilm/policy/logs'],
      // rsyslog's omelasticsearch checks this before its first bulk.
      ['HEAD', '/_cat/health'],
    ] as const) {
      const response = await fetch(`${stack.httpUrl}${path}`, { method, body: method === 'PUT' ? '{"index_patterns":["x-*"]}' : undefined })
      expect({ method, path, status: response.status, product: response.headers.get('x-elastic-product') }).toEqual({
        method,
        path,
        status: 200,
        product: 'Elasticsearch',
      })
      expect(await response.text()).toBe(method === 'HEAD' ? '' : '{}')
    }
  })
})

describe('the client under Node with its default connection', () => {
  test('info() passes the product check and a bulk is stored', async () => {
    const node = Bun.which('node')
    if (!node) throw new Error('this test runs the Elasticsearch client under Node: install Node (>= 18) on the PATH')
    const child = Bun.spawn([node, '--input-type=module', '-e', NODE_CLIENT, stack.httpUrl], {
      cwd: `${import.meta.dir}/../../..`,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    expect({ code, err }).toEqual({ code: 0, err: '' })
    expect(JSON.parse(out)).toEqual({ connection: 'undici', version: expect.stringMatching(/^8\./), errors: false, statuses: [201] })
    expect((await stack.storedLogs(1, '/query?service=es-node'))[0]!.message).toBe('from node')
  })
})

describe('bulk with the client', () => {
  test('helpers.bulk stores ECS documents: message, @timestamp, log.level, service.name, host.name, trace.id, span.id mapped, every other field in metadata', async () => {
    const at = recent(60_000)
    const documents = [
      {
        '@timestamp': at,
        message: 'GET /items 200',
        log: { level: 'warn', logger: 'http' },
        service: { name: 'es-helpers', version: '1.2.3' },
        host: { name: 'web-1', ip: ['10.0.0.1'] },
        trace: { id: 'ab'.repeat(16) },
        span: { id: 'cd'.repeat(8) },
        http: { request: { method: 'GET' }, response: { status_code: 200 } },
        'user.id': 'u1',
        tags: ['edge', 'eu'],
      },
      {
        '@timestamp': recent(30_000),
        message: 'dotted keys',
        'log.level': 'error',
        'service.name': 'es-helpers',
        'host.name': 'web-2',
        labels: { team: 'core' },
      },
      { '@timestamp': recent(10_000), message: 'no level stated', 'service.name': 'es-helpers' },
    ]
    const dropped: unknown[] = []
    const stats = await client.helpers.bulk({
      datasource: documents,
      onDocument: () => ({ create: { _index: 'logs-app' } }),
      onDrop: (doc) => dropped.push(doc),
    })
    expect(dropped).toEqual([])
    expect(stats).toMatchObject({ total: 3, successful: 3, failed: 0, aborted: false })

    const logs = byMessage(await stack.storedLogs(3, '/query?service=es-helpers'))
    expect(logs['GET /items 200']).toMatchObject({
      timestamp: at,
      service: 'es-helpers',
      level: 'WARN',
      host: 'web-1',
      trace_id: 'ab'.repeat(16),
      span_id: 'cd'.repeat(8),
      tags: ['edge', 'eu'],
    })
    expect(logs['GET /items 200']!.metadata).toEqual({
      log: { logger: 'http' },
      service: { version: '1.2.3' },
      host: { ip: ['10.0.0.1'] },
      http: { request: { method: 'GET' }, response: { status_code: 200 } },
      'user.id': 'u1',
    })
    expect(logs['dotted keys']).toMatchObject({ level: 'ERROR', host: 'web-2', metadata: { labels: { team: 'core' } } })
    expect(logs['no level stated']).toMatchObject({ level: 'INFO', metadata: {} })
  })

  test('helpers.bulk: a document that can never be stored is dropped with its 400 (not retried); the rest are stored', async () => {
    const dropped: { status: number; error: unknown; document: unknown }[] = []
    const stats = await client.helpers.bulk({
      datasource: [
        { message: 'kept a', 'service.name': 'es-drop' },
        { message: 'bad', 'service.name': 'es-drop', level: 'loud' },
        { message: 'kept b', 'service.name': 'es-drop' },
      ],
      onDocument: () => ({ index: { _index: 'logs' } }),
      onDrop: (doc) => dropped.push(doc),
      retries: 2,
      wait: 10,
    })
    expect(stats).toMatchObject({ total: 3, successful: 2, failed: 1, retry: 0 })
    expect(dropped).toHaveLength(1)
    expect(dropped[0]).toMatchObject({ status: 400, error: { type: 'document_parsing_exception' }, document: { message: 'bad' } })
    expect((dropped[0]!.error as { reason: string }).reason).toStartWith('level')
    expect((await stack.storedLogs(2, '/query?service=es-drop')).map((log) => log.message).sort()).toEqual(['kept a', 'kept b'])
  })

  test('a document older than the retention window beside a good one: its item 400 naming RETENTION_DAYS, the good one 201 and stored', async () => {
    const old = new Date(Date.now() - 8 * 86_400_000).toISOString() // the stack runs with RETENTION_DAYS=7
    const response = await client.bulk({
      operations: [
        { create: { _index: 'logs' } },
        { message: 'too old', 'service.name': 'es-old', '@timestamp': old },
        { create: { _index: 'logs' } },
        { message: 'recent', 'service.name': 'es-old' },
      ],
    })
    expect(response.errors).toBe(true)
    const [refused, stored] = response.items.map((item) => itemOf(item as Item))
    expect(refused).toMatchObject({ status: 400, error: { type: 'document_parsing_exception' } })
    expect(refused!.error!.reason).toContain('(RETENTION_DAYS=7); the next retention pass would delete it')
    expect(stored).toMatchObject({ status: 201 })
    expect((await stack.storedLogs(1, '/query?service=es-old')).map((log) => log.message)).toEqual(['recent'])
  })

  test('client.bulk with a bad document beside good ones: errors true, one item per action in order, the bad one 400 with type and reason, the others 201 and stored', async () => {
    // Epoch milliseconds an hour ago, with a millisecond part that must survive.
    const epochMs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + 123
    const response = await client.bulk({
      operations: [
        { create: { _index: 'logs-a', _id: 'given-id' } },
        { message: 'first good', 'service.name': 'es-mixed', level: 'debug' },
        { index: { _index: 'logs-b' } },
        { message: 'too loud', 'service.name': 'es-mixed', level: 'loud' },
        { create: { _index: 'logs-c' } },
        { message: 'second good', 'service.name': 'es-mixed', '@timestamp': epochMs },
      ],
    })
    expect(response.errors).toBe(true)
    expect(response.items.map((item) => Object.keys(item)[0])).toEqual(['create', 'index', 'create'])
    const [first, bad, second] = response.items.map((item) => itemOf(item as Item))
    expect(first).toMatchObject({ status: 201, _index: 'logs-a', _id: 'given-id', result: 'created' })
    expect(bad).toMatchObject({ status: 400, _index: 'logs-b', error: { type: 'document_parsing_exception' } })
    expect(bad!.error!.reason).toContain('level')
    expect(second).toMatchObject({ status: 201, _index: 'logs-c' })

    const logs = byMessage(await stack.storedLogs(2, '/query?service=es-mixed&from=2h'))
    expect(Object.keys(logs).sort()).toEqual(['first good', 'second good'])
    expect(logs['first good']!.level).toBe('DEBUG')
    // Epoch milliseconds, as ES accepts for a date field.
    expect(logs['second good']!.timestamp).toBe(new Date(epochMs).toISOString().replace('Z', '000Z'))
  })

  test('a gzip-compressed bulk from the client (compression: true) is stored', async () => {
    const gzipClient = new Client({ node: stack.httpUrl, Connection: HttpConnection, compression: true })
    const response = await gzipClient.bulk({ operations: [{ create: { _index: 'logs' } }, { message: 'zipped', 'service.name': 'es-gzip' }] })
    expect(response.errors).toBe(false)
    expect((await stack.storedLogs(1, '/query?service=es-gzip'))[0]!.message).toBe('zipped')
    await gzipClient.close()
  })
})

describe('malformed NDJSON', () => {
  test('a broken document line fails only its item; /{index}/_bulk gives the index to actions without one', async () => {
    const response = await bulkRaw(
      ndjson(
        { create: {} },
        { message: 'before', 'service.name': 'es-raw' },
        { create: {} },
        '{"message": broken',
        { create: {} },
        { message: 'after', 'service.name': 'es-raw' },
      ),
      '/raw-index/_bulk',
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch')
    const body = (await response.json()) as { errors: boolean; items: Item[] }
    expect(body.errors).toBe(true)
    expect(body.items.map((item) => itemOf(item).status)).toEqual([201, 400, 201])
    expect(body.items.map((item) => itemOf(item)._index)).toEqual(['raw-index', 'raw-index', 'raw-index'])
    expect(itemOf(body.items[1]!).error).toMatchObject({ type: 'document_parsing_exception' })
    expect(itemOf(body.items[1]!).error!.reason).toContain('not valid JSON')
    expect((await stack.storedLogs(2, '/query?service=es-raw')).map((log) => log.message).sort()).toEqual(['after', 'before'])
  })

  test('update and delete are refused per item as unsupported; the create beside them is stored', async () => {
    const response = await bulkRaw(
      ndjson({ delete: { _id: '1' } }, { update: { _id: '2' } }, { doc: { a: 1 } }, { create: {} }, { message: 'created', 'service.name': 'es-ops' }),
    )
    const body = (await response.json()) as { errors: boolean; items: Item[] }
    expect(body.items.map((item) => [Object.keys(item)[0], itemOf(item).status, itemOf(item).error?.type])).toEqual([
      ['delete', 400, 'action_request_validation_exception'],
      ['update', 400, 'action_request_validation_exception'],
      ['create', 201, undefined],
    ])
    expect((await stack.storedLogs(1, '/query?service=es-ops'))[0]!.message).toBe('created')
  })

  test('a broken action line: the whole request is a 400 Elasticsearch error naming the line, and nothing of it is stored', async () => {
    const response = await bulkRaw(ndjson({ create: {} }, { message: 'never', 'service.name': 'es-broken' }, '{"create": oops', { message: 'x' }))
    expect(response.status).toBe(400)
    expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch')
    const body = (await response.json()) as { status: number; error: { type: string; reason: string; root_cause: unknown[] } }
    expect(body.status).toBe(400)
    expect(body.error.type).toBe('illegal_argument_exception')
    expect(body.error.reason).toContain('line 3')
    expect(body.error.root_cause).toEqual([{ type: 'illegal_argument_exception', reason: body.error.reason }])
    // The client surfaces it as a ResponseError with that body.
    const thrown = await client.transport
      .request({ method: 'POST', path: '/_bulk', bulkBody: ['{"index": nope', '{}'] })
      .then(() => undefined)
      .catch((error: { meta?: { statusCode?: number; body?: { error?: { reason?: string } } } }) => error)
    expect(thrown?.meta?.statusCode).toBe(400)
    expect(thrown?.meta?.body?.error?.reason).toContain('line 1')

    const after = await bulkRaw(ndjson({ create: {} }, { message: 'next one', 'service.name': 'es-broken' }))
    expect(after.status).toBe(200)
    const stored = await stack.storedLogs(1, '/query?service=es-broken')
    expect(stored.map((log) => log.message)).toEqual(['next one'])
  })

  test('an empty body, or only blank lines: 400 Elasticsearch error, never an empty answer', async () => {
    for (const body of ['', '\n\n  \n']) {
      const response = await bulkRaw(body)
      expect(response.status).toBe(400)
      const answer = (await response.json()) as { status: number; error: { type: string; reason: string } }
      expect(answer).toMatchObject({ status: 400, error: { type: 'illegal_argument_exception' } })
      expect(answer.error.reason).toContain('no actions')
    }
  })
})
