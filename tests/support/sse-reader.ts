/**
 * Reads a Server-Sent Events stream the way EventSource does (WHATWG HTML, "Event stream interpretation"):
 * fields per line, an event dispatched at each blank line, `id` kept across events (and updated by a frame
 * with an id and no data, which dispatches nothing), comments counted.
 */
export interface SseEvent {
  event: string
  data: string
  /** The stream's last event id once this event was dispatched. */
  lastEventId: string
}

export class SseParser {
  readonly events: SseEvent[] = []
  comments = 0
  lastEventId = ''
  retry: number | undefined
  private buffer = ''
  private data: string[] = []
  private type = ''
  private idBuffer = ''

  push(chunk: string): void {
    this.buffer += chunk
    let newline = this.buffer.indexOf('\n')
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '')
      this.buffer = this.buffer.slice(newline + 1)
      this.line(line)
      newline = this.buffer.indexOf('\n')
    }
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch()
      return
    }
    if (line.startsWith(':')) {
      this.comments++
      return
    }
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.type = value
    else if (field === 'id' && !value.includes('\u0000')) this.idBuffer = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer
    if (this.data.length > 0) this.events.push({ event: this.type || 'message', data: this.data.join('\n'), lastEventId: this.lastEventId })
    this.data = []
    this.type = ''
  }
}

/** Reads `stream` into a parser in the background until it ends; `done` settles then. */
export function readSse(stream: ReadableStream<Uint8Array | string>) {
  const parser = new SseParser()
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      parser.push(typeof value === 'string' ? value : decoder.decode(value, { stream: true }))
    }
  })()
  return { parser, done, cancel: () => reader.cancel() }
}
