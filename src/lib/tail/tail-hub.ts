import { asLogStreamError, TailLimitError, TailUnavailableError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type FullLogRow, type LogView, logView } from '../log-rows.ts'
import type { Search } from '../log-search.ts'
import { sleep } from '../retry.ts'
import { type Announcement, parseAnnouncement } from './announcement.ts'
import { AnnouncementQueue, AnnouncementQueueLimits } from './announcement-queue.ts'
import { answerQueries, decide, type Fresh } from './query-answers.ts'
import { frameBytes, type GapReason, GapReasons, sse } from './sse.ts'
import { type FilterInput, filterInput, tailFilter } from './tail-filter.ts'
import { type LogEntry, type RingEntry, TailRing } from './tail-ring.ts'
import type { TailStore } from './tail-store.ts'
import { Tailer } from './tailer.ts'

export interface TailSettings {
  /** Clients at once; one more is refused with TailLimitError (429). */
  maxClients: number
  /** Frames waiting for one client, in bytes, before matching logs are dropped for it. */
  clientQueueBytes: number
  /** Frames kept for resuming and catching up, in bytes. */
  ringBytes: number
  /** Longest an idle client goes without a byte (a comment), for proxies that close silent connections. */
  heartbeatMs: number
}

export interface TailHubOptions extends TailSettings {
  store: TailStore
  log: Logger
  /** How long logs are still read after the last client left, so that a reconnect within it resumes without a gap. */
  lingerMs?: number
  /** EventSource's reconnection delay, sent to each client. */
  retryMs?: number
}

export interface TailStats {
  clients: number
  ringEntries: number
  ringBytes: number
  queuedBytes: number
  dropped: number
  pendingAnnouncements: number
  /** Age of the oldest announcement not yet read: how far behind the stored logs this process is. */
  behindMs: number
}

export interface TailHub {
  /**
   * A new client with `search`'s filters, resuming after `lastEventId` if that log is still held (else it
   * is told so with a gap event and starts from now). Throws TailLimitError at the limit,
   * TailUnavailableError once stopping, a retryable database error if q cannot be read.
   */
  open(search: Search, lastEventId?: string): Promise<Tailer>
  /** A notification payload from the consumers (tail-listener.ts). */
  announce(payload: string): void
  /** Logs may have been stored without being announced here, from now back to some unknown point. */
  gap(reason: GapReason): void
  stats(): TailStats
  /** Ends every client's stream (what is queued is still written) and stops reading. */
  stop(): Promise<void>
}

export const TailLimits = {
  /** Ring entries a catch-up takes at a time. */
  catchUpEntries: 1000,
  lingerMs: 60_000,
  retryMs: 1000,
} as const

const STOP_WAIT_MS = 2000

/** Frame bytes handed to clients (and read) between two synchronous garbage collections. */
const COLLECT_EVERY = 64 * 1024 * 1024

/** Lets pending I/O run: each client's stream hands its queue to its socket. */
const yieldToSockets = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Parses a ring entry's frame back into the view the filters read (only when catching up). */
function replayInput(entry: LogEntry): FilterInput {
  const data = entry.frame.slice(entry.frame.indexOf('\ndata: ') + 7, -2)
  return filterInput(JSON.parse(data) as LogView)
}

/**
 * One per query process: hears about new logs (announce), reads each batch of them once, and feeds every
 * /tail client from memory. New logs go into a ring of recent frames and to each client that is caught
 * up; a client that resumes, or that needs a q answered that the round did not ask, catches up from the
 * ring at its own pace until it is live again. Rounds run one at a time, in the order announcements came.
 */
