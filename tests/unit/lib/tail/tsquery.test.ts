import { describe, expect, test } from 'bun:test'
import { mayMatch, parseTsQuery, type TsQuery } from '../../../../src/lib/tail/tsquery.ts'

const lexeme = (text: string): TsQuery => ({ op: 'lexeme', lexeme: text })

describe('parseTsQuery: the text form PostgreSQL prints', () => {
  test('precedence: | below &, & below <->, ! binding tightest', () => {
    expect(parseTsQuery("'a' <-> 'b' & !'c' | 'd'")).toEqual({
      op: 'or',
      left: { op: 'and', left: { op: 'phrase', distance: 1, left: lexeme('a'), right: lexeme('b') }, right: { op: 'not', arg: lexeme('c') } },
      right: lexeme('d'),
    })
  })

  test('parentheses, <N> distances and a negated phrase', () => {
    expect(parseTsQuery("!( 'a' <-> 'b' ) & ( 'c' <2> 'd' )")).toEqual({
      op: 'and',
      left: { op: 'not', arg: { op: 'phrase', distance: 1, left: lexeme('a'), right: lexeme('b') } },
      right: { op: 'phrase', distance: 2, left: lexeme('c'), right: lexeme('d') },
    })
  })

  test('quotes doubled and backslashes inside a lexeme; weights and prefix marks are read past', () => {
    expect(parseTsQuery("'it''s' & 'back\\\\slash' & 'pre':* & 'w':AB")).toEqual({
      op: 'and',
      left: { op: 'and', left: { op: 'and', left: lexeme("it's"), right: lexeme('back\\slash') }, right: lexeme('pre') },
      right: lexeme('w'),
    })
  })

  test('URLs, paths, versions and non-ASCII lexemes are taken as PostgreSQL wrote them', () => {
    const tree = parseTsQuery("'user@example.com' & '/var/log/a.log' & 'v1.2.3' & 'straße' & '10.0.0.1'")
    expect(JSON.stringify(tree)).toContain('"/var/log/a.log"')
    expect(JSON.stringify(tree)).toContain('"straße"')
  })

  test('the empty query (every word dropped by the parser) is undefined', () => {
    expect(parseTsQuery('')).toBeUndefined()
    expect(parseTsQuery('   ')).toBeUndefined()
  })

  test.each(["'unterminated", "'a' &", "'a' 'b'", "('a'", 'a'])('refuses %p', (text) => {
    expect(() => parseTsQuery(text)).toThrow(SyntaxError)
  })
})

describe('mayMatch: ruling messages out without asking PostgreSQL', () => {
  const may = (query: string, message: string) => mayMatch(parseTsQuery(query), message.toLowerCase())

  test('a required lexeme missing from the message rules it out', () => {
    expect(may("'timeout' & 'payment'", 'Payment service timeout after 30s')).toBe(true)
    expect(may("'timeout' & 'payment'", 'payment accepted')).toBe(false)
  })

  test('a phrase needs both of its words; either side of an OR will do', () => {
    expect(may("'connection' <-> 'refused'", 'connection was refused')).toBe(true)
    expect(may("'connection' <-> 'refused'", 'connection reset')).toBe(false)
    expect(may("'a1' | 'b2'", 'only b2 here')).toBe(true)
    expect(may("'a1' | 'b2'", 'neither')).toBe(false)
  })

  test('a negation requires nothing, so under one the answer is always maybe', () => {
    expect(may("!'debug'", 'debug line')).toBe(true)
    expect(may("'x' & !'debug'", 'no ex here')).toBe(true)
    expect(may("'zz' & !'debug'", 'no match')).toBe(false)
  })

  test('a lexeme is found as a piece of a longer token too (PostgreSQL decides whether it is a token)', () => {
    expect(may("'example'", 'see http://example.com/path')).toBe(true)
  })

  test('the empty query matches nothing', () => {
    expect(mayMatch(undefined, 'anything')).toBe(false)
  })
})
