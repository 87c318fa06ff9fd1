import { expect, test } from 'bun:test'
import { decodeLogRecord, encodeLogRecord } from '../../src/lib/codec.ts'
import { type LogRecord, validateEntry } from '../../src/lib/log-entry.ts'
import { createLogWriter, type PendingRow } from '../../src/lib/log-writer.ts'
import { freshDatabase } from '../support/infra.ts'
import { randomEntry, randomSource } from '../support/random-entries.ts'

/**
 * Issue 16, "accepted means stored": whatever intake accepts, the consumer stores. Thousands of generated
 * entries (seeded, so a failure replays) go through validateEntry, the check every intake protocol makes;
 * each accepted record then takes the consumer's path, through the Kafka encoding, decodeLogRecord and the
 * log writer, into PostgreSQL. Nothing may be refused there: no row dead-lettered, every text kept as it
 * was accepted (no U+FFFD standing in for something).
 */

const SEED = 1605
const CASES = 4000
const BATCH = 500

const db = await freshDatabase()
const writer = createLogWriter(db.sql, { announce: false })

test(`${CASES} generated entries: every one intake accepts is stored, none dead-lettered`, async () => {
  const random = randomSource(SEED)
  const accepted: LogRecord[] = []
  const refusals = new Set<string>()
  for (let i = 0; i < CASES; i++) {
    const result = validateEntry(randomEntry(random))
    if (result.ok) accepted.push(result.record)
    else refusals.add(`${result.violation.field} ${result.violation.reason}`)
  }
  // The generator must reach both sides of every rule this test is about, or it proves nothing.
  expect(accepted.length).toBeGreaterThan(CASES / 5)
  const unreached = [
    'metadata holds an unpaired surrogate escape',
    'metadata holds an unpaired UTF-16 surrogate',
    'message holds an unpaired UTF-16 surrogate',
    'metadata nests objects and arrays more than',
    'metadata holds a number',
    'metadata must not contain the NUL character',
  ].filter((expected) => ![...refusals].some((reason) => reason.startsWith(expected)))
  expect(unreached).toEqual([])
  expect(accepted.some((record) => record.metadata.includes('\\ud83d\\ude00'))).toBe(true)

  const undecodable: string[] = []
  const rows: PendingRow[] = []
  for (const [offset, record] of accepted.entries()) {
    try {
      rows.push({ partition: 0, offset: BigInt(offset), record: decodeLogRecord(encodeLogRecord(record)) })
    } catch (error) {
      undecodable.push(`${offset}: ${(error as Error).message}`)
    }
  }
  expect(undecodable).toEqual([])

  const rejected: string[] = []
  let inserted = 0
  for (let start = 0; start < rows.length; start += BATCH) {
    const result = await writer.write(rows.slice(start, start + BATCH))
    inserted += result.inserted
    for (const { row, error } of result.rejected) rejected.push(`${row.offset}: ${error.message} ${JSON.stringify(row.record).slice(0, 200)}`)
  }
  expect(rejected).toEqual([])
  expect(inserted).toBe(accepted.length)

  const stored = await db.sql<{ kafka_offset: bigint; service: string; message: string; host: string | null; tags: string[] }[]>`
    select kafka_offset, service, message, host, tags from logs order by kafka_offset`
  expect(stored.length).toBe(accepted.length)
  const texts = (record: Pick<LogRecord, 'service' | 'message' | 'host' | 'tags'>) => [record.service, record.message, record.host || null, record.tags]
  const changed = stored.filter((row) => !Bun.deepEquals(texts({ ...row, host: row.host ?? '' }), texts(accepted[Number(row.kafka_offset)]!)))
  expect(changed.map((row) => Number(row.kafka_offset))).toEqual([])
}, 120_000)
