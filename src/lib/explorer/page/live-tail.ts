/**
 * The live tail: GET /tail (Server-Sent Events) with the view's filters. Each event's data is one log in
 * the /query shape and its id the log id; `event: dropped` with {"dropped": n} says the server dropped logs
 * for this client; `event: gap` with {"reason", "message"} says logs may be missing from here on (how many is
 * not known). Read with fetch() and sse-parser.ts rather than EventSource, which cannot send the read key:
 * like EventSource it reconnects after a lost stream with the newest id as Last-Event-ID, waiting the
 * server's `retry:` (doubled after each failed attempt, up to 30 s), and stops for good when the server
 * refuses the stream (404: no /tail on this server; 429: too many tails; 400: a filter), saying why in words.
 */
import type { Log } from './api.ts'
import { fetchWithKey } from './read-key.ts'
import { SseParser } from './sse-parser.ts'

export interface TailHandlers {
  onLog(log: Log): void
  onDropped(count: number): void
  /** The stream may be missing logs from here on; `message` says why, in the server's words. */
  onGap(message: string): void
  onState(state: 'connecting' | 'open' | 'reconnecting'): void
  /** The tail stopped for good, with the reason in words. */
  onClosed(reason: string): void
}

export interface Tail {
  close(): void
}

const DEFAULT_RETRY_MS = 3000
const MAX_RETRY_MS = 30_000

async function whyRefused(response: Response): Promise<string> {
  const status = response.status
  const message = ((await response.json().catch(() => ({}))) as { message?: string }).message ?? ''
  if (status === 404) return 'Live tail is not available: this server has no GET /tail (it answered 404). Search and refresh still work.'
  if (status === 429) return `Too many live tails on this server right now (429)${message ? `: ${message}` : ''}. Try again later.`
  if (status === 400) return `Live tail refused the filters: ${message || 'bad request'}`
  if (status === 401) return `Live tail needs an API key with read scope${message ? `: ${message}` : ''}.`
  if (status === 403) return `This API key cannot read logs, so live tail is off${message ? ` (${message})` : ''}.`
  return `Live tail failed: the server answered ${status}${message ? ` (${message})` : ''}.`
}

function handle(event: { type: string; data: string }, handlers: TailHandlers): void {
  try {
    const data = JSON.parse(event.data) as Record<string, unknown>
    if (event.type === 'message') handlers.onLog(data as unknown as Log)
    else if (event.type === 'dropped') handlers.onDropped(Number(data.dropped ?? 0))
    else if (event.type === 'gap') handlers.onGap(String(data.message ?? ''))
  } catch {
    // An unreadable gap still means logs may be missing: say so without the reason. Anything else unreadable is skipped.
    if (event.type === 'gap') handlers.onGap('')
    else if (event.type === 'dropped') handlers.onDropped(0)
  }
}

export function openTail(params: URLSearchParams, handlers: TailHandlers): Tail {
  const query = params.toString()
  const url = `/tail${query ? `?${query}` : ''}`
  const controller = new AbortController()
  const { signal } = controller
  let lastEventId = ''
  let retryMs = DEFAULT_RETRY_MS
  /** Failed attempts in a row: a stream that opened resets it, whatever ended it. */
  let failures = 0

  /** One connection: false once the tail is over (closed, or refused), true to connect again. */
  async function connect(): Promise<boolean> {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (lastEventId) headers['last-event-id'] = lastEventId
    const response = await fetchWithKey(url, { headers, signal, cache: 'no-store' })
    if (signal.aborted) return false
    if (!response.ok || !response.body) {
      const reason = await whyRefused(response)
      if (!signal.aborted) handlers.onClosed(reason)
      return false
    }
    failures = 0
    handlers.onState('open')
    // A new parser per connection: an event cut off by a lost connection is dropped, as EventSource does.
    const parser = new SseParser(lastEventId)
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done || signal.aborted) break
      for (const event of parser.push(value)) {
        if (signal.aborted) break
        handle(event, handlers)
      }
      lastEventId = parser.lastEventId
      retryMs = parser.retryMs ?? retryMs
    }
    return !signal.aborted
  }

  void (async () => {
    handlers.onState('connecting')
    for (;;) {
      let again: boolean
      try {
        again = await connect()
      } catch {
        // The network, or a stream cut short: EventSource would reconnect too.
        again = !signal.aborted
        failures++
      }
      if (!again) return
      handlers.onState('reconnecting')
      const wait = Math.min(MAX_RETRY_MS, retryMs * 2 ** Math.max(0, failures - 1))
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, wait)
        signal.addEventListener('abort', done)
      })
      if (signal.aborted) return
    }
  })()

  return {
    close() {
      controller.abort()
    },
  }
}
