import { createConnection, type Socket } from 'node:net'
import postgres from 'postgres'
import { type Sql, types } from './db.ts'

/** Time past the server's statement_timeout left for its cancellation to reach us before we cut the connection. */
const SERVER_CANCEL_GRACE_MS = 1000

export interface WritePoolOptions {
  max: number
  /** Longest a write may go without a reply before it fails (retryably) instead of waiting on. */
  writeTimeoutMs: number
}

/**
 * The pool batches are written through, where no write can hang. Two bounds, because a write can stall
 * in two places: in the server (a lock wait, a slow disk), where statement_timeout makes PostgreSQL
 * cancel the statement (SQLSTATE 57014, retried as transient); and in the network, where a blackhole
 * (packets dropped, the TCP connection still open) means no reply and no error would ever come. For the
 * second, each connection's socket is watched: if it has sent bytes and heard nothing back for
 * writeTimeoutMs plus a grace, it is destroyed with ETIMEDOUT, which fails the query as "database
 * unavailable" and frees the connection. Idle connections (nothing asked) are left alone.
 * Connects to the URL's first host (or its unix socket path) only.
 */
export function connectForWrites(url: string, { max, writeTimeoutMs }: WritePoolOptions): Sql {
  const silenceLimitMs = writeTimeoutMs + SERVER_CANCEL_GRACE_MS
  const options = {
    max,
    connect_timeout: 10,
    connection: { statement_timeout: writeTimeoutMs },
    // postgres.js waits up to 20 s between reconnects after repeated failures; the consumer already
    // backs off between retries, so reconnect promptly once the server answers again.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    socket: ({ host, port, path }: { host: string[]; port: number[]; path: string | false }) => {
      const socket = path ? createConnection(path) : createConnection(port[0]!, host[0]!)
      // postgres.js names the server in connection errors from these two fields of its own sockets.
      return replyBoundedSocket(Object.assign(socket, { host: host[0], port: port[0] }), silenceLimitMs)
    },
    onnotice: () => {},
    types,
  }
  return postgres(url, options)
}

function replyBoundedSocket(socket: Socket, silenceLimitMs: number): Socket {
  let heardFromServer = false
  let writtenAtLastReply = 0
  socket.on('data', () => {
    heardFromServer = true
    writtenAtLastReply = socket.bytesWritten
  })
  const onSilence = () => {
    if (socket.bytesWritten <= writtenAtLastReply) {
      // Idle, nothing asked. Bun fires a socket timeout once, not again after later activity: re-arm.
      socket.setTimeout(silenceLimitMs, onSilence)
      return
    }
    // How postgres.js fails the waiting queries depends on the phase. While connecting, only an
    // error fails the query that opened the connection (a plain close makes it reconnect forever).
    // Once connected, only a plain close fails every query queued on the connection: with an error
    // it fails those already sent, and one handed over between 'error' and 'close' would wait forever.
    if (heardFromServer) socket.destroy()
    else socket.destroy(Object.assign(new Error(`no reply from PostgreSQL within ${silenceLimitMs} ms while connecting`), { code: 'ETIMEDOUT' }))
  }
  socket.setTimeout(silenceLimitMs, onSilence)
  return socket
}
