import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { connect } from 'node:net'
import { LISTENER_APPLICATION_NAME } from '../../../../src/lib/tail/tail-listener.ts'
import { eventually } from '../../../support/infra.ts'
import { SseParser } from '../../../support/sse-reader.ts'
import { startTailServer, startTailStack, type TailClient } from '../../../support/tail-stack.ts'

setDefaultTimeout(60_000)

/** GET /tail against the real stack: logs sent through the HTTP intake, stored by the consumer, announced by its writes. */
const stack = await startTailStack()

let run = 0
/** A service name of its own per test, so tests sharing the stack never see each other's logs. */
const service = () => `svc-${++run}-${Math.random().toString(36).slice(2, 6)}`

const received = (client: TailClient, count: number, what = `${count} logs`) =>
  eventually(() => (client.logs().length >= count ? client.logs() : undefined), 30_000, what)

describe('GET /tail', () => {
  test('streams each stored log once, in the /query shape with its id as the event id, oldest first within a write', async () => {
    const name = service()
    const client = await stack.open(`/tail?service=${name}`)
    expect(client.status).toBe(200)
    const base = Date.parse('2026-11-27T10:00:00Z')
    // One request, one service (one partition): one write. Timestamps out of order on purpose.
    const order = [3, 0, 4, 1, 2]
    await stack.send(
      order.map((i) => ({ timestamp: new Date(base + i * 1000).toISOString(), message: `log ${i}`, level: 'info' })),
      { service: name },
    )
    const first = await received(client, 5)
    expect(first.map((log) => log.message)).toEqual(['log 0', 'log 1', 'log 2', 'log 3', 'log 4'])
    expect(client.parser.events.map((event) => event.lastEventId)).toEqual(first.map((log) => log.id))

    const queried = (await stack.query(`/query?service=${name}`)).logs
    const byId = new Map(queried.map((log) => [log.id, log]))
    for (const log of first) expect(log).toEqual(byId.get(log.id)!)

    // A later write comes after, whatever its timestamps: the stream is in the order logs are stored.
    await stack.send([{ timestamp: new Date(base - 60_000).toISOString(), message: 'older but later' }], { service: name })
    const all = await received(client, 6)
    expect(all.map((log) => log.message).at(-1)).toBe('older but later')
    expect(new Set(all.map((log) => log.id)).size).toBe(6)
  })

  test('every filter selects what /query selects for it: service, level, host, trace_id, tags, q (words, phrases, or, -excluded, tokens), attr', async () => {
    const name = service()
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736'
    const logs = [
      { level: 'error', host: 'web-1', message: 'upstream timeout after 3000ms calling inventory-service', tags: ['env:prod'], http: { status: 500 } },
      { level: 'warn', host: 'web-2', message: 'connection refused by db-1:5432, retrying', tags: ['env:prod', 'db'], user: { id: 'u1' } },
      { level: 'info', host: 'web-2', message: 'payment authorised for order 99123', 'user.id': 'u2', http: { status: '500' } },
      { level: 'info', host: 'web-3', message: 'payment declined for customer u60036', trace_id: trace, http: { status: 404 } },
      { level: 'error', host: 'web-1', message: 'refused connection from 10.0.0.7', tags: ['env:dev'], region: 'eu' },
      {
        level: 'error',
        host: 'web-1',
        message: 'Timeout talking to user@example.com via https://mail.example.com/send',
        region: 'eu',
        http: { status: 500.0 },
      },
      { level: 'debug', message: 'cache warm: /var/log/app.log rotated, v1.2.3 deployed', http: { codes: [500] } },
      { level: 'fatal', host: 'web-3', message: 'Straße İstanbul ÉCOLE timeout', list: [{ name: 'a' }] },
    ]
    const filters = [
      'level=error,warn',
      'host=web-2',
      `trace_id=${trace}`,
      'tags=env:prod',
      'tags=env:prod&tags=db',
      'q=timeout',
      'q="connection refused"',
      'q=payment -declined',
      'q=declined or refused',
      'q=user@example.com',
      'q=example',
      'q=/var/log/app.log',
      'q=istanbul',
      'q=inventory-service',
      'attr.http.status=500',
      'attr.user.id=*',
      'attr.user.id=u2',
      '-attr.http.status=500',
      'attr.list.name=*',
      'level=error&q=timeout&attr.region=eu',
    ]
    const everything = await stack.open(`/tail?service=${name}`)
    const clients = await Promise.all(filters.map((filter) => stack.open(`/tail?service=${name}&${filter}`)))
    for (const client of clients) expect(client.status).toBe(200)
    await stack.send(logs, { service: name })
    await received(everything, logs.length)
    for (const [index, filter] of filters.entries()) {
      const expected = (await stack.query(`/query?service=${name}&${filter}`)).logs.map((log) => log.message).sort()
      const got = await eventually(
        () => {
          const messages = clients[index]!.logs().map((log) => log.message)
          return messages.length >= expected.length ? messages.sort() : undefined
        },
        10_000,
        `${expected.length} logs for ${filter}`,
      )
      expect({ filter, got }).toEqual({ filter, got: expected })
    }
    // Every filter above selects something and leaves something out, so none of them passes by accident;
    // but q=example: "example" is in two messages, yet only inside tokens PostgreSQL keeps whole (a host,
    // an e-mail address), so /query finds nothing, and neither may the tail.
    const counts = Object.fromEntries(filters.map((filter, index) => [filter, clients[index]!.logs().length]))
    for (const [filter, count] of Object.entries(counts)) {
      if (filter === 'q=example') expect(count).toBe(0)
      else expect({ filter, count: count > 0 && count < logs.length }).toEqual({ filter, count: true })
    }
  })

  test('Last-Event-ID (header, or last_event_id) resumes after a reconnect without gaps or repeats; an id it does not hold says so', async () => {
    const name = service()
    const batch = (label: string) => [1, 2, 3].map((n) => ({ message: `${label} ${n}` }))
    const first = await stack.open(`/tail?service=${name}`)
    await stack.send(batch('one'), { service: name })
    await received(first, 3)
    const lastSeen = first.parser.lastEventId
    const firstId = first.parser.events[0]!.lastEventId
    await first.close()

    await stack.send(batch('two'), { service: name })
    await eventually(async () => ((await stack.query(`/query?service=${name}`)).logs.length === 6 ? true : undefined), 30_000, 'batch two stored')

    const resumed = await stack.open(`/tail?service=${name}`, { 'Last-Event-ID': lastSeen })
    const byParameter = await stack.open(`/tail?service=${name}&last_event_id=${firstId}`)
    await received(resumed, 3)
    await stack.send(batch('three'), { service: name })
    const messages = (await received(resumed, 6)).map((log) => log.message)
    expect(messages).toEqual(['two 1', 'two 2', 'two 3', 'three 1', 'three 2', 'three 3'])
    expect((await received(byParameter, 8)).map((log) => log.message)).toEqual(['one 2', 'one 3', ...messages])

    const unknown = await stack.open(`/tail?service=${name}`, { 'Last-Event-ID': '9-123456789' })
    await eventually(() => unknown.parser.events[0], 10_000, 'a first event')
    expect(unknown.parser.events[0]!.event).toBe('gap')
    expect(JSON.parse(unknown.parser.events[0]!.data).reason).toBe('resume_unavailable')
  })

  test('a client that does not read costs at most its queue; the logs that did not fit arrive as event: dropped with their count', async () => {
    const name = service()
    const queueBytes = 64 * 1024
    const server = await startTailServer(stack.db, { clientQueueBytes: queueBytes })
    const socket = connect(Number(new URL(server.baseUrl).port), '127.0.0.1')
    socket.setEncoding('utf8')
    socket.pause()
    socket.write(`GET /tail?service=${name} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    await eventually(() => (server.tail.hub.stats().clients === 1 ? true : undefined), 10_000, 'the client registered')
    // Logs of 512 KiB, 8 at a time, until the client's queue overflows: how much the kernel's socket
    // buffers take first depends on the machine.
    const big = 'x'.repeat(512 * 1024)
    const stored = async () => (await stack.db.sql<{ n: number }[]>`select count(*)::int as n from logs where service = ${name}`)[0]!.n
    let sent = 0
    const held = await eventually(
      async () => {
        await stack.send(
          Array.from({ length: 8 }, (_, i) => ({ message: `big ${sent + i} ${big}` })),
          { service: name },
        )
        sent += 8
        await eventually(async () => ((await stored()) === sent ? true : undefined), 30_000, `${sent} stored`)
        await eventually(() => (server.tail.hub.stats().pendingAnnouncements === 0 ? true : undefined), 10_000, 'announcements read')
        const stats = server.tail.hub.stats()
        return stats.dropped > 0 ? stats : undefined
      },
      120_000,
      'logs dropped for the client',
    )
    // What waits for it is its queue, or one log when a single log is larger than the queue.
    expect(held.queuedBytes).toBeLessThanOrEqual(big.length + 1024)

    const parser = new SseParser()
    socket.on('data', (chunk: string) => parser.push(chunk))
    socket.resume()
    const events = await eventually(
      () => {
        const logs = parser.events.filter((event) => event.event === 'message').length
        const dropped = parser.events
          .filter((event) => event.event === 'dropped')
          .reduce((sum, event) => sum + (JSON.parse(event.data) as { dropped: number }).dropped, 0)
        return logs + dropped === sent ? { logs, dropped } : undefined
      },
      30_000,
      'every log received or counted as dropped',
    )
    expect(events.dropped).toBeGreaterThan(0)
    expect(events.dropped).toBe(server.tail.hub.stats().dropped)
    socket.destroy()
    await server.stop()
  }, 180_000)

  test('above TAIL_MAX_CLIENTS a new stream is refused with 429 and a JSON error; once one leaves, another may open', async () => {
    const server = await startTailServer(stack.db, { maxClients: 2 })
    const first = await server.open('/tail')
    const second = await server.open('/tail?level=error')
    expect([first.status, second.status]).toEqual([200, 200])
    const refused = await fetch(`${server.baseUrl}/tail`)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('content-type')).toContain('application/json')
    expect(await refused.json()).toEqual({ error: 'TAIL_LIMIT', message: expect.stringContaining('TAIL_MAX_CLIENTS') })
    await first.close()
    await eventually(() => (server.tail.hub.stats().clients === 1 ? true : undefined), 10_000, 'the first client gone')
    const third = await server.open('/tail')
    expect(third.status).toBe(200)
    await server.stop()
  })

  test('bad filters are a 400 naming the parameter, as on /query; paging parameters mean nothing for a stream', async () => {
    for (const [path, parameter] of [
      ['/tail?level=loud', 'level'],
      ['/tail?servce=web', 'servce'],
      ['/tail?limit=10', 'limit'],
      ['/tail?attr.a..b=1', 'attr.a..b'],
    ] as const) {
      const response = await fetch(`${stack.baseUrl}${path}`)
      expect([path, response.status, ((await response.json()) as { parameter: string }).parameter]).toEqual([path, 400, parameter])
    }
  })

  test('an idle stream stays open past the server’s idle timeout and gets a heartbeat at least every TAIL_HEARTBEAT_MS', async () => {
    // Bun.serve closes a connection after idleTimeout (2 s here) even while writing to it; /tail lifts it
    // for its own requests. Heartbeats (every 250 ms here) are for proxies, which close silent connections.
    const heartbeatMs = 250
    const server = await startTailServer(stack.db, { heartbeatMs }, { idleTimeout: 2 })
    const client = await server.open(`/tail?service=${service()}`)
    let endedAfter: number | undefined
    const started = performance.now()
    void client.done.then(() => {
      endedAfter = performance.now() - started
    })
    await eventually(() => (performance.now() - started > 6000 || endedAfter !== undefined ? true : undefined), 20_000, '6 s')
    const expected = Math.floor((performance.now() - started) / heartbeatMs) - 2
    // The first frame is a comment too, not a heartbeat.
    expect({ endedAfter, enoughHeartbeats: client.parser.comments - 1 >= expected }).toEqual({ endedAfter: undefined, enoughHeartbeats: true })
    await server.stop()
  })

  test('when the LISTEN connection is lost, live streams get event: gap, and new logs flow again once it is back', async () => {
    const name = service()
    const client = await stack.open(`/tail?service=${name}`)
    await stack.send([{ message: 'before' }], { service: name })
    await received(client, 1)
    const [terminated] = await stack.db.sql<{ n: number }[]>`
      select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
      where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`
    expect(terminated!.n).toBeGreaterThan(0)
    await eventually(() => client.parser.events.find((event) => event.event === 'gap'), 20_000, 'a gap event')
    expect(JSON.parse(client.parser.events.find((event) => event.event === 'gap')!.data).reason).toBe('listen_interrupted')
    // Logs sent once it listens again arrive; a log stored in the gap may be missing (that is what the event says).
    await eventually(
      async () => {
        await stack.send([{ message: 'after' }], { service: name })
        return eventually(() => (client.logs().some((log) => log.message === 'after') ? true : undefined), 2000, 'after').catch(() => undefined)
      },
      30_000,
      'a log after the gap',
    )
    expect(client.parser.events.map((event) => event.event).slice(0, 2)).toEqual(['message', 'gap'])
  })
})
