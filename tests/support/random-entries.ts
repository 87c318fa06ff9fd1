import { Levels } from '../../src/lib/levels.ts'
import { Limits, type LogEntryInput, METADATA_MAX_DEPTH, METADATA_NUMBER_LIMIT } from '../../src/lib/log-entry.ts'

/**
 * A seeded generator of hostile log entries for property tests (fast-check is not a dependency): the same
 * seed gives the same entries, so a failure can be replayed. It favours what breaks storage: unpaired
 * surrogates raw and escaped, NUL and other control characters, nesting and numbers around the limits,
 * lengths around every limit, timestamps at the ends of their range.
 */
export function randomSource(seed: number) {
  let state = seed >>> 0
  // mulberry32: tiny, fast, and good enough to spread cases.
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!
  const chance = (p: number) => next() < p
  return { next, int, pick, chance }
}

export type Random = ReturnType<typeof randomSource>

const PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u0001',
  '\u001f',
  '\u007f',
  '"',
  '\\',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  'é',
  '日本',
  '\u00a0',
  '\u2028',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '🎉',
  '\ud83d\ude00',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\u0000',
] as const

const STORABLE = PIECES.filter((piece) => piece !== '\u0000' && !/[\ud800-\udfff]/u.test(piece))

/**
 * Text of `length` pieces: mostly plain, with awkward but storable characters; one time in ten anything in
 * PIECES, lone surrogates and NUL among them (more often and every entry would be refused for its text).
 */
export function randomText(random: Random, length: number, hostility = 0.1): string {
  const pieces = random.chance(hostility) ? PIECES : STORABLE
  let text = ''
  for (let i = 0; i < length; i++) text += random.chance(0.7) ? String.fromCharCode(random.int(0x20, 0x7e)) : random.pick(pieces)
  return text
}

/** A length that is usually short and sometimes just either side of `limit`. */
function lengthNear(random: Random, limit: number): number {
  return random.chance(0.04) ? random.int(limit - 3, limit + 3) : random.int(0, 24)
}

const ESCAPES = ['\\n', '\\"', '\\\\', '\\/', '\\u0041', '\\u00e9', '\\ud83d\\ude00', '\\udbff\\udfff', '\\\\u0000', '\\\\ud800', '\\u001f']
const UNSTORABLE_ESCAPES = ['\\ud800', '\\udc00', '\\ud800\\u0041', '\\udfff\\ud800', '\\u0000']

/** A JSON string literal, written by hand so that it may hold escapes JSON.stringify never writes. */
function jsonString(random: Random): string {
  let body = ''
  const pieces = random.int(0, 6)
  for (let i = 0; i < pieces; i++) {
    if (random.chance(0.3)) body += random.pick(random.chance(0.02) ? UNSTORABLE_ESCAPES : ESCAPES)
    else body += JSON.stringify(randomText(random, random.int(0, 4), 0.01)).slice(1, -1)
  }
  // Now and then a raw lone surrogate, which JSON.stringify would have escaped.
  if (random.chance(0.005)) body += random.pick(['\ud800', '\udc00'])
  return `"${body}"`
}

function jsonNumber(random: Random): string {
  const digits = (count: number) => Array.from({ length: count }, () => random.int(0, 9)).join('')
  const near = (limit: number) => (random.chance(0.04) ? random.int(limit - 2, limit + 2) : random.int(1, 4))
  const integer = random.chance(0.3) ? '0' : `${random.int(1, 9)}${digits(near(METADATA_NUMBER_LIMIT) - 1)}`
  const fraction = random.chance(0.4) ? `.${digits(near(METADATA_NUMBER_LIMIT - integer.length))}` : ''
  const exponent = random.chance(0.3) ? `${random.pick(['e', 'E'])}${random.pick(['', '+', '-'])}${near(METADATA_NUMBER_LIMIT)}` : ''
  return `${random.chance(0.3) ? '-' : ''}${integer}${fraction}${exponent}`
}

function jsonValue(random: Random, depth: number, targetDepth: number): string {
  if (depth < targetDepth) {
    const inner = jsonValue(random, depth + 1, targetDepth)
    return random.chance(0.5) ? `[${inner}]` : `{${jsonString(random)}:${inner}}`
  }
  switch (random.int(0, 5)) {
    case 0:
      return jsonString(random)
    case 1:
      return jsonNumber(random)
    case 2:
      return random.pick(['true', 'false', 'null'])
    case 3:
      return `[${Array.from({ length: random.int(0, 3) }, () => jsonValue(random, depth + 1, depth + 1)).join(',')}]`
    default:
      return `{${Array.from({ length: random.int(0, 3) }, () => `${jsonString(random)}:${jsonValue(random, depth + 1, depth + 1)}`).join(',')}}`
  }
}

/** Metadata text: usually a JSON object (nesting near METADATA_MAX_DEPTH now and then), sometimes not JSON at all. */
export function randomMetadata(random: Random): string | undefined {
  if (random.chance(0.1)) return undefined
  if (random.chance(0.05)) return random.pick(['', '  ', '[1]', 'null', '{"a":', 'not json', '"text"'])
  const depth = random.chance(0.2) ? random.int(METADATA_MAX_DEPTH - 3, METADATA_MAX_DEPTH + 2) : random.int(1, 4)
  const members = Array.from({ length: random.int(1, 3) }, () => `${jsonString(random)}:${jsonValue(random, 2, depth)}`)
  const spacing = random.chance(0.2) ? ' \n\t' : ''
  return `${spacing}{${members.join(`,${spacing}`)}}${spacing}`
}

const hex = (random: Random, count: number) => Array.from({ length: count }, () => random.int(0, 15).toString(16)).join('')

/** One entry as a client might send it: every field sometimes valid, sometimes subtly not. */
export function randomEntry(random: Random): LogEntryInput {
  const seconds = random.pick([
    () => random.int(1_600_000_000, 1_900_000_000),
    () => -62_135_596_800,
    () => 253_402_300_799,
    () => random.int(-62_135_596_800, 253_402_300_799),
    () => random.pick([-62_135_596_801, 253_402_300_800]),
  ])()
  return {
    timestamp: random.chance(0.2) ? null : { seconds, nanos: random.chance(0.05) ? 1_000_000_000 : random.int(0, 999_999_999) },
    service: random.chance(0.02) ? ' ' : `s${randomText(random, lengthNear(random, Limits.serviceChars - 1))}`,
    level: random.chance(0.9) ? random.pick([...Levels, 'warning', 'err', ' info ']) : randomText(random, 4),
    message: random.chance(0.01) ? 'm'.repeat(random.int(Limits.messageBytes - 2, Limits.messageBytes + 2)) : randomText(random, random.int(0, 200)),
    metadata: randomMetadata(random),
    trace_id: random.chance(0.9)
      ? random.pick(['', hex(random, 32)])
      : random.pick([hex(random, 32).toUpperCase(), '0'.repeat(32), hex(random, 31), [8, 4, 4, 4, 12].map((count) => hex(random, count)).join('-')]),
    span_id: random.chance(0.9) ? random.pick(['', hex(random, 16)]) : random.pick(['0'.repeat(16), hex(random, 15), ` ${hex(random, 16).toUpperCase()} `]),
    host: randomText(random, lengthNear(random, Limits.hostChars)),
    tags: random.chance(0.3)
      ? []
      : Array.from({ length: random.chance(0.05) ? random.int(Limits.tags - 1, Limits.tags + 1) : random.int(1, 5) }, () =>
          random.chance(0.02) ? '' : `t${randomText(random, lengthNear(random, Limits.tagChars - 1))}`,
        ),
  }
}
