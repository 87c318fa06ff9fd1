import { Elysia } from 'elysia'
import { QueryInvalidError, TailUnavailableError } from '../errors.ts'
import { parseSearch, searchInput } from '../log-search.ts'
import type { TailHub } from './tail-hub.ts'

/** Read by /tail itself: a resume point for clients that cannot set the Last-Event-ID header. */
const RESUME_PARAMETER = 'last_event_id'
/** /query's paging parameters, which mean nothing for a stream. */
const PAGING = ['limit', 'page', 'cursor'] as const

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  // nginx buffers proxied responses unless told not to; a buffered stream is not live.
  'x-accel-buffering': 'no',
} as const

/**
 * GET /tail: new logs matching the /query filters, as Server-Sent Events, from `hub` (tail-hub.ts). Without
 * a hub (a process that does not run one) it answers 503. Errors are thrown for the app's onError.
 */
export function tailRoutes(hub: TailHub | undefined) {
  return new Elysia({ name: 'query.tail' }).get(
    '/tail',
    async ({ request, server }) => {
      if (!hub) throw new TailUnavailableError('the live tail does not run in this process')
      const params = new URL(request.url).searchParams
      for (const name of PAGING) {
        if (params.has(name)) throw new QueryInvalidError(name, `${name}: not accepted by /tail, which streams every new log that matches; page with /query`)
      }
      const fromQuery = params.get(RESUME_PARAMETER)
      params.delete(RESUME_PARAMETER)
      // EventSource sends the header on its own reconnects, carrying the newest id it has: it wins.
      const lastEventId = request.headers.get('last-event-id') ?? fromQuery ?? undefined
      const search = parseSearch(searchInput(params), { extra: [RESUME_PARAMETER] })
      const tailer = await hub.open(search, lastEventId?.trim() || undefined)
      // A client that leaves before the stream is read frees its place too (the stream's cancel covers the rest).
      request.signal.addEventListener('abort', () => tailer.end(), { once: true })
      // Bun.serve's idleTimeout (30 s as Elysia starts it) closes a streaming response even while it is
      // being written to, heartbeats included (seen with Bun 1.4.5): lifted for this request alone.
      server?.timeout(request, 0)
      return new Response(tailer.stream, { headers: HEADERS })
    },
    {
      detail: {
        summary: 'Live tail: new logs matching the /query filters, as Server-Sent Events',
        description:
          'Each event is one log in the /query shape (data), its id the log id. Last-Event-ID (header, or last_event_id) resumes after a reconnect. ' +
          '`event: dropped` ({"dropped":n}) says n matching logs did not fit a slow client; `event: gap` ({"reason","message"}) says logs may be missing here, count unknown. ' +
          'Comment lines are heartbeats. Above TAIL_MAX_CLIENTS streams the answer is 429 TAIL_LIMIT.',
      },
    },
  )
}
