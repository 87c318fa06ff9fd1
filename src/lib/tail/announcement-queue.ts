import type { Announcement } from './announcement.ts'
import { type GapReason, GapReasons } from './sse.ts'

export const AnnouncementQueueLimits = {
  /**
   * Announced rows taken in one round: several announcements are read together when they pile up, in
   * pages read one ahead of delivery (tail-hub.ts), so a larger round keeps reading and delivering overlapped.
   */
  rowsPerRound: 20_000,
  /**
   * Announced rows waiting to be read beyond which the process has fallen too far behind: they are
   * dropped and a gap queued in their place, rather than queued without bound.
   */
  pendingRows: 200_000,
} as const

/** What the hub does next: read a round of announcements, or tell its clients of a gap. */
export type Turn = { kind: 'round'; announcements: Announcement[] } | { kind: 'gap'; reason: GapReason }

type Item = { kind: 'announce'; announcement: Announcement; rows: number; at: number } | { kind: 'gap'; reason: GapReason }

const rowsOf = (announcement: Announcement) => announcement.runs.reduce((sum, run) => sum + Number(run.last - run.first) + 1, 0)

/**
 * The announcements heard and not yet read, in the order they came, bounded in rows: the hub's only
 * backlog. Gaps keep their place among them, so a client learns of one exactly where it happened.
 */
export class AnnouncementQueue {
  private items: Item[] = []
  private rows = 0
  private wake: (() => void) | undefined
  private closed = false

  constructor(private readonly limits: { rowsPerRound: number; pendingRows: number } = AnnouncementQueueLimits) {}

  /** Queues `announcement`; false when it would pass `pendingRows`: the backlog is then replaced by a gap. */
  add(announcement: Announcement): boolean {
    const rows = rowsOf(announcement)
    if (this.rows + rows > this.limits.pendingRows) {
      this.items = this.items.filter((item) => item.kind === 'gap')
      this.rows = 0
      this.push({ kind: 'gap', reason: GapReasons.fellBehind })
      return false
    }
    this.rows += rows
    this.push({ kind: 'announce', announcement, rows, at: Date.now() })
    return true
  }

  gap(reason: GapReason): void {
    this.push({ kind: 'gap', reason })
  }

  /** Forgets every announcement (nobody will read them); queued gaps go too. */
  clear(): void {
    this.items = []
    this.rows = 0
  }

  /**
   * The next turn, waiting for one: a gap alone, or the announcements at the head up to rowsPerRound rows
   * (at least one). Undefined once closed.
   */
  async next(): Promise<Turn | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
      this.wake = undefined
    }
    if (this.closed) return undefined
    const head = this.items[0]!
    if (head.kind === 'gap') {
      this.items.shift()
      return head
    }
    const announcements: Announcement[] = []
    let rows = 0
    for (
      let item = this.items[0];
      item?.kind === 'announce' && (announcements.length === 0 || rows + item.rows <= this.limits.rowsPerRound);
      item = this.items[0]
    ) {
      this.items.shift()
      announcements.push(item.announcement)
      rows += item.rows
    }
    this.rows -= rows
    return { kind: 'round', announcements }
  }

  /** Wakes a waiting next(), which then returns undefined. */
  close(): void {
    this.closed = true
    this.wake?.()
  }

  /** Turns waiting (announcements and gaps). */
  get length(): number {
    return this.items.length
  }

  /** Age in ms of the oldest announcement waiting at the head: how far behind the stored logs the reader is. */
  behindMs(now = Date.now()): number {
    const head = this.items[0]
    return head?.kind === 'announce' ? now - head.at : 0
  }

  private push(item: Item): void {
    if (this.closed) return
    this.items.push(item)
    this.wake?.()
  }
}
