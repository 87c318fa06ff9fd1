import { describe, expect, test } from 'bun:test'
import { highlight, highlightTerms } from '../../../../../src/lib/explorer/page/highlight.ts'

const marked = (message: string, q: string) =>
  highlight(message, highlightTerms(q))
    .filter((segment) => segment.mark)
    .map((segment) => segment.text)

describe('highlighting the searched words', () => {
  test('words and the words of phrases, not excluded words, not "or"', () => {
    expect(highlightTerms('Timeout "connection reset" -healthcheck or declined')).toEqual(['connection', 'declined', 'timeout', 'reset'])
  })

  test('whole words starting with a term, any case (PostgreSQL stems: timeouts matches timeout)', () => {
    expect(marked('Timeouts: upstream timeout; stimeout is not one', 'timeout')).toEqual(['Timeouts', 'timeout'])
    expect(marked('Ünicode ÜNICODE', 'ünicode')).toEqual(['Ünicode', 'ÜNICODE'])
  })

  test('segments put back together are the message', () => {
    const message = 'payment declined for customer u1 (declined twice)'
    const segments = highlight(message, highlightTerms('declined customer'))
    expect(segments.map((segment) => segment.text).join('')).toBe(message)
    expect(segments.filter((segment) => segment.mark)).toHaveLength(3)
  })

  test('regular-expression characters in a term are literal', () => {
    expect(marked('a.b (x) a+b', 'a.b')).toEqual(['a', 'b', 'a', 'b'])
    expect(() => highlight('x', ['(', '['])).not.toThrow()
  })

  test('no search: one plain segment', () => {
    expect(highlight('hello', highlightTerms(undefined))).toEqual([{ text: 'hello', mark: false }])
  })
})
