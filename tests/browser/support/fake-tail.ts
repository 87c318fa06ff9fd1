import type { LogView } from '../../../src/lib/log-rows.ts'

/**
 * A stand-in for GET /tail that speaks its contract (issue 14) and nothing more, so that the page's side of
 * the live tail can be tested whatever the real endpoint does: each event's data is one log in the /query
 * shape and its id the log id; `event: dropped` with {"dropped": n}. The test says what is sent and when.
 */
export class FakeTail {
  /** Every request made to /tail, in order. */
  readonly requests: URL[] = []
  /** The status to answer with; anything but 200 is answered as the API answers errors. */
  status = 200
  /** Sent as `retry:` when a stream opens, so a test need not wait the page's default delay to see it reconnect. */
  retryMs: number | undefined
  private readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>()
  private readonly encoder = new TextEncoder()

  /** For serveExplorer's `intercept`: answers /tail, leaves every other request to the app. */
  readonly intercept = (request: Request): Response | undefined => {
    const url = new URL(request.url)
    if (url.pathname !== '/tail') return undefined
    this.requests.push(url)
    if (this.status !== 200) {
      const error = this.status === 404 ? { error: 'NOT_FOUND', message: 'no such route; see /openapi' } : { error: 'TAIL_LIMIT', message: 'too many tailers' }
      return Response.json(error, { status: this.status })
    }
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined
    const stream = new ReadableStream<Uint8Array>({
      start: (opened) => {
        controller = opened
        this.streams.add(opened)
        opened.enqueue(this.encoder.encode(`${this.retryMs === undefined ? '' : `retry: ${this.retryMs}\n`}: tail open\n\n`))
      },
      cancel: () => {
        if (controller) this.streams.delete(controller)
      },
    })
    return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } })
  }

  /** Connected readers. */
  get readers(): number {
    return this.streams.size
  }

  private write(text: string): void {
    for (const stream of this.streams) stream.enqueue(this.encoder.encode(text))
  }

  /** Ends every stream, as a server restart would: clients reconnect. */
  end(): void {
    for (const stream of this.streams) stream.close()
    this.streams.clear()
  }

  /** Sends logs, in one write: oldest first, as they would be stored. */
  send(...logs: LogView[]): void {
    this.write(logs.map((log) => `id: ${log.id}\ndata: ${JSON.stringify(log)}\n\n`).join(''))
  }

  dropped(count: number): void {
    this.write(`event: dropped\ndata: ${JSON.stringify({ dropped: count })}\n\n`)
  }

  gap(reason: string, message: string): void {
    this.write(`event: gap\ndata: ${JSON.stringify({ reason, message })}\n\n`)
  }
}

let sequence = 0

/** A log in the /query shape, stamped now. */
export function tailLog(fields: Partial<LogView> = {}): LogView {
  sequence++
  const now = new Date().toISOString().replace('Z', '000Z')
  return {
    id: `9-${sequence}`,
    timestamp: now,
    service: 'tailed',
    level: 'INFO',
    message: `live log ${sequence}`,
    metadata: {},
    trace_id: null,
    span_id: null,
    host: 'tail-host',
    tags: [],
    ingested_at: now,
    ...fields,
  }
}
