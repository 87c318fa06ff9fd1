import { afterAll, describe, expect, test } from 'bun:test'
import { classifyDatabaseError } from '../../../src/lib/database-errors.ts'
import { connect } from '../../../src/lib/db.ts'
import { DatabaseUnavailableError, QueryTimeoutError } from '../../../src/lib/errors.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'
import { createLogWriter, type PendingRow } from '../../../src/lib/log-writer.ts'
import { LOGS_STORED_CHANNEL, parseAnnouncement } from '../../../src/lib/tail/announcement.ts'
import { connectForWrites } from '../../../src/lib/write-pool.ts'
import { eventually, freshDatabase } from '../../support/infra.ts'
import { countMismatches } from '../../support/log-counts.ts'
import { startTcpProxy } from '../../support/tcp-proxy.ts'

const db = await freshDatabase()
const writer = createLogWriter(db.sql)
let nextOffset = 0n
// Each record its own microsecond: records with the sender's timestamp and equal content are one log.
let clock = Date.now() * 1000

const record = (overrides: Partial<LogRecord> = {}): LogRecord => ({
  timestampMicros: clock++,
  service: 'checkout',
  level: 'INFO',
  message: 'order placed',
  metadata: '{"user_id":"42"}',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  host: 'node-1',
  tags: ['env:prod'],
  ...overrides,
})

const rows = (...records: LogRecord[]): PendingRow[] => records.map((r) => ({ partition: 1, offset: nextOffset++, record: r }))

const stored = (offsets: bigint[]) =>
  db.sql`
    select (extract(epoch from timestamp) * 1000000)::bigint as micros, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset
    from logs where kafka_offset = any(${offsets.map(String)}::bigint[]) order by kafka_offset`

