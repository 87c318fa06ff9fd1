/**
 * The live tail: GET /tail (Server-Sent Events) with the view's filters. Each event's data is one log in
 * the /query shape and its id the log id (EventSource sends it back as Last-Event-ID when it reconnects);
 * `event: dropped` with {"dropped": n} says the server dropped logs for this client; `event: gap` with
 * {"reason", "message"} says logs may be missing from here on (how many is not known). When the connection is
 * refused (404: no /tail on this server; 429: too many tails; 400: a filter), EventSource only says
 * "error", so the status is read with a plain request and said in words.
 */
import type { Log } from './api.ts'

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

async function whyRefused(url: string): Promise<string> {
  const controller = new AbortController()
  try {
    const response = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } })
    const status = response.status
    let message = ''
    if (!response.ok) message = ((await response.json().catch(() => ({}))) as { message?: string }).message ?? ''
    controller.abort()
    if (status === 404) return 'Live tail is not available: this server has no GET /tail (it answered 404). Search and refresh still work.'
    if (status === 429) return `Too many live tails on this server right now (429)${message ? `: ${message}` : ''}. Try again later.`
    if (status === 400) return `Live tail refused the filters: ${message || 'bad request'}`
    if (response.ok) return 'Live tail closed by the server.'
    return `Live tail failed: the server answered ${status}${message ? ` (${message})` : ''}.`
  } catch {
    controller.abort()
    return 'Live tail failed: the server cannot be reached.'
  }
}

export function openTail(params: URLSearchParams, handlers: TailHandlers): Tail {
  const query = params.toString()
  const url = `/tail${query ? `?${query}` : ''}`
  const source = new EventSource(url)
  let closed = false
  handlers.onState('connecting')
  source.addEventListener('open', () => handlers.onState('open'))
  source.addEventListener('message', (event) => {
    try {
      handlers.onLog(JSON.parse((event as MessageEvent<string>).data) as Log)
    } catch {
      // Not a log (a comment-like event): ignore it rather than stop the tail.
    }
  })
  source.addEventListener('dropped', (event) => {
    try {
      handlers.onDropped(Number((JSON.parse((event as MessageEvent<string>).data) as { dropped?: number }).dropped ?? 0))
    } catch {
      handlers.onDropped(0)
    }
  })
  source.addEventListener('gap', (event) => {
    let message = ''
    try {
      message = String((JSON.parse((event as MessageEvent<string>).data) as { message?: unknown }).message ?? '')
    } catch {
      // An unreadable gap still means logs may be missing: say so without the reason.
    }
    handlers.onGap(message)
  })
  source.addEventListener('error', () => {
    if (closed) return
    // CONNECTING: EventSource retries by itself (network trouble, server restart). CLOSED: refused for good.
    if (source.readyState === EventSource.CONNECTING) {
      handlers.onState('reconnecting')
      return
    }
    closed = true
    source.close()
    void whyRefused(url).then(handlers.onClosed)
  })
  return {
    close() {
      closed = true
      source.close()
    },
  }
}
