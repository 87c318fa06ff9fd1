/**
 * The Server-Sent Events wire format, read the way EventSource reads it (WHATWG HTML, "Interpreting an event
 * stream"), for the live tail's fetch(): EventSource cannot send an Authorization header. Lines end in CRLF,
 * LF or CR; `:` starts a comment; data lines join with "\n"; an `id` (without NUL) is remembered across
 * events and connections, even from a frame with no data (the tail's heartbeats move it past logs that did not
 * match); `retry` sets the reconnection delay; an event without data is not dispatched.
 */
export interface SseEvent {
  /** `event:` field, or "message". */
  type: string
  data: string
  /** The last event id when it was dispatched. */
  id: string
}

export class SseParser {
  /** What a reconnect sends as Last-Event-ID. */
  lastEventId: string
  /** The server's `retry:`, in ms, once it sent one. */
  retryMs: number | undefined
  #pending = ''
  #data: string[] = []
  #type = ''
  #id: string

  constructor(lastEventId = '') {
    this.lastEventId = lastEventId
    this.#id = lastEventId
  }

  /** Reads decoded text (any split, even mid-line); returns the events it completed. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = []
    let buffer = this.#pending + text
    for (;;) {
      const end = buffer.search(/[\r\n]/)
      if (end < 0) break
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for the next one.
      if (buffer[end] === '\r' && end === buffer.length - 1) break
      const line = buffer.slice(0, end)
      buffer = buffer.slice(buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1)
      const event = this.#line(line)
      if (event) events.push(event)
    }
    this.#pending = buffer
    return events
  }

  #line(line: string): SseEvent | undefined {
    if (line === '') return this.#dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#type = value
    else if (field === 'id' && !value.includes('\0')) this.#id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value)
    return undefined
  }

  #dispatch(): SseEvent | undefined {
    this.lastEventId = this.#id
    const data = this.#data
    const type = this.#type || 'message'
    this.#data = []
    this.#type = ''
    return data.length === 0 ? undefined : { type, data: data.join('\n'), id: this.lastEventId }
  }
}
