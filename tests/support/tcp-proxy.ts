import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 (port 0) in front of `target`, which a test can break in two ways and mend:
 * cut() is a server going down: every open connection is destroyed and new ones are refused.
 * stall() is a network blackhole: connections stay open and new ones are accepted, but no byte is
 * forwarded either way, so a client waits for replies that never come.
 * restore() mends either: it listens again on the same port (clients reconnect to the address they
 * know) and stalled connections forward again, including what was sent to them meanwhile.
 */
export interface TcpProxy {
  port: number
  /** Connections accepted and forwarded since start. */
  readonly forwarded: number
  cut(): Promise<void>
  stall(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

interface Link {
  client: Socket
  /** Opened on the first forward, so a connection accepted while stalled never reaches the target. */
  upstream?: Socket
  held: boolean
}

const ProxyModes = { forwarding: 'forwarding', cut: 'cut', stalled: 'stalled' } as const
type ProxyMode = (typeof ProxyModes)[keyof typeof ProxyModes]

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>()
  let mode: ProxyMode = ProxyModes.forwarding
  let forwarded = 0

  const drop = (link: Link) => {
    link.client.destroy()
    link.upstream?.destroy()
    links.delete(link)
  }

  const forward = (link: Link) => {
    link.held = false
    if (!link.upstream) {
      forwarded++
      link.upstream = connect(target.port, target.host)
      link.upstream.on('error', () => drop(link)).on('close', () => drop(link))
    }
    link.client.pipe(link.upstream)
    link.upstream.pipe(link.client)
  }

  const hold = (link: Link) => {
    link.held = true
    link.client.unpipe()
    link.upstream?.unpipe()
    link.client.pause()
    link.upstream?.pause()
  }

  const server: Server = createServer((client) => {
    if (mode === ProxyModes.cut) {
      client.destroy()
      return
    }
    const link: Link = { client, held: false }
    links.add(link)
    client.on('error', () => drop(link)).on('close', () => drop(link))
    if (mode === ProxyModes.stalled) hold(link)
    else forward(link)
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
      mode = ProxyModes.cut
      const closing = stopListening()
      for (const link of [...links]) drop(link)
      await closing
    },
    async stall() {
      mode = ProxyModes.stalled
      for (const link of links) hold(link)
    },
    async restore() {
      mode = ProxyModes.forwarding
      if (!server.listening) await listen(address.port)
      for (const link of links) if (link.held) forward(link)
    },
    async close() {
      mode = ProxyModes.cut
      const closing = stopListening()
      for (const link of [...links]) drop(link)
      await closing
    },
  }
}
