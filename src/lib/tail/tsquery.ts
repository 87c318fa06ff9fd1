/**
 * PostgreSQL's text form of a tsquery (what `websearch_to_tsquery('simple', q)::text` prints), read into a
 * tree, and a test that rules messages out cheaply. Deciding a match is left to PostgreSQL: its default
 * text-search parser splits `user@example.com`, `/var/log/a.log`, `10.0.0.1`, `v1.2.3` or `foo-bar` into
 * tokens by rules no short JavaScript reproduces. What does hold for every token of the 'simple'
 * configuration is that it is a piece of the message, lower-cased; so a message that does not contain a
 * lexeme the query requires cannot match, and only the others need asking.
 */
export type TsQuery =
  | { op: 'lexeme'; lexeme: string }
  | { op: 'not'; arg: TsQuery }
  | { op: 'and' | 'or'; left: TsQuery; right: TsQuery }
  | { op: 'phrase'; distance: number; left: TsQuery; right: TsQuery }

class Reader {
  position = 0
  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.text[this.position] === ' ') this.position++
  }

  peek(): string | undefined {
    this.skipSpace()
    return this.text[this.position]
  }

  fail(what: string): never {
    throw new SyntaxError(`tsquery: ${what} at ${this.position} in ${JSON.stringify(this.text.slice(0, 200))}`)
  }
}

/** 'lexeme' with '' for a quote and a backslash before any character taken literally; then :* or weights. */
function operand(reader: Reader): TsQuery {
  const { text } = reader
  if (text[reader.position] !== "'") reader.fail('expected a quoted lexeme')
  reader.position++
  let lexeme = ''
  for (;;) {
    const char = text[reader.position]
    if (char === undefined) reader.fail('unterminated lexeme')
    if (char === '\\') {
      lexeme += text[reader.position + 1] ?? reader.fail('dangling backslash')
      reader.position += 2
    } else if (char === "'") {
      if (text[reader.position + 1] === "'") {
        lexeme += "'"
        reader.position += 2
      } else {
        reader.position++
        break
      }
    } else {
      lexeme += char
      reader.position++
    }
  }
  // Weights and prefix marks (`:*`, `:AB`) narrow or widen a match; websearch_to_tsquery writes neither.
  if (text[reader.position] === ':') {
    reader.position++
    while (/[*ABCDabcd]/.test(text[reader.position] ?? '')) reader.position++
  }
  return { op: 'lexeme', lexeme }
}

function unary(reader: Reader): TsQuery {
  const next = reader.peek()
  if (next === '!') {
    reader.position++
    return { op: 'not', arg: unary(reader) }
  }
  if (next === '(') {
    reader.position++
    const inner = disjunction(reader)
    if (reader.peek() !== ')') reader.fail('expected )')
    reader.position++
    return inner
  }
  return operand(reader)
}

const PHRASE = /^<(-|\d+)>/

function phrase(reader: Reader): TsQuery {
  let left = unary(reader)
  for (;;) {
    reader.skipSpace()
    const match = PHRASE.exec(reader.text.slice(reader.position, reader.position + 8))
    if (!match) return left
    reader.position += match[0].length
    left = { op: 'phrase', distance: match[1] === '-' ? 1 : Number(match[1]), left, right: unary(reader) }
  }
}

function conjunction(reader: Reader): TsQuery {
  let left = phrase(reader)
  while (reader.peek() === '&') {
    reader.position++
    left = { op: 'and', left, right: phrase(reader) }
  }
  return left
}

function disjunction(reader: Reader): TsQuery {
  let left = conjunction(reader)
  while (reader.peek() === '|') {
    reader.position++
    left = { op: 'or', left, right: conjunction(reader) }
  }
  return left
}

/**
 * The tree of a tsquery's text form; undefined for the empty query (one whose words were all dropped,
 * which matches nothing). Precedence as PostgreSQL prints it: `|` < `&` < `<->` < `!`. Throws a
 * SyntaxError for text PostgreSQL would not print.
 */
export function parseTsQuery(text: string): TsQuery | undefined {
  const reader = new Reader(text)
  if (reader.peek() === undefined) return undefined
  const tree = disjunction(reader)
  if (reader.peek() !== undefined) reader.fail('unexpected text')
  return tree
}

/**
 * False only when `lowered` (a message lower-cased, ASCII only, so JavaScript lower-cases it exactly as
 * PostgreSQL does) cannot match `query`: a lexeme the query requires is not in it. A negation requires
 * nothing, so under one the answer is always "maybe". The empty query matches nothing.
 */
export function mayMatch(query: TsQuery | undefined, lowered: string): boolean {
  if (query === undefined) return false
  switch (query.op) {
    case 'lexeme':
      return lowered.includes(query.lexeme)
    case 'not':
      return true
    case 'or':
      return mayMatch(query.left, lowered) || mayMatch(query.right, lowered)
    default:
      return mayMatch(query.left, lowered) && mayMatch(query.right, lowered)
  }
}
