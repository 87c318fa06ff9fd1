import { describe, expect, test } from 'bun:test'
import { parseSearch } from '../../../../src/lib/log-search.ts'
import { tailFilter } from '../../../../src/lib/tail/tail-filter.ts'
import type { LogEntry } from '../../../../src/lib/tail/tail-ring.ts'
import { Tailer } from '../../../../src/lib/tail/tailer.ts'
import { SseParser } from '../../../support/sse-reader.ts'

const entry = (seq: number, size = 100): LogEntry => {
  const data = JSON.stringify({ id: `0-${seq}`, message: 'x'.repeat(Math.max(0, size - 40)) })
  const frame = `id: 0-${seq}\ndata: ${data}\n\n`
  return { kind: 'log', seq, id: `0-${seq}`, frame, bytes: frame.length }
}

function tailer(maxQueueBytes = 10_000) {
  const closed: Tailer[] = []
  const client = new Tailer({ filter: tailFilter(parseSearch({})), maxQueueBytes, retryMs: 1500, onClose: (t) => closed.push(t) })
  const reader = client.stream.getReader()
  const parser = new SseParser()
  /** Reads one chunk (what the stream had queued) into the parser. */
  const read = async () => {
    const { value, done } = await reader.read()
    if (!done) parser.push(value)
    return done
  }
  return { client, parser, read, closed, reader }
}

describe('Tailer: one client’s queue and stream', () => {
  test('opens with the reconnection delay and a comment, then sends matching logs with their ids', async () => {
    const { client, parser, read } = tailer()
    await read()
    expect([parser.retry, parser.comments]).toEqual([1500, 1])
    client.consider(entry(1), true)
    client.consider(entry(2), false)
    client.consider(entry(3), true)
    await read()
    expect(parser.events.map((event) => event.lastEventId)).toEqual(['0-1', '0-3'])
    expect(client.position).toBe(3)
  })

  test('a read waiting for data gets it as soon as a log is offered', async () => {
    const { client, parser, read } = tailer()
    await read()
    const pending = read()
    client.consider(entry(1), true)
    await pending
    expect(parser.events).toHaveLength(1)
  })

  test('a client that does not read holds at most its queue; the rest is counted and announced once there is room', async () => {
    const { client, parser, read } = tailer(1000)
    await read()
    for (let seq = 1; seq <= 50; seq++) client.consider(entry(seq, 100), true)
    expect(client.queuedBytes).toBeLessThanOrEqual(1000)
    const kept = Math.floor(1000 / entry(1).bytes)
    expect(client.droppedTotal).toBe(50 - kept)
    await read()
    client.consider(entry(51), true)
    await read()
    expect(parser.events.map((event) => event.event)).toEqual([...Array(kept).fill('message'), 'dropped', 'message'])
    expect(JSON.parse(parser.events[kept]!.data)).toEqual({ dropped: 50 - kept })
    expect(parser.events.at(-1)!.lastEventId).toBe('0-51')
  })

  test('one log larger than the whole queue is still sent when nothing else is waiting', async () => {
    const { client, parser, read } = tailer(16 * 1024)
    await read()
    client.consider(entry(1, 100_000), true)
    await read()
    expect(parser.events).toHaveLength(1)
  })

  test('an idle client gets a heartbeat; past logs it was not sent move its Last-Event-ID, without an event', async () => {
    const { client, parser, read } = tailer()
    await read()
    client.heartbeat()
    client.heartbeat()
    await read()
    expect([parser.comments, parser.lastEventId]).toEqual([2, ''])
    client.consider(entry(7), false)
    client.heartbeat()
    await read()
    expect([parser.comments, parser.lastEventId, parser.events.length]).toEqual([3, '0-7', 0])
  })

  test('no heartbeat at the first tick after something was queued, one at the next', async () => {
    const { client, read, parser } = tailer()
    await read()
    client.heartbeat()
    client.heartbeat()
    await read()
    client.consider(entry(1), true)
    await read()
    client.heartbeat()
    expect(client.queuedBytes).toBe(0)
    client.heartbeat()
    await read()
    expect(parser.comments).toBe(3)
  })

  test('gap events say logs may be missing, once for a run of them', async () => {
    const { client, parser, read } = tailer()
    await read()
    client.gap('listen_interrupted')
    client.gap('listen_interrupted')
    await read()
    expect(parser.events.map((event) => [event.event, JSON.parse(event.data).reason])).toEqual([['gap', 'listen_interrupted']])
  })

  test('end() closes the stream after what is queued, and reports the client gone once', async () => {
    const { client, parser, read, closed } = tailer()
    await read()
    client.consider(entry(1), true)
    client.end()
    while (!(await read()));
    expect(parser.events).toHaveLength(1)
    expect(closed).toEqual([client])
    expect(client.open).toBe(false)
  })

  test('a client that goes away (cancel) is reported gone, and nothing more is queued for it', async () => {
    const { client, reader, closed } = tailer()
    await reader.read()
    await reader.cancel()
    expect(closed).toEqual([client])
    client.consider(entry(1), true)
    expect(client.queuedBytes).toBe(0)
  })
})
