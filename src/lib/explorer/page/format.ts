/** How the page writes times and numbers. Pure. */
import { parseRfc3339 } from '../../time-range.ts'

const pad = (value: number, width = 2) => String(value).padStart(width, '0')
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** `Nov 26 12:07:36.816` in the browser's time zone (the list; the detail view shows the stored RFC 3339). */
export function shortTime(micros: number): string {
  const date = new Date(Math.floor(micros / 1000))
  return `${MONTHS[date.getMonth()]} ${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** A tick label: `12:07` within a day, `Nov 26 12:07` over longer ranges. */
export function tickLabel(micros: number, spanMicros: number): string {
  const date = new Date(Math.floor(micros / 1000))
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}${spanMicros < 600e6 ? `:${pad(date.getSeconds())}` : ''}`
  return spanMicros > 86_400e6 ? `${MONTHS[date.getMonth()]} ${pad(date.getDate())} ${time}` : time
}

/** An RFC 3339 timestamp as shown in the list; the text itself when it is not one. */
export function listTime(timestamp: string): string {
  const micros = parseRfc3339(timestamp)
  return micros === undefined ? timestamp : shortTime(micros)
}

/** The value of an <input type="datetime-local"> (local time) for epoch microseconds. */
export function toLocalInput(micros: number): string {
  const date = new Date(Math.floor(micros / 1000))
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

/** Epoch microseconds of an <input type="datetime-local"> value (local time); undefined when empty or invalid. */
export function fromLocalInput(value: string): number | undefined {
  if (!value) return undefined
  const millis = new Date(value).getTime()
  return Number.isFinite(millis) ? millis * 1000 : undefined
}

export const count = (value: number): string => value.toLocaleString('en-US')
