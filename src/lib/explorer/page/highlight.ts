/**
 * Which parts of a message to highlight for a full-text search. PostgreSQL matches whole words after
 * stemming (`timeouts` finds `timeout`), so a word is marked wherever a word of the message starts with it,
 * in any case: close to what matched, never a random substring. Excluded words and `or` are not marked.
 * Pure: the page turns the segments into text nodes and <mark> elements (never HTML).
 */
import { tokenize } from './search-syntax.ts'

export interface Segment {
  text: string
  mark: boolean
}

const WORD = /[\p{L}\p{N}]+/gu

/** The words of `q` to look for: its words and the words of its phrases, not the excluded ones, not `or`. */
export function highlightTerms(q: string | undefined): string[] {
  if (!q) return []
  const terms = new Set<string>()
  for (const token of tokenize(q)) {
    if (token.negate) continue
    const text = token.field === undefined ? token.value : token.raw
    if (!token.quoted && token.field === undefined && text.toLowerCase() === 'or') continue
    for (const word of text.match(WORD) ?? []) terms.add(word.toLowerCase())
  }
  return [...terms].sort((a, b) => b.length - a.length)
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** `message` cut into plain and marked segments, in order; joined they give the message back. */
export function highlight(message: string, terms: readonly string[]): Segment[] {
  if (terms.length === 0 || message === '') return [{ text: message, mark: false }]
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${terms.map(escapeRegExp).join('|')})[\\p{L}\\p{N}]*`, 'giu')
  const segments: Segment[] = []
  let last = 0
  for (const match of message.matchAll(pattern)) {
    const start = match.index ?? 0
    if (start > last) segments.push({ text: message.slice(last, start), mark: false })
    segments.push({ text: match[0], mark: true })
    last = start + match[0].length
  }
  if (last < message.length) segments.push({ text: message.slice(last), mark: false })
  return segments.length > 0 ? segments : [{ text: message, mark: false }]
}
