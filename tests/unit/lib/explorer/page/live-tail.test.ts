import { afterEach, describe, expect, test } from 'bun:test'
import { openTail, type TailHandlers } from '../../../../../src/lib/explorer/page/live-tail.ts'

/**
 * The page's live tail client (fetch + SSE parser) against a scripted fetch: each call is answered by the next
 * script entry, which says the status and the frames of that connection. Waits are for conditions (the
 * handlers' records), never fixed sleeps; the server's `retry:` makes reconnects immediate.
 */
const realFetch = globalThis.fetch
afterEach(() => {
  globalThis.fetch = realFetch
})

interface Call {
  url: string
  headers: Record<string, string>
  signal: AbortSignal
}

function script(answers: ((call: Call) => Response)[]): Call[] {
  const calls: Call[] = []
  globalThis.fetch = (async (url: string, init: RequestInit & { headers: Record<string, string> }) => {
    const call = { url: String(url), headers: init.headers, signal: init.signal! }
    calls.push(call)
    const answer = answers.shift()
    if (!answer) return new Promise<Response>(() => {})
    return answer(call)
  }) as unknown as typeof fetch
  return calls
}

const stream = (text: string, end = true) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text))
        if (end) controller.close()
      },
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  )

function record() {
  const seen: string[] = []
  const handlers: TailHandlers = {
    onLog: (log) => seen.push(`log ${log.id}`),
    onDropped: (count) => seen.push(`dropped ${count}`),
    onGap: (message) => seen.push(`gap ${message}`),
    onState: (state) => seen.push(state),
    onClosed: (reason) => seen.push(`closed ${reason}`),
  }
  return { seen, handlers }
}

async function until(condition: () => boolean): Promise<void> {
  for (let turns = 0; !condition(); turns++) {
    if (turns > 2000) throw new Error('condition not met')
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

describe('openTail (fetch + SSE)', () => {
  test('logs, dropped and gap events; a lost stream reconnects with Last-Event-ID (a heartbeat id too)', async () => {
    const calls = script([
      () => stream('retry: 1\n: tail open\n\nid: 1-1\ndata: {"id":"1-1"}\n\nevent: dropped\ndata: {"dropped":4}\n\n: heartbeat\nid: 1-5\n\n'),
      () => stream('event: gap\ndata: {"reason":"fell_behind","message":"behind"}\n\nid: 1-6\ndata: {"id":"1-6"}\n\n', false),
    ])
    const { seen, handlers } = record()
    const tail = openTail(new URLSearchParams({ service: 'api' }), handlers)
    await until(() => seen.includes('log 1-6'))
    tail.close()
    expect(seen).toEqual(['connecting', 'open', 'log 1-1', 'dropped 4', 'reconnecting', 'open', 'gap behind', 'log 1-6'])
    expect(calls.map((call) => call.url)).toEqual(['/tail?service=api', '/tail?service=api'])
    expect(calls[0]!.headers['last-event-id']).toBeUndefined()
    expect(calls[1]!.headers['last-event-id']).toBe('1-5')
    expect(calls[1]!.headers.accept).toBe('text/event-stream')
  })

  test('a refused stream stops for good, with the reason in words', async () => {
    for (const [status, words] of [
      [404, 'Live tail is not available'],
      [429, 'Too many live tails'],
      [400, 'Live tail refused the filters: bad level'],
      [503, 'Live tail failed: the server answered 503'],
    ] as const) {
      const calls = script([() => Response.json({ message: 'bad level' }, { status })])
      const { seen, handlers } = record()
      openTail(new URLSearchParams(), handlers)
      await until(() => seen.some((entry) => entry.startsWith('closed')))
      expect(seen[1]).toStartWith(`closed ${words}`)
      expect(calls).toHaveLength(1)
    }
  })

  test('the network failing: reconnecting, then open again once it answers', async () => {
    script([
      () => stream('retry: 1\n\n'),
      () => {
        throw new TypeError('Failed to fetch')
      },
      () => stream(': back\n\n', false),
    ])
    const { seen, handlers } = record()
    const tail = openTail(new URLSearchParams(), handlers)
    await until(() => seen.filter((entry) => entry === 'open').length === 2)
    tail.close()
    expect(seen).toEqual(['connecting', 'open', 'reconnecting', 'reconnecting', 'open'])
  })

  test('close() aborts the open request and reports nothing after it', async () => {
    const calls = script([() => stream(': open\n\n', false)])
    const { seen, handlers } = record()
    const tail = openTail(new URLSearchParams(), handlers)
    await until(() => seen.includes('open'))
    tail.close()
    expect(calls[0]!.signal.aborted).toBe(true)
    expect(seen).toEqual(['connecting', 'open'])
  })
})
