import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 (port 0) in front of `target`, which a test can cut and restore to simulate a
 * server going down: cut() destroys every open connection and stops listening (new connections are
 * refused, as by a stopped server); restore() listens again on the same port, so clients reconnect to
 * the address they know.
 */
export interface TcpProxy {
  port: number
  /** Connections accepted and forwarded since start. */
  readonly forwarded: number
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let up = true
  let forwarded = 0

  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy()
      return
    }
    forwarded++
    const upstream = connect(target.port, target.host)
    open.add(client)
    open.add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))

  await listen(0)
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('proxy has no TCP address')

  return {
    port: address.port,
    get forwarded() {
      return forwarded
    },
    async cut() {
      up = false
      const closing = stopListening()
      for (const socket of open) socket.destroy()
      open.clear()
      await closing
    },
    async restore() {
      up = true
      if (!server.listening) await listen(address.port)
    },
    async close() {
      up = false
      const closing = stopListening()
      for (const socket of open) socket.destroy()
      await closing
    },
  }
}