describe('createLogWriter', () => {
  test('stores every field as given: jsonb metadata, a text[] of tags, the timestamp to the microsecond', async () => {
    // A second ago with a non-zero microsecond part, so it lands in today's partition and tests precision.
    const micros = Math.floor(Date.now() / 1000) * 1_000_000 - 1_000_000 + 123_457
    const input = rows(
      record({ timestampMicros: micros, tags: ['env:prod', 'team:core'] }),
      record({ level: 'ERROR', metadata: '{"nested":{"n":1},"list":[1,"two"]}' }),
    )
    const result = await writer.write(input)
    expect(result).toEqual({ inserted: 2, rejected: [] })
    const [first, second] = await stored(input.map((r) => r.offset))
    expect(first).toEqual({
      micros: BigInt(micros),
      service: 'checkout',
      level: 'INFO',
      message: 'order placed',
      metadata: { user_id: '42' },
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      host: 'node-1',
      tags: ['env:prod', 'team:core'],
      kafka_partition: 1,
      kafka_offset: input[0]!.offset,
    })
    expect(second!.metadata).toEqual({ nested: { n: 1 }, list: [1, 'two'] })
  })

  test('stores empty trace_id, span_id and host as NULL', async () => {
    const input = rows(record({ traceId: '', spanId: '', host: '' }))
    await writer.write(input)
    const [row] = await stored([input[0]!.offset])
    expect([row!.trace_id, row!.span_id, row!.host]).toEqual([null, null, null])
  })

  test('keeps quotes, backslashes, braces, commas, tabs, newlines and non-ASCII text intact', async () => {
    const awkward = 'a "quoted" \\ back\tslash\r\n{brace},comma NULL é 日本 🎉'
    const input = rows(
      record({ message: awkward, service: awkward, host: awkward, tags: [awkward, 'NULL', '{}', ' spaced '], metadata: JSON.stringify({ text: awkward }) }),
    )
    await writer.write(input)
    const [row] = await stored([input[0]!.offset])
    expect({ message: row!.message, service: row!.service, host: row!.host, tags: row!.tags, metadata: row!.metadata }).toEqual({
      message: awkward,
      service: awkward,
      host: awkward,
      tags: [awkward, 'NULL', '{}', ' spaced '],
      metadata: { text: awkward },
    })
  })

  test('writing the same rows again inserts nothing and keeps one copy', async () => {
    const input = rows(record(), record(), record())
    expect((await writer.write(input)).inserted).toBe(3)
    expect(await writer.write(input)).toEqual({ inserted: 0, rejected: [] })
    expect(await stored(input.map((r) => r.offset))).toHaveLength(3)
  })

  test('each write announces on logs_stored, at commit, exactly the rows it inserted; writing them again announces nothing', async () => {
    const heard: string[] = []
    const listening = await db.sql.listen(LOGS_STORED_CHANNEL, (payload) => heard.push(payload))
    try {
      const input = rows(record(), record({ timestampMicros: Date.now() * 1000 - 3_600_000_000 }), record())
      const bad = rows(record({ metadata: '{"x":"\\ud800"}' }))[0]!
      await writer.write([...input, bad])
      // Notifications arrive in commit order: once a later write's has come, every earlier one has.
      const marker = rows(record())
      await writer.write(marker)
      const markerHeard = (payload: string) => parseAnnouncement(payload)!.runs.some((run) => run.first === marker[0]!.offset)
      await eventually(() => (heard.some(markerHeard) ? true : undefined), 10_000, 'the marker')
      const named = heard
        .filter((payload) => !markerHeard(payload))
        .flatMap((payload) => {
          const { spans, runs } = parseAnnouncement(payload)!
          return runs.flatMap((run) => {
            const offsets = []
            for (let offset = run.first; offset <= run.last; offset++) offsets.push(offset)
            return offsets.map((offset) => ({ offset, spans }))
          })
        })
      expect(named.map((item) => item.offset).sort()).toEqual(input.map((row) => row.offset))
      for (const row of input) {
        const spans = named.find((item) => item.offset === row.offset)!.spans
        expect(spans.some(([from, to]) => from <= row.record.timestampMicros && row.record.timestampMicros <= to)).toBe(true)
      }

      heard.length = 0
      await writer.write(input)
      const second = rows(record())
      await writer.write(second)
      await eventually(() => (heard.length > 0 ? true : undefined), 10_000, 'the second marker')
      expect(heard.flatMap((payload) => parseAnnouncement(payload)!.runs.map((run) => run.first))).toEqual([second[0]!.offset])
    } finally {
      await listening.unlisten()
    }
  })

  test('an entry its sender sent again (same content and timestamp, a new Kafka message) is stored once, in the same batch or a later one', async () => {
    const original = record({ service: 'resent' })
    const first = rows(original, record({ service: 'resent' }), { ...original, tags: [...original.tags] })
    expect(await writer.write(first)).toEqual({ inserted: 2, rejected: [] })
    const again = rows({ ...original }, record({ service: 'resent' }))
    expect(await writer.write(again)).toEqual({ inserted: 1, rejected: [] })
    const kept = await db.sql`select kafka_offset from logs where service = 'resent' order by kafka_offset`
    expect(kept.map((row) => row.kafka_offset)).toEqual([first[0]!.offset, first[1]!.offset, again[1]!.offset])
    expect(await countMismatches(db.sql)).toEqual([])
  })

  test('entries the server timestamped are stored once per message, even with equal content and time', async () => {
    const stamped = record({ service: 'stamped', timestampFromServer: true })
    const input = rows(stamped, { ...stamped }, { ...stamped })
    expect(await writer.write(input)).toEqual({ inserted: 3, rejected: [] })
    expect(await writer.write(input)).toEqual({ inserted: 0, rejected: [] })
    expect(await stored(input.map((r) => r.offset))).toHaveLength(3)
  })

  test('the same content at another microsecond is another log', async () => {
    const original = record({ service: 'moved' })
    const input = rows(original, { ...original, timestampMicros: original.timestampMicros + 1 })
    expect((await writer.write(input)).inserted).toBe(2)
  })

  test('a row the database refuses is rejected alone and its neighbours are stored', async () => {
    // A lone UTF-16 surrogate escape is valid JSON for JavaScript but not for jsonb.
    const bad = record({ metadata: '{"x":"\\ud800"}' })
    const input = rows(record(), record(), bad, record(), record(), record(), record())
    const result = await writer.write(input)
    expect(result.inserted).toBe(6)
    expect(result.rejected.map((r) => r.row.offset)).toEqual([input[2]!.offset])
    expect(result.rejected[0]!.error.message).toMatch(/json/i)
    expect((await stored(input.map((r) => r.offset))).map((r) => r.kafka_offset)).toEqual(input.filter((r) => r.record !== bad).map((r) => r.offset))
  })

  test('log_counts (schema.sql) counts exactly the rows each write inserted: a re-delivered batch adds nothing, rows stored while narrowing down a bad one are counted, the bad one is not', async () => {
    const counted = async () => (await db.sql<{ n: number }[]>`select coalesce(sum(n), 0)::int as n from log_counts where service = 'counted'`)[0]!.n
    const minute = Math.floor(Date.now() / 60_000) * 60_000_000
    const batch = rows(
      ...Array.from({ length: 40 }, (_, i) =>
        record({ service: 'counted', timestampMicros: minute - (i % 3) * 60_000_000 + i, level: i % 2 ? 'WARN' : 'INFO', host: i % 5 ? `h${i % 4}` : '' }),
      ),
    )
    for (const announce of [true, false]) {
      const one = createLogWriter(db.sql, { announce })
      expect((await one.write(batch)).inserted).toBe(announce ? 40 : 0)
      expect(await counted()).toBe(40)
      expect(await countMismatches(db.sql)).toEqual([])
    }
    const bad = record({ service: 'counted', metadata: '{"x":"\\ud800"}' })
    const withBad = rows(record({ service: 'counted' }), record({ service: 'counted' }), bad, record({ service: 'counted', host: '' }))
    const result = await createLogWriter(db.sql, { announce: false }).write([...batch.slice(0, 5), ...withBad])
    expect({ inserted: result.inserted, rejected: result.rejected.length }).toEqual({ inserted: 3, rejected: 1 })
    expect(await counted()).toBe(43)
    expect(await countMismatches(db.sql)).toEqual([])
  })

  test('a lost connection surfaces as DatabaseUnavailableError, not as rejected rows', async () => {
    const url = new URL(db.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    url.port = String(proxy.port)
    const sql = connect(url.toString(), { max: 1, connectTimeout: 2 })
    afterAll(async () => {
      await sql.end({ timeout: 1 })
      await proxy.close()
    })
    const viaProxy = createLogWriter(sql)
    await viaProxy.write(rows(record()))
    await proxy.cut()
    const failure = await viaProxy.write(rows(record())).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(DatabaseUnavailableError)
  })

  test('a write that gets no reply (network blackhole) fails as DatabaseUnavailableError after the write timeout, and writes work again once the network is back', async () => {
    const url = new URL(db.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    url.port = String(proxy.port)
    const sql = connectForWrites(url.toString(), { max: 2, writeTimeoutMs: 300 })
    afterAll(async () => {
      await sql.end({ timeout: 1 })
      await proxy.close()
    })
    const bounded = createLogWriter(sql)
    await bounded.write(rows(record()))
    await proxy.stall()
    const pending = rows(record())
    const began = performance.now()
    const failure = await bounded.write(pending).catch((error: unknown) => error)
    // Without the bound this write would wait for ever: the stalled proxy keeps the connection open.
    expect(failure).toBeInstanceOf(DatabaseUnavailableError)
    // Bounded by the write timeout (300 ms) plus a 1 s grace, not by something far larger.
    expect(performance.now() - began).toBeLessThan(5000)

    await proxy.restore()
    expect(await bounded.write(pending)).toEqual({ inserted: 1, rejected: [] })
  })

  test('a statement the server runs longer than the write timeout is cancelled by the server and counts as transient', async () => {
    const sql = connectForWrites(db.url, { max: 1, writeTimeoutMs: 200 })
    afterAll(() => sql.end({ timeout: 1 }))
    const failure = await sql`select pg_sleep(5)`.catch((error: unknown) => error)
    expect((failure as { code?: string }).code).toBe('57014')
    expect(classifyDatabaseError(failure)).toBeInstanceOf(QueryTimeoutError)
  })

  test('deadlocks, serialization failures and lost connections count as transient; constraint violations do not', () => {
    expect(['40P01', '40001', '57014', '08006', 'ECONNRESET'].map((code) => classifyDatabaseError({ code })?.retryable)).toEqual([true, true, true, true, true])
    expect(['23514', '22P02', '23502'].map((code) => classifyDatabaseError({ code }))).toEqual([undefined, undefined, undefined])
  })
})
