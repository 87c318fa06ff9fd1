/**
 * Query-time bounds: RFC 3339 (`2024-11-06T12:00:00.123456Z`, any offset, up to nanoseconds, kept to the
 * microsecond PostgreSQL stores) or relative to now (`90s`, `15m`, `24h`, `7d`, `2w`, meaning that long ago).
 * Results are epoch microseconds, exact in a double, so no precision is lost on the way to SQL.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2}))$/
const RELATIVE = /^(\d{1,9})(s|m|h|d|w)$/

const UNIT_MICROS = { s: 1e6, m: 60e6, h: 3_600e6, d: 86_400e6, w: 604_800e6 } as const
type Unit = keyof typeof UNIT_MICROS

// The range LogStream accepts at ingest (protobuf Timestamp's): years 0001 to 9999.
const MIN_MICROS = -62_135_596_800e6
// The first microsecond after 9999-12-31T23:59:59.999999Z, exact as a double (the last one before it is not).
const END_MICROS = 253_402_300_800e6

export const TIME_FORMAT_HINT = 'RFC 3339 (e.g. 2024-11-06T12:00:00Z, 2024-11-06T12:00:00.123456+01:00) or relative (e.g. 30s, 15m, 24h, 7d, 2w)'

export function parseRfc3339(value: string): number | undefined {
  const match = RFC3339.exec(value)
  if (!match) return undefined
  const [, y, mo, d, h, mi, s, fraction = '', zone, sign, zh, zm] = match
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || year < 1) return undefined
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!
  if (day < 1 || day > daysInMonth) return undefined
  let offsetMinutes = 0
  if (zone !== 'Z' && zone !== 'z') {
    if (Number(zh) > 23 || Number(zm) > 59) return undefined
    offsetMinutes = (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm))
  }
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second))
  date.setUTCFullYear(year)
  const micros = (date.getTime() - offsetMinutes * 60_000) * 1000 + Number(fraction.padEnd(6, '0').slice(0, 6))
  return micros >= MIN_MICROS && micros < END_MICROS ? micros : undefined
}

/** True for a time relative to now (`15m`, `24h`), which parseTime resolves against its `nowMicros`. */
export const isRelativeTime = (value: string): boolean => RELATIVE.test(value.trim())

/** Epoch microseconds for an RFC 3339 or relative time, or undefined if `value` is neither. */
export function parseTime(value: string, nowMicros: number = Date.now() * 1000): number | undefined {
  const trimmed = value.trim()
  const relative = RELATIVE.exec(trimmed)
  if (relative) {
    const micros = nowMicros - Number(relative[1]) * UNIT_MICROS[relative[2] as Unit]
    return micros >= MIN_MICROS ? micros : undefined
  }
  return parseRfc3339(trimmed)
}
