import { describe, expect, test } from 'bun:test'
import { SseParser } from '../../../../../src/lib/explorer/page/sse-parser.ts'

describe('SseParser (the live tail read through fetch)', () => {
  test('a log event: its id and data; the id is what a reconnect sends back', () => {
    const parser = new SseParser()
    expect(parser.push('id: 3-7\ndata: {"id":"3-7"}\n\n')).toEqual([{ type: 'message', data: '{"id":"3-7"}', id: '3-7' }])
    expect(parser.lastEventId).toBe('3-7')
  })

  test('named events, multi-line data joined with newlines, comments ignored', () => {
    const parser = new SseParser()
    const events = parser.push(': heartbeat\n\nevent: gap\ndata: {"a":1,\ndata: "b":2}\n\nevent: dropped\ndata: {"dropped":3}\n\n')
    expect(events).toEqual([
      { type: 'gap', data: '{"a":1,\n"b":2}', id: '' },
      { type: 'dropped', data: '{"dropped":3}', id: '' },
    ])
  })

  test('any split of the stream gives the same events, CRLF and CR line ends included', () => {
    const text = 'retry: 1000\r\n: tail open\r\n\r\nid: 1-1\rdata: one\r\rid: 1-2\r\ndata: two\r\n\r\n'
    const whole = new SseParser().push(text)
    expect(whole.map((event) => event.data)).toEqual(['one', 'two'])
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser()
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
      expect(events).toEqual(whole)
      expect(parser.retryMs).toBe(1000)
      expect(parser.lastEventId).toBe('1-2')
    }
  })

  test('a heartbeat with an id and no data moves the id on without an event', () => {
    const parser = new SseParser('1-1')
    expect(parser.push(': heartbeat\nid: 1-9\n\n')).toEqual([])
    expect(parser.lastEventId).toBe('1-9')
  })

  test('an event not yet ended by a blank line is not dispatched; a fresh parser after a reconnect drops it but keeps the id', () => {
    const parser = new SseParser()
    expect(parser.push('id: 2-1\ndata: a\n\nid: 2-2\ndata: cut off')).toHaveLength(1)
    const next = new SseParser(parser.lastEventId)
    expect(next.lastEventId).toBe('2-1')
    expect(next.push('data: b\n\n')).toEqual([{ type: 'message', data: 'b', id: '2-1' }])
  })

  test('fields as the standard reads them: no space after the colon, a field without colon, an id with NUL, a bad retry', () => {
    const parser = new SseParser()
    expect(parser.push('data:x\ndata\n\n')).toEqual([{ type: 'message', data: 'x\n', id: '' }])
    parser.push('id: a\0b\nretry: soon\ndata: y\n\n')
    expect(parser.lastEventId).toBe('')
    expect(parser.retryMs).toBeUndefined()
  })
})
