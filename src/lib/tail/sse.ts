/**
 * The Server-Sent Events frames /tail writes (WHATWG HTML, "Server-sent events"). Every value is one line:
 * ids are log ids (log-id.ts: digits and dashes) and data is JSON, which escapes line breaks inside strings.
 */

/** Why the stream may be missing logs from here on; the count of what is missing is not known. */
export const GapReasons = {
  /** Last-Event-ID named no log this process still holds (too old, unknown, or another process's). */
  resumeUnavailable: 'resume_unavailable',
  /** The connection that hears about new logs was lost; logs stored until it was back are not streamed. */
  listenInterrupted: 'listen_interrupted',
  /** New logs could not be read from the database (or announced ones could not be understood). */
  readFailed: 'read_failed',
  /** This process fell too far behind the stored logs, or this client behind the process's memory. */
  fellBehind: 'fell_behind',
} as const
export type GapReason = (typeof GapReasons)[keyof typeof GapReasons]

const GAP_MESSAGES: Record<GapReason, string> = {
  resume_unavailable:
    "Last-Event-ID is no longer (or was never) in this server's memory; streaming from now on. Logs stored in between may be missing: read them with /query.",
  listen_interrupted: 'the server lost its connection to the database for a while; logs stored meanwhile are not streamed: read them with /query.',
  read_failed: 'the server could not read some newly stored logs; they are not streamed: read them with /query.',
  fell_behind: 'logs arrived faster than this stream could be fed; some are not streamed: read them with /query.',
}

export const sse = {
  /** One log: its id (what Last-Event-ID resumes from) and its /query JSON. */
  log: (id: string, json: string) => `id: ${id}\ndata: ${json}\n\n`,
  /** Logs that matched but did not fit this client's queue: how many were left out here. */
  dropped: (count: number) => `event: dropped\ndata: {"dropped":${count}}\n\n`,
  gap: (reason: GapReason) => `event: gap\ndata: ${JSON.stringify({ reason, message: GAP_MESSAGES[reason] })}\n\n`,
  /**
   * A comment keeps the connection from looking idle to proxies. With `id`, it also moves
   * the client's Last-Event-ID past logs it was not sent (they did not match), so a reconnect resumes from
   * here; a frame with an id and no data updates the id without firing an event.
   */
  heartbeat: (id?: string) => (id === undefined ? ': heartbeat\n\n' : `: heartbeat\nid: ${id}\n\n`),
  /** First frame: how long EventSource waits before reconnecting, and a comment so headers go out at once. */
  open: (retryMs: number) => `retry: ${retryMs}\n: tail open\n\n`,
} as const

/** The bytes a frame takes on the wire. */
export const frameBytes = (frame: string): number => Buffer.byteLength(frame)
