import { type GapReason, sse } from './sse.ts'
import type { TailFilter } from './tail-filter.ts'
import type { LogEntry } from './tail-ring.ts'

export interface TailerOptions {
  filter: TailFilter
  /** Frames waiting for this client beyond which matching logs are dropped (and counted), in bytes. */
  maxQueueBytes: number
  /** EventSource's reconnection delay, sent in the first frame. */
  retryMs: number
  /** Called once when the client has gone (or the stream was ended). */
  onClose(tailer: Tailer): void
}

/**
 * One /tail client: its filter, where it is in the stream (`position`, a TailRing seq), and the frames
 * waiting for it. Its response body pulls from that queue only as fast as the socket takes bytes, so a
 * client that does not read costs at most `maxQueueBytes` here; logs that match while the queue is full
 * are counted and announced as one `event: dropped` frame once there is room. Frames are shared strings.
 */
export class Tailer {
  readonly filter: TailFilter
  readonly stream: ReadableStream<string>
  /** Seq of the last stream entry this client was offered, matching or not. */
  position = 0
  /** Id of the last log among those entries, for heartbeats (sse.ts). */
  positionId: string | undefined
  /** Caught up with the stream: the hub offers it each new entry as it comes. */
  live = false
  /** A catch-up from the ring is running for it (tail-hub.ts). */
  catchingUp = false
  /** Logs dropped in all because the queue was full. */
  droppedTotal = 0

  private readonly maxQueueBytes: number
  private readonly onClose: (tailer: Tailer) => void
  private queue: string[]
  private queued = 0
  private dropped = 0
  /** The id the client will have once it has read everything queued. */
  private sentId: string | undefined
  /** Something was queued since the last heartbeat tick. */
  private busy = true
  private controller: ReadableStreamDefaultController<string> | undefined
  private wake: (() => void) | undefined
  private state: 'open' | 'ending' | 'closed' = 'open'

  constructor(options: TailerOptions) {
    this.filter = options.filter
    this.maxQueueBytes = options.maxQueueBytes
    this.onClose = options.onClose
    this.queue = [sse.open(options.retryMs)]
    this.stream = new ReadableStream<string>(
      {
        start: (controller) => {
          this.controller = controller
        },
        pull: (controller) => {
          if (this.flush(controller)) return
          return new Promise<void>((resolve) => {
            this.wake = () => {
              this.wake = undefined
              this.flush(controller)
              resolve()
            }
          })
        },
        cancel: () => this.closed(),
      },
      // Nothing is buffered inside the stream: a chunk is made only when the socket asks for one.
      { highWaterMark: 0 },
    )
  }

  get open(): boolean {
    return this.state === 'open'
  }

  /** Bytes of frames waiting to be written. */
  get queuedBytes(): number {
    return this.queued
  }

  /** Moves past `entry`, sending it if it matched this client's filter. */
  consider(entry: LogEntry, matches: boolean): void {
    this.position = entry.seq
    this.positionId = entry.id
    if (!matches || this.state !== 'open') return
    if (this.queue.length > 0 && this.queued + entry.bytes > this.maxQueueBytes) {
      this.dropped++
      this.droppedTotal++
      return
    }
    this.enqueue(entry.frame, entry.bytes)
    this.sentId = entry.id
  }

  /** Says logs may be missing here. Not bounded by the queue (it is small), but never twice in a row. */
  gap(reason: GapReason): void {
    if (this.state !== 'open') return
    const frame = sse.gap(reason)
    if (this.queue.at(-1) === frame) return
    this.enqueue(frame, frame.length)
  }

  /**
   * Called on a timer: sends a comment when nothing was queued since the previous call and nothing is
   * waiting, carrying the position when the client has been offered logs it was not sent. Called every
   * half heartbeat interval, no client goes longer than the interval without a byte.
   */
  heartbeat(): void {
    const idle = !this.busy
    this.busy = false
    if (!idle || this.state !== 'open' || this.queue.length > 0 || this.dropped > 0) return
    const id = this.positionId !== this.sentId ? this.positionId : undefined
    this.enqueue(sse.heartbeat(id), 32)
    this.sentId = this.positionId
    this.busy = false
  }

  /** Ends the response once what is queued has been handed to the socket. */
  end(): void {
    if (this.state !== 'open') return
    this.state = 'ending'
    if (this.wake) this.wake()
    // The socket is still writing an earlier chunk: hand over the rest (bounded by the queue) and close.
    else if (this.controller) this.flush(this.controller)
  }

  private enqueue(frame: string, bytes: number): void {
    if (this.dropped > 0) this.pushDropped()
    this.queue.push(frame)
    this.queued += bytes
    this.busy = true
    this.wake?.()
  }

  private pushDropped(): void {
    const frame = sse.dropped(this.dropped)
    this.dropped = 0
    this.queue.push(frame)
    this.queued += frame.length
  }

  /** Hands everything queued to the stream as one chunk; false when there was nothing. */
  private flush(controller: ReadableStreamDefaultController<string>): boolean {
    if (this.dropped > 0) this.pushDropped()
    const sent = this.queue.length > 0
    if (sent) {
      controller.enqueue(this.queue.length === 1 ? this.queue[0]! : this.queue.join(''))
      this.queue = []
      this.queued = 0
    }
    if (this.state === 'ending') {
      this.finish(controller)
      return true
    }
    return sent
  }

  private finish(controller: ReadableStreamDefaultController<string>): void {
    try {
      controller.close()
    } catch {
      // Already closed or cancelled by the client.
    }
    this.closed()
  }

  private closed(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.queue = []
    this.queued = 0
    this.wake = undefined
    this.onClose(this)
  }
}
