import type { GapReason } from './sse.ts'

/**
 * The recent stream of one query process, bounded in bytes: what a reconnecting client resumes from
 * (Last-Event-ID) and what a client that joined or fell behind mid-read catches up on. Entries are numbered
 * in the order they were streamed (`seq`); the oldest are dropped once the frames held pass `maxBytes`.
 */
export interface LogEntry {
  kind: 'log'
  seq: number
  id: string
  /** The SSE frame, shared by every client it is sent to. */
  frame: string
  bytes: number
  /** PostgreSQL's answers for this log's message, by tsquery text, where one was asked (tail-filter.ts). */
  queries?: Map<string, boolean>
}

/** A point in the stream where logs may be missing (sse.ts, GapReasons). */
export interface GapEntry {
  kind: 'gap'
  seq: number
  reason: GapReason
  bytes: number
}

export type RingEntry = LogEntry | GapEntry
export type NewEntry = Omit<LogEntry, 'seq'> | Omit<GapEntry, 'seq'>

/** What a gap marker is counted as, so a run of them is bounded too. */
const GAP_BYTES = 64

export class TailRing {
  private entries: RingEntry[] = []
  private head = 0
  private bytes = 0
  private nextSeq = 1
  private readonly byId = new Map<string, number>()

  constructor(readonly maxBytes: number) {}

  /** The seq of the oldest entry held; lastSeq + 1 when empty. */
  get firstSeq(): number {
    return this.entries[this.head]?.seq ?? this.nextSeq
  }

  /** The seq of the newest entry ever appended (0 before the first). */
  get lastSeq(): number {
    return this.nextSeq - 1
  }

  get size(): number {
    return this.entries.length - this.head
  }

  get heldBytes(): number {
    return this.bytes
  }

  append(entry: NewEntry): RingEntry {
    const held = Object.assign(entry, { seq: this.nextSeq++ }) as RingEntry
    this.entries.push(held)
    this.bytes += held.bytes
    if (held.kind === 'log') this.byId.set(held.id, held.seq)
    while (this.bytes > this.maxBytes && this.size > 1) this.evict()
    return held
  }

  gap(reason: GapReason): RingEntry {
    return this.append({ kind: 'gap', reason, bytes: GAP_BYTES })
  }

  /** Drops everything held; seqs keep counting, so no client position is ever reused. */
  clear(): void {
    this.entries = []
    this.head = 0
    this.bytes = 0
    this.byId.clear()
  }

  /** The seq of the log with this id, if held. */
  seqOf(id: string): number | undefined {
    return this.byId.get(id)
  }

  /** Up to `limit` entries from seq `from` on (from at least firstSeq). */
  slice(from: number, limit: number): RingEntry[] {
    const start = this.head + Math.max(0, from - this.firstSeq)
    return this.entries.slice(start, Math.min(this.entries.length, start + limit))
  }

  private evict(): void {
    const oldest = this.entries[this.head]!
    this.entries[this.head] = undefined as unknown as RingEntry
    this.head++
    this.bytes -= oldest.bytes
    if (oldest.kind === 'log' && this.byId.get(oldest.id) === oldest.seq) this.byId.delete(oldest.id)
    // Compact now and then rather than shift() each time, which is linear in the entries held.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }
}
