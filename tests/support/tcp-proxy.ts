import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 (port 0) in front of `target`, which a test can cut and restore to simulate a
 * database outage: cut() destroys every open connection and refuses new ones (accepted, then closed at
 * once) while keeping the same port, so clients reconnect to the same address once restore() is called.
 */
export interface TcpProxy {
  port: number
  /** Connections accepted and forwarded since start. */
  readonly forwarded: number
  cut(): void
  restore(): void
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('proxy has no TCP address')

  return {
    port: address.port,
    get forwarded() {
      return forwarded
    },
    cut() {
      up = false
      for (const socket of open) socket.destroy()
      open.clear()
    },
    restore() {
      up = true
    },
    close: () =>
      new Promise<void>((resolve) => {
        up = false
        for (const socket of open) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