export function createTailHub(options: TailHubOptions): TailHub {
  const { store, log } = options
  const lingerMs = options.lingerMs ?? TailLimits.lingerMs
  const retryMs = options.retryMs ?? TailLimits.retryMs
  const ring = new TailRing(options.ringBytes)
  const sliceBytes = Math.max(1, Math.floor(options.clientQueueBytes / 2))
  const tailers = new Set<Tailer>()
  let opening = 0
  const queue = new AnnouncementQueue()
  let stopped = false
  let lastLeftAt: number | undefined
  let dropped = 0
  let sinceCollection = 0

  const reading = () => tailers.size > 0 || opening > 0 || (lastLeftAt !== undefined && Date.now() - lastLeftAt < lingerMs)

  /** Brings `tailer` from its position to the end of the ring, then marks it live. */
  async function catchUp(tailer: Tailer): Promise<void> {
    if (tailer.catchingUp) return
    tailer.catchingUp = true
    try {
      while (tailer.open && !stopped) {
        if (tailer.position < ring.firstSeq - 1) {
          tailer.gap(GapReasons.fellBehind)
          tailer.position = ring.firstSeq - 1
        }
        if (tailer.position >= ring.lastSeq) {
          tailer.live = true
          return
        }
        const entries = ring.slice(tailer.position + 1, TailLimits.catchUpEntries)
        const inputs = new Map<LogEntry, FilterInput>()
        for (const entry of entries) if (entry.kind === 'log') inputs.set(entry, replayInput(entry))
        await answerQueries(
          store,
          [...inputs].map(([entry, input]) => ({ entry, input })),
          [tailer],
        )
        for (const entry of entries) {
          if (entry.kind === 'gap') {
            tailer.gap(entry.reason)
            tailer.position = entry.seq
          } else tailer.consider(entry, decide(tailer, entry, inputs.get(entry)!) === true)
        }
      }
    } catch (error) {
      log.warn('tail.catch_up_failed', { error: asLogStreamError(error) })
      // What could not be decided is skipped, and said so; the client goes on from the end.
      tailer.gap(GapReasons.readFailed)
      tailer.position = ring.lastSeq
      tailer.live = true
    } finally {
      tailer.catchingUp = false
    }
  }

  /** Appends a gap to the stream and tells every live client. */
  function streamGap(reason: GapReason): void {
    const entry = ring.gap(reason)
    for (const tailer of tailers) {
      if (!tailer.live) continue
      tailer.gap(reason)
      tailer.position = entry.seq
    }
  }

  /**
   * Offers `fresh`, already in the ring right after seq `before`, to the live clients `which` selects,
   * synchronously so no client sees half of it. A client not exactly at `before`, or whose q has not been
   * answered for every log it needs, catches up from the ring instead.
   */
  function offer(fresh: readonly Fresh[], before: number, which: (tailer: Tailer) => boolean): void {
    const shared = new Map<string, (boolean | undefined)[]>()
    for (const tailer of tailers) {
      if (!tailer.live || !which(tailer)) continue
      if (tailer.position !== before) {
        tailer.live = false
        void catchUp(tailer)
        continue
      }
      // Clients with the same filters (several people tailing errors) share one pass over the slice.
      let decisions = shared.get(tailer.filter.key)
      if (!decisions) {
        decisions = fresh.map((item) => decide(tailer, item.entry, item.input))
        shared.set(tailer.filter.key, decisions)
      }
      if (decisions.includes(undefined)) {
        tailer.live = false
        void catchUp(tailer)
        continue
      }
      for (const [index, item] of fresh.entries()) {
        const matches = decisions[index] === true
        if (matches) sinceCollection += item.entry.bytes
        tailer.consider(item.entry, matches)
      }
    }
  }

  function toFresh(rows: readonly FullLogRow[]): Fresh[] {
    return rows.map((row) => {
      const view = logView(row)
      const id = view.id
      const frame = sse.log(id, JSON.stringify(view))
      const input = filterInput(view)
      return { entry: { kind: 'log', id, frame, bytes: frameBytes(frame) } as LogEntry, input }
    })
  }

  /** `fresh` in slices of at most half a client's queue (one log at least). */
  function slices(fresh: readonly Fresh[]): Fresh[][] {
    const out: Fresh[][] = []
    for (let start = 0; start < fresh.length; ) {
      let end = start
      let bytes = 0
      while (end < fresh.length && (end === start || bytes + fresh[end]!.entry.bytes <= sliceBytes)) bytes += fresh[end++]!.entry.bytes
      out.push(fresh.slice(start, end))
      start = end
    }
    return out
  }

  /**
   * One page of new logs: appended to the ring and offered to the clients without q at once, then to
   * those with a q once PostgreSQL has answered, so that only they wait for it; PostgreSQL is asked
   * first and answers while the others are served. Slices go out one at a time, letting the sockets take
   * each before the next: a page given at once could overflow the queue of a client that reads as fast as
   * it can.
   */
  async function deliverPage(fresh: readonly Fresh[]): Promise<void> {
    // The live clients with a q, at the page's start; one that joins meanwhile catches up from the ring.
    const asked = new Set([...tailers].filter((tailer) => tailer.live && tailer.filter.query && tailer.position === ring.lastSeq))
    const answered = answerQueries(store, fresh, asked).then(
      () => true,
      (error: unknown) => {
        log.warn('tail.query_failed', { error: asLogStreamError(error) })
        return false
      },
    )
    const parts = slices(fresh)
    const starts: number[] = []
    for (const part of parts) {
      if (stopped) return
      const before = ring.lastSeq
      for (const item of part) ring.append(item.entry)
      starts.push(before)
      offer(part, before, (tailer) => !tailer.filter.query)
      await yieldToSockets()
    }
    if (!(await answered)) asked.clear()
    for (const [index, part] of parts.entries()) {
      if (stopped) return
      offer(part, starts[index]!, (tailer) => asked.has(tailer))
      if (index < parts.length - 1) await yieldToSockets()
    }
    for (const tailer of tailers) {
      if (!tailer.live || !tailer.filter.query || asked.has(tailer) || tailer.position === ring.lastSeq) continue
      tailer.live = false
      void catchUp(tailer)
    }
  }

  async function readRound(announcements: Announcement[]): Promise<void> {
    const pages = store.read(announcements)
    try {
      // Each page is read while the one before it is delivered, so PostgreSQL and the sockets work at once.
      let next = pages.next()
      for (let page = await next; !page.done && !stopped; page = await next) {
        next = pages.next()
        // Awaited in the next turn; marked handled now, so a failure meanwhile is not reported as unhandled.
        next.catch(() => {})
        const fresh = toFresh(page.value)
        for (const item of fresh) sinceCollection += item.entry.bytes
        await deliverPage(fresh)
      }
    } catch (error) {
      log.warn('tail.read_failed', { error: asLogStreamError(error) })
      streamGap(GapReasons.readFailed)
    }
  }

  async function run(): Promise<void> {
    for (let turn = await queue.next(); turn && !stopped; turn = await queue.next()) {
      if (!reading()) {
        // Nobody to feed: what is announced now is not read, so nothing held may be resumed across it.
        queue.clear()
        ring.clear()
        continue
      }
      if (turn.kind === 'gap') {
        streamGap(turn.reason)
        continue
      }
      await readRound(turn.announcements)
      // Every frame handed to a client becomes a copy in the chunk its stream writes, and each round leaves
      // rows and views behind; Bun's collector counts strings as little heap growth and collects them late
      // (large-reads.ts says the same of large content). A synchronous collection per COLLECT_EVERY bytes
      // handed out keeps the peak near what is held, at the cost of one collection per that many bytes.
      if (sinceCollection >= COLLECT_EVERY) {
        sinceCollection = 0
        Bun.gc(true)
      }
    }
  }

  const running = run().catch((error: unknown) => log.error('tail.hub_failed', { error }))

  // Ticks at half the interval; a client sent nothing since the previous tick gets a heartbeat, so none
  // goes longer than heartbeatMs without a byte.
  const heartbeats = setInterval(() => {
    for (const tailer of tailers) tailer.heartbeat()
  }, options.heartbeatMs / 2)

  return {
    async open(search, lastEventId) {
      if (stopped) throw new TailUnavailableError()
      if (tailers.size + opening >= options.maxClients) throw new TailLimitError(options.maxClients)
      opening++
      let tailer: Tailer
      try {
        const tsquery = search.q === undefined ? undefined : await store.tsquery(search.q)
        if (stopped) throw new TailUnavailableError()
        tailer = new Tailer({
          filter: tailFilter(search, tsquery),
          maxQueueBytes: options.clientQueueBytes,
          retryMs,
          onClose: (closed) => {
            tailers.delete(closed)
            dropped += closed.droppedTotal
            if (tailers.size === 0) lastLeftAt = Date.now()
          },
        })
      } finally {
        opening--
      }
      tailers.add(tailer)
      lastLeftAt = undefined
      const resumeAt = lastEventId === undefined ? undefined : ring.seqOf(lastEventId)
      if (lastEventId !== undefined && resumeAt === undefined) tailer.gap(GapReasons.resumeUnavailable)
      tailer.position = resumeAt ?? ring.lastSeq
      if (tailer.position === ring.lastSeq && !tailer.filter.query) tailer.live = true
      else void catchUp(tailer)
      return tailer
    },

    announce(payload) {
      const announcement = parseAnnouncement(payload)
      if (!announcement) {
        log.warn('tail.announcement_unreadable', { payload: payload.slice(0, 200) })
        queue.gap(GapReasons.readFailed)
        return
      }
      if (!queue.add(announcement)) log.warn('tail.fell_behind', { pendingRows: AnnouncementQueueLimits.pendingRows })
    },

    gap(reason) {
      queue.gap(reason)
    },

    stats() {
      let queuedBytes = 0
      let clientDrops = 0
      for (const tailer of tailers) {
        queuedBytes += tailer.queuedBytes
        clientDrops += tailer.droppedTotal
      }
      return {
        clients: tailers.size,
        ringEntries: ring.size,
        ringBytes: ring.heldBytes,
        queuedBytes,
        dropped: dropped + clientDrops,
        pendingAnnouncements: queue.length,
        behindMs: queue.behindMs(),
      }
    },

    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(heartbeats)
      queue.close()
      for (const tailer of [...tailers]) tailer.end()
      // A read in progress is abandoned rather than waited for: its clients are gone.
      await Promise.race([running, sleep(STOP_WAIT_MS)])
    },
  }
}

export type { RingEntry }
