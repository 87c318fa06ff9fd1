/**
 * RFC 4180 CSV: a field holding a comma, a double quote, CR or LF is quoted and its quotes doubled; every
 * record ends with CRLF. null is an empty field.
 */
const NEEDS_QUOTES = /[",\r\n]/

export function csvField(value: string | null): string {
  if (value === null) return ''
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

export function csvRecord(fields: readonly (string | null)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`
}
