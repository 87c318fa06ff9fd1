import { describe, expect, test } from 'bun:test'
import { csvField, csvRecord } from '../../../../src/lib/query/csv.ts'

describe('csvField (RFC 4180)', () => {
  test('plain text stays as it is', () => {
    expect(csvField('plain text: ok; fine')).toBe('plain text: ok; fine')
  })

  test('a comma, a quote, CR or LF quotes the field and doubles its quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('one\ntwo')).toBe('"one\ntwo"')
    expect(csvField('one\r\ntwo')).toBe('"one\r\ntwo"')
    expect(csvField('"')).toBe('""""')
  })

  test('null is an empty field; an empty string too', () => {
    expect(csvField(null)).toBe('')
    expect(csvField('')).toBe('')
  })
})

describe('csvRecord', () => {
  test('joins fields with commas and ends with CRLF', () => {
    expect(csvRecord(['a', null, 'b,c', '{"k": "v"}'])).toBe('a,,"b,c","{""k"": ""v""}"\r\n')
  })
})
