import { describe, expect, test } from 'bun:test'
import { AnnouncementLimits, announcements, parseAnnouncement, type StoredKey } from '../../../../src/lib/tail/announcement.ts'

const T0 = 1_764_000_000_000_000
const key = (partition: number, offset: number | bigint, micros = T0): StoredKey => ({ partition, offset: BigInt(offset), micros })

/** Every (partition, offset) a payload names, and whether each key's timestamp lies in one of that payload's spans. */
function named(payloads: string[], keys: readonly StoredKey[]) {
  const byName = new Map(keys.map((k) => [`${k.partition}-${k.offset}`, k]))
  const names = new Map<string, number>()
  let uncovered = 0
  for (const payload of payloads) {
    const { spans, runs } = parseAnnouncement(payload)!
    for (const run of runs) {
      for (let offset = run.first; offset <= run.last; offset++) {
        const name = `${run.partition}-${offset}`
        names.set(name, (names.get(name) ?? 0) + 1)
        const stored = byName.get(name)
        if (stored && !spans.some(([from, to]) => from <= stored.micros && stored.micros <= to)) uncovered++
      }
    }
  }
  return { names, uncovered }
}

describe('announcements: what a write tells the live tail', () => {
  test('consecutive offsets of a partition make one run; partitions in order; one span for close timestamps', () => {
    const keys = [key(2, 10, T0 + 5), key(0, 7), key(2, 11, T0 + 900_000), key(0, 8, T0 + 1), key(2, 12, T0 + 3)]
    const [payload, ...rest] = announcements(keys)
    expect(rest).toEqual([])
    expect(parseAnnouncement(payload!)).toEqual({
      spans: [[T0, T0 + 900_000]],
      runs: [
        { partition: 0, first: 7n, last: 8n },
        { partition: 2, first: 10n, last: 12n },
      ],
    })
  })

  test('an offset not inserted (already stored, or dead-lettered) splits the run, so it is never named', () => {
    const { runs } = parseAnnouncement(announcements([key(1, 1), key(1, 2), key(1, 4), key(1, 5), key(1, 9)])[0]!)!
    expect(runs.map((run) => [Number(run.first), Number(run.last)])).toEqual([
      [1, 2],
      [4, 5],
      [9, 9],
    ])
  })

  test(`timestamps more than ${AnnouncementLimits.spanMicros / 1e6} s apart get spans of their own, none wider than that`, () => {
    const keys = [key(0, 1, T0), key(0, 2, T0 + 400_000), key(0, 3, T0 + 3_600_000_000), key(0, 4, T0 + 999_999), key(0, 5, T0 + 1_500_000)]
    const { spans } = parseAnnouncement(announcements(keys)[0]!)!
    expect(spans).toEqual([
      [T0, T0 + 999_999],
      [T0 + 1_500_000, T0 + 1_500_000],
      [T0 + 3_600_000_000, T0 + 3_600_000_000],
    ])
  })

  test('a batch of scattered offsets and timestamps splits into payloads PostgreSQL accepts, naming each row exactly once, within a span', () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const keys = Array.from({ length: 5000 }, (_, i) => key(i % 7, 2 * i + 1_000_000_000, T0 + Math.floor(random() * 86_400e6)))
    const payloads = announcements(keys)
    expect(payloads.length).toBeGreaterThan(1)
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(AnnouncementLimits.payloadBytes)
    const { names, uncovered } = named(payloads, keys)
    expect(names.size).toBe(5000)
    expect([...names.values()].every((count) => count === 1)).toBe(true)
    expect(uncovered).toBe(0)
  })

  test('a usual batch (5000 rows in 3 partitions, 0.5 s) is one small payload', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => key(i % 3, 80_000 + Math.floor(i / 3), T0 + i * 100))
    const payloads = announcements(keys)
    expect(payloads).toHaveLength(1)
    expect(payloads[0]!.length).toBeLessThan(200)
  })

  test('offsets past 2^53 keep every digit', () => {
    const big = 2n ** 60n + 3n
    expect(parseAnnouncement(announcements([key(0, big), key(0, big + 1n)])[0]!)!.runs).toEqual([{ partition: 0, first: big, last: big + 1n }])
  })

  test('nothing inserted, nothing announced', () => {
    expect(announcements([])).toEqual([])
  })
})

describe('parseAnnouncement', () => {
  test.each([
    ['not JSON', 'hello'],
    ['no spans', '{"s":[],"r":[[0,"1","2"]]}'],
    ['no runs', '{"s":[[1,2]],"r":[]}'],
    ['a span backwards', '{"s":[[3,2]],"r":[[0,"1","2"]]}'],
    ['a numeric offset', '{"s":[[1,2]],"r":[[0,1,2]]}'],
    ['a run backwards', '{"s":[[1,2]],"r":[[0,"5","2"]]}'],
    ['null', 'null'],
  ])('refuses %s', (_what, payload) => {
    expect(parseAnnouncement(payload)).toBeUndefined()
  })
})
