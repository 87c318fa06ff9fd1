/**
 * What the live tail shows. Logs arrive newest last and are shown newest first. While the reader looks at
 * the top, a new log goes straight into `rows`; while they have scrolled away (`paused`), it waits in
 * `pending` and the page says "N new", so nothing moves under the reader. At most `max` rows are kept (the
 * oldest go), and at most `max` pending ones; `missed` counts the pending ones that had to go, `dropped`
 * the logs the server says it dropped for this client (`event: dropped`). A log is shown once, even if it
 * was also in the page the tail started from.
 * Pure: the page renders `rows` and the counters.
 */
export interface TailLog {
  id: string
}

export interface TailChange<T> {
  /** Rows to put at the top, newest first. */
  added: T[]
  /** Rows to take away (the oldest, past `max`). */
  removed: T[]
}

export class TailBuffer<T extends TailLog> {
  rows: T[] = []
  pending: T[] = []
  paused = false
  /** Pending logs discarded because more than `max` arrived while paused. */
  missed = 0
  /** Logs the server dropped for this client, from `event: dropped`. */
  dropped = 0
  /** True once rows past `max` were removed: the list no longer ends where "load older" would go on. */
  trimmed = false
  private readonly ids = new Set<string>()

  constructor(readonly max = 1000) {}

  /** Starts from a page of logs, newest first (the search's first page). */
  seed(rows: readonly T[]): void {
    this.rows = [...rows]
    this.pending = []
    this.ids.clear()
    for (const row of this.rows) this.ids.add(row.id)
    this.missed = 0
    this.dropped = 0
    this.trimmed = false
  }

  /**
   * Older logs appended at the bottom ("load older"); those already shown are skipped. Not bounded: a
   * reader may page as far back as they like; `max` applies once the tail adds logs (the oldest then go).
   */
  append(rows: readonly T[]): T[] {
    const fresh = rows.filter((row) => !this.ids.has(row.id))
    for (const row of fresh) this.ids.add(row.id)
    this.rows.push(...fresh)
    return fresh
  }

  /** A log from the tail. */
  push(log: T): TailChange<T> {
    if (this.ids.has(log.id)) return { added: [], removed: [] }
    this.ids.add(log.id)
    if (this.paused) {
      this.pending.push(log)
      if (this.pending.length > this.max) {
        const gone = this.pending.shift()!
        this.ids.delete(gone.id)
        this.missed++
      }
      return { added: [], removed: [] }
    }
    this.rows.unshift(log)
    return { added: [log], removed: this.trim() }
  }

  /** The number the page shows as "N new". */
  get newCount(): number {
    return this.pending.length + this.missed
  }

  pause(): void {
    this.paused = true
  }

  /** Back at the top: the pending logs go on top, newest first. */
  resume(): TailChange<T> {
    this.paused = false
    const added = this.pending.reverse()
    this.pending = []
    this.missed = 0
    this.rows.unshift(...added)
    return { added, removed: this.trim() }
  }

  noteDropped(count: number): void {
    if (Number.isFinite(count) && count > 0) this.dropped += count
  }

  private trim(): T[] {
    if (this.rows.length <= this.max) return []
    const removed = this.rows.splice(this.max)
    for (const row of removed) this.ids.delete(row.id)
    this.trimmed = true
    return removed
  }
}
