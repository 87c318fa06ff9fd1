/**
 * A separate process holding many GET /tail streams, so their CPU is not charged to the query service. For
 * every log whose trace id the load generator sampled (any trace id not among its template requests'), it
 * records when each stream received it. Prints `{"type":"ready"}` once every stream answered, a `receipt`
 * line per (stream, sampled log) as they come (written out every 100 ms), and after SIGTERM one `client`
 * line per stream.
 *
 *   bun bench/tail-clients.ts '{"url":"http://127.0.0.1:8080","filters":["", "service=api"]}'
 */
import { entry } from './load-generator.ts'

export interface TailClientsOptions {
  url: string
  /** One stream per filter: the query string after /tail? ('' for none). */
  filters: string[]
}

export interface Receipt {
  type: 'receipt'
  client: number
  trace: string
  /** Date.now() when the stream delivered it. */
  at: number
}

export interface ClientSummary {
  type: 'client'
  client: number
  filter: string
  status: number
  logs: number
  bytes: number
  dropped: number
  gaps: number
  /** Set when the stream ended or failed before the run did. */
  ended?: string
}

/** How many distinct requests the generator builds up front (load-generator.ts runLoad), each of this many entries at most. */
const TEMPLATES = 32
const TEMPLATE_ENTRIES = 1000

const templateTraces = new Set<string>()
for (let i = 0; i < TEMPLATES * TEMPLATE_ENTRIES; i++) templateTraces.add(entry(i).trace_id)

const TRACE = Buffer.from('"trace_id":"')
const FRAME_START = Buffer.from('\n\nid: ')
const DROPPED = Buffer.from('event: dropped\ndata: {"dropped":')
const GAP = Buffer.from('event: gap')
/** Bytes kept from the end of one chunk to the next, so a marker split between two chunks is still found. */
const CARRY = 64

/** Occurrences of `marker` in `bytes` starting before `limit`, calling `each` with the index after it. */
function scan(bytes: Buffer, marker: Buffer, limit: number, each: (after: number) => void): void {
  for (let at = bytes.indexOf(marker); at >= 0 && at < limit; at = bytes.indexOf(marker, at + 1)) each(at + marker.length)
}

/**
 * Reads one stream scanning raw bytes (Buffer.indexOf is native): the client is the cheap side, so its own
 * lag stays out of the latencies measured. Logs are counted by frame starts, dropped counts and gaps read
 * from their frames; a sampled trace id is recorded with the time its chunk arrived.
 */
async function follow(
  options: TailClientsOptions,
  client: number,
  filter: string,
  receipts: Receipt[],
  summary: ClientSummary,
  signal: AbortSignal,
  ready: () => void,
) {
  const response = await fetch(`${options.url}/tail${filter ? `?${filter}` : ''}`, { signal })
  summary.status = response.status
  ready()
  if (!response.body) return
  let carry = Buffer.alloc(0)
  try {
    for await (const chunk of response.body) {
      const at = Date.now()
      summary.bytes += chunk.length
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
      // Markers wholly inside the carried part were seen with the previous chunk.
      const fresh = carry.length
      const limit = bytes.length
      scan(bytes, FRAME_START, limit, (after) => {
        if (after > fresh) summary.logs++
      })
      // Each marker is handled with the chunk in which it (with what follows it) is complete.
      scan(bytes, TRACE, limit, (after) => {
        if (after + 32 <= fresh || after + 32 > bytes.length) return
        const trace = bytes.toString('latin1', after, after + 32)
        if (!templateTraces.has(trace)) receipts.push({ type: 'receipt', client, trace, at })
      })
      scan(bytes, DROPPED, limit, (after) => {
        const end = bytes.indexOf(0x7d, after)
        if (end > after && end >= fresh) summary.dropped += Number(bytes.toString('latin1', after, end))
      })
      scan(bytes, GAP, limit, (after) => {
        if (after > fresh) summary.gaps++
      })
      carry = Buffer.from(bytes.subarray(Math.max(0, bytes.length - CARRY)))
    }
    summary.ended = 'stream ended'
  } catch (error) {
    if (!signal.aborted) summary.ended = String(error)
  }
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '{}') as TailClientsOptions
  const stop = new AbortController()
  const receipts: Receipt[] = []
  const summaries: ClientSummary[] = options.filters.map((filter, client) => ({
    type: 'client',
    client,
    filter,
    status: 0,
    logs: 0,
    bytes: 0,
    dropped: 0,
    gaps: 0,
  }))
  let answered = 0
  if (options.filters.length === 0) process.stdout.write(`${JSON.stringify({ type: 'ready' })}\n`)
  const streams = options.filters.map((filter, client) =>
    follow(options, client, filter, receipts, summaries[client]!, stop.signal, () => {
      if (++answered === options.filters.length) process.stdout.write(`${JSON.stringify({ type: 'ready' })}\n`)
    }).catch((error: unknown) => {
      summaries[client]!.ended = String(error)
    }),
  )
  let finished = false
  const flush = () => {
    if (receipts.length === 0) return
    process.stdout.write(`${receipts.map((line) => JSON.stringify(line)).join('\n')}\n`)
    receipts.length = 0
  }
  const flushing = setInterval(flush, 100)
  const finish = async () => {
    if (finished) return
    finished = true
    stop.abort()
    await Promise.all(streams)
    clearInterval(flushing)
    flush()
    process.stdout.write(`${summaries.map((line) => JSON.stringify(line)).join('\n')}\n`, () => process.exit(0))
  }
  process.on('SIGTERM', () => void finish())
  // Streams that all end by themselves (the server went away) end the run too.
  void Promise.all(streams).then(finish)
}
