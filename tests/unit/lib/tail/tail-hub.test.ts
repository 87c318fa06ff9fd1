import { afterEach, describe, expect, test } from 'bun:test'
import { TailLimitError, TailUnavailableError } from '../../../../src/lib/errors.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import { formatMicros } from '../../../../src/lib/log-entry.ts'
import type { FullLogRow } from '../../../../src/lib/log-rows.ts'
import { parseSearch, type SearchInput } from '../../../../src/lib/log-search.ts'
import { type Announcement, announcements } from '../../../../src/lib/tail/announcement.ts'
import { createTailHub, type TailHub } from '../../../../src/lib/tail/tail-hub.ts'
import type { LogKey, TailStore } from '../../../../src/lib/tail/tail-store.ts'
import { readSse } from '../../../support/sse-reader.ts'

const T0 = Date.parse('2026-11-27T12:00:00Z') * 1000

/**
 * A store over an in-memory table. matchQueries stands in for PostgreSQL's @@ with "the message holds
 * every quoted word of the tsquery", enough to see which logs the hub asks about and what it does with
 * the answers.
 */
function fakeStore() {
  const table = new Map<string, FullLogRow>()
  const asked: string[][] = []
  let failReads = false
  let gate: Promise<void> | undefined
  const store: TailStore = {
    async *read(list: readonly Announcement[]) {
      if (failReads) throw new Error('database down')
      const rows: FullLogRow[] = []
      for (const { runs } of list)
        for (const run of runs)
          for (let offset = run.first; offset <= run.last; offset++) {
            const row = table.get(`${run.partition}-${offset}`)
            if (row) rows.push(row)
          }
      yield rows
    },
    async matchQueries(keys: readonly LogKey[], tsqueries: readonly string[]) {
      await gate
      asked.push(keys.map((key) => `${key.partition}-${key.offset}`))
      return keys.map((key) => {
        const message = table.get(`${key.partition}-${key.offset}`)!.message.toLowerCase()
        return tsqueries.flatMap((query, index) => ((query.match(/'[^']*'/g) ?? []).every((word) => message.includes(word.slice(1, -1))) ? [index] : []))
      })
    },
    async tsquery(q: string) {
      return q
        .split(' ')
        .map((word) => `'${word.toLowerCase()}'`)
        .join(' & ')
    },
  }
  let offset = 0
  /** Stores logs in the table and returns the payload a consumer would notify. */
  const store_ = (...logs: Partial<FullLogRow>[]): string[] => {
    const keys = logs.map((log) => {
      const row: FullLogRow = {
        timestamp: formatMicros(T0 + offset),
        service: 'api',
        level: 'INFO',
        message: 'hello',
        metadata: '{}',
        bytes: 10,
        trace_id: null,
        span_id: null,
        host: null,
        tags: [],
        ingested_at: formatMicros(T0 + offset),
        kafka_partition: 0,
        kafka_offset: BigInt(offset),
        ...log,
      }
      offset++
      table.set(`${row.kafka_partition}-${row.kafka_offset}`, row)
      return { partition: row.kafka_partition, offset: row.kafka_offset, micros: T0 + offset }
    })
    return announcements(keys)
  }
  return {
    store,
    insert: store_,
    asked,
    failReads: (on: boolean) => {
      failReads = on
    },
    /** Holds every question to PostgreSQL (matchQueries) until the returned function is called. */
    holdQueries: () => {
      let release: () => void = () => {}
      gate = new Promise((resolve) => {
        release = resolve
      })
      return () => {
        gate = undefined
        release()
      }
    },
  }
}

const quiet = createLogger({ service: 'test' }, { write: () => {} })
let hubs: TailHub[] = []
afterEach(async () => {
  await Promise.all(hubs.map((hub) => hub.stop()))
  hubs = []
})

function hub(settings: Partial<Parameters<typeof createTailHub>[0]> = {}) {
  const fake = fakeStore()
  const created = createTailHub({
    store: fake.store,
    log: quiet,
    maxClients: 10,
    clientQueueBytes: 1 << 20,
    ringBytes: 1 << 20,
    heartbeatMs: 60_000,
    ...settings,
  })
  hubs.push(created)
  /** Opens a client and reads its stream in the background. */
  const open = async (search: SearchInput = {}, lastEventId?: string) => {
    const tailer = await created.open(parseSearch(search), lastEventId)
    return { tailer, ...readSse(tailer.stream) }
  }
  const announce = (payloads: string[]) => {
    for (const payload of payloads) created.announce(payload)
  }
  return { hub: created, ...fake, open, announce }
}

/** Waits (polling the event loop, never a fixed delay) until `check` holds. */
async function until(check: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  throw new Error(`never: ${what}`)
}

/** Each event as its log's message, or `gap:<reason>`. */
const messages = (parser: { events: { event: string; data: string }[] }) =>
  parser.events.map((event) => {
    const data = JSON.parse(event.data) as { message: string; reason: string }
    return event.event === 'message' ? data.message : `${event.event}:${data.reason}`
  })

describe('TailHub: one reader feeding every client', () => {
  test('each announced log reaches every client whose filters it matches, in the order announced, once', async () => {
    const { open, announce, insert } = hub()
    const all = await open()
    const web = await open({ service: 'web', level: 'error' })
    announce(insert({ message: 'a', service: 'web', level: 'ERROR' }, { message: 'b' }))
    announce(insert({ message: 'c', service: 'web', level: 'ERROR' }))
    await until(() => all.parser.events.length === 3 && web.parser.events.length === 2)
    expect(messages(all.parser)).toEqual(['a', 'b', 'c'])
    expect(messages(web.parser)).toEqual(['a', 'c'])
    // Each event's id is its log's id (what Last-Event-ID resumes from): partition, offset, then the time.
    expect(all.parser.events.map((event) => event.lastEventId)).toEqual(all.parser.events.map((event) => (JSON.parse(event.data) as { id: string }).id))
    expect(all.parser.events.map((event) => event.lastEventId.split('-').slice(0, 2).join('-'))).toEqual(['0-0', '0-1', '0-2'])
  })

  test('clients with the same filters each get every log they match (their decisions are shared)', async () => {
    const { open, announce, insert } = hub()
    const clients = await Promise.all([open({ level: 'error' }), open({ level: 'error' }), open({ level: 'ERROR,fatal' })])
    announce(insert({ message: 'e1', level: 'ERROR' }, { message: 'i1' }, { message: 'f1', level: 'FATAL' }))
    await until(() => clients[0]!.parser.events.length === 1 && clients[1]!.parser.events.length === 1 && clients[2]!.parser.events.length === 2)
    expect(clients.map((client) => messages(client.parser))).toEqual([['e1'], ['e1'], ['e1', 'f1']])
  })

  test('Last-Event-ID resumes with what followed it (filtered), nothing before it again', async () => {
    const { open, announce, insert } = hub()
    const first = await open({ service: 'api' })
    announce(insert({ message: 'one' }, { message: 'other', service: 'web' }, { message: 'two' }))
    await until(() => first.parser.events.length === 2)
    const lastSeen = first.parser.events[0]!.lastEventId
    await first.cancel()
    announce(insert({ message: 'three' }))
    const again = await open({ service: 'api' }, lastSeen)
    await until(() => again.parser.events.length === 2)
    announce(insert({ message: 'four' }))
    await until(() => again.parser.events.length === 3)
    expect(messages(again.parser)).toEqual(['two', 'three', 'four'])
  })

  test('an id it does not hold starts the client live, after a gap event saying so', async () => {
    const { open, announce, insert } = hub()
    const client = await open({}, '2-999')
    announce(insert({ message: 'new' }))
    await until(() => client.parser.events.length === 2)
    expect(messages(client.parser)[0]).toBe('gap:resume_unavailable')
    expect(messages(client.parser)[1]).toBe('new')
  })

  test('q: PostgreSQL is asked only about logs whose message holds the words, and its answer decides', async () => {
    const { open, announce, insert, asked } = hub()
    const client = await open({ q: 'payment declined' })
    announce(insert({ message: 'payment declined by bank' }, { message: 'payment accepted' }, { message: 'card declined payment' }, { message: 'hello' }))
    await until(() => client.parser.events.length === 2)
    expect(messages(client.parser)).toEqual(['payment declined by bank', 'card declined payment'])
    expect(asked).toEqual([['0-0', '0-2']])
  })

  test('clients without q get a page before PostgreSQL has answered for the clients with one', async () => {
    const fake = hub()
    const plain = await fake.open()
    const searching = await fake.open({ q: 'timeout' })
    const release = fake.holdQueries()
    fake.announce(fake.insert({ message: 'timeout one' }, { message: 'fine' }))
    await until(() => plain.parser.events.length === 2)
    expect(searching.parser.events).toHaveLength(0)
    release()
    await until(() => searching.parser.events.length === 1)
    expect(messages(searching.parser)).toEqual(['timeout one'])
  })

  test('a q client that joins while a page waits for PostgreSQL starts after it and misses nothing later', async () => {
    const fake = hub()
    const first = await fake.open({ q: 'timeout' })
    const release = fake.holdQueries()
    fake.announce(fake.insert({ message: 'timeout one' }, { message: 'one before' }))
    await until(() => fake.hub.stats().pendingAnnouncements === 0)
    const client = await fake.open({ q: 'one' })
    release()
    await until(() => first.parser.events.length === 1)
    fake.announce(fake.insert({ message: 'timeout two' }, { message: 'one more' }))
    await until(() => client.parser.events.length === 1 && first.parser.events.length === 2)
    expect(messages(client.parser)).toEqual(['one more'])
  })

  test('a q client resuming with Last-Event-ID catches up from memory, PostgreSQL asked about its own q', async () => {
    const fake = hub()
    const all = await fake.open()
    fake.announce(fake.insert({ message: 'one a' }, { message: 'two' }, { message: 'one b' }))
    await until(() => all.parser.events.length === 3)
    const client = await fake.open({ q: 'one' }, all.parser.events[0]!.lastEventId)
    await until(() => client.parser.events.length === 1)
    fake.announce(fake.insert({ message: 'one c' }))
    await until(() => client.parser.events.length === 2)
    expect(messages(client.parser)).toEqual(['one b', 'one c'])
  })

  test(`a gap from the listener reaches live clients, and a resume across it`, async () => {
    const { hub: tail, open, announce, insert } = hub()
    const client = await open()
    announce(insert({ message: 'before' }))
    await until(() => client.parser.events.length === 1)
    tail.gap('listen_interrupted')
    announce(insert({ message: 'after' }))
    await until(() => client.parser.events.length === 3)
    expect(messages(client.parser)).toEqual(['before', 'gap:listen_interrupted', 'after'])
    const resumed = await open({}, client.parser.events[0]!.lastEventId)
    await until(() => resumed.parser.events.length === 2)
    expect(messages(resumed.parser)).toEqual(['gap:listen_interrupted', 'after'])
  })

  test('a read that fails is reported as a gap and the stream goes on', async () => {
    const { open, announce, insert, failReads } = hub()
    const client = await open()
    failReads(true)
    announce(insert({ message: 'lost' }))
    await until(() => client.parser.events.length === 1)
    failReads(false)
    announce(insert({ message: 'next' }))
    await until(() => client.parser.events.length === 2)
    expect(messages(client.parser)).toEqual(['gap:read_failed', 'next'])
  })

  test('above maxClients: TailLimitError (429); once one leaves, another may open', async () => {
    const { open } = hub({ maxClients: 2 })
    const first = await open()
    await open()
    const refused = await open().catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(TailLimitError)
    expect((refused as TailLimitError).httpStatus).toBe(429)
    await first.cancel()
    await open()
  })

  test('with no client (and the linger over) nothing is read, and nothing held is resumed across it', async () => {
    const { hub: tail, open, announce, insert } = hub({ lingerMs: 0 })
    const client = await open()
    announce(insert({ message: 'seen' }))
    await until(() => client.parser.events.length === 1)
    const id = client.parser.events[0]!.lastEventId
    await client.cancel()
    announce(insert({ message: 'unread' }))
    await until(() => tail.stats().pendingAnnouncements === 0 && tail.stats().ringEntries === 0)
    const again = await open({}, id)
    await until(() => again.parser.events.length === 1)
    expect(messages(again.parser)[0]).toBe('gap:resume_unavailable')
  })

  test('stop() ends every stream and refuses new clients', async () => {
    const { hub: tail, open } = hub()
    const client = await open()
    await tail.stop()
    await client.done
    expect(await open().catch((error: unknown) => error)).toBeInstanceOf(TailUnavailableError)
  })
})
