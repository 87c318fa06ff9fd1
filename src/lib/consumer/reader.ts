import { BatchAbandonedError } from '../errors.ts'
import { type ConsumedMessage, messageBytes } from './message.ts'

/** The part of @platformatic/kafka's MessagesStream the reader uses (a Node.js Readable in object mode). */
export interface MessageSource {
  on(event: 'data', listener: (message: ConsumedMessage) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'close', listener: () => void): unknown
  pause(): unknown
  resume(): unknown
}

export interface ReaderOptions {
  batchMaxRows: number
  /** A batch closes before the message that would take it past this; a lone larger message is a batch of its own. */
  batchMaxBytes: number
  /** A batch that is not full is handed on this long after its first message. */
  lingerMs: number
  maxInFlightBatches: number
  /** Aborted to stop: nothing more is taken, the batch in hand is handed on, and reading ends once every batch settled. */
  stopping: AbortSignal
  /** Aborted to stop waiting for batches in flight: reading ends at once with BatchAbandonedError. */
  abandon?: AbortSignal
}

/** Messages (and their bytes) taken from the stream and not yet handled; updated as the reader goes. */
export interface Held {
  messages: number
  bytes: number
}

interface Batch {
  messages: ConsumedMessage[]
  bytes: number
}

const emptyBatch = (): Batch => ({ messages: [], bytes: 0 })

/**
 * Reads `source` into batches bounded in rows and in bytes, and hands each to `handle`, up to
 * maxInFlightBatches at once. The stream is paused while a full batch waits for a free slot, so what is
 * held stays near (maxInFlightBatches + 1) × batchMaxBytes plus the one fetch already under way (pause()
 * stops @platformatic/kafka's fetch loop; a fetch in flight still lands in the stream's buffer). A slow or
 * failing database therefore stops reading instead of filling memory.
 *
 * Resolves when the stream closes or `stopping` aborts, after every batch handed on has settled. Rejects
 * with the first stream error or batch failure, also only after the batches in flight settled (so nothing
 * is left half-committed); batches not yet handed on are then dropped, to be re-delivered.
 */
export function readBatches(
  source: MessageSource,
  handle: (messages: ConsumedMessage[]) => Promise<unknown>,
  options: ReaderOptions,
  held: Held = { messages: 0, bytes: 0 },
): Promise<void> {
  return new Promise((resolve, reject) => new BatchReader(source, handle, options, held, resolve, reject).start())
}

class BatchReader {
  private filling = emptyBatch()
  /** Full batches waiting for a free slot, oldest first. */
  private readonly sealed: Batch[] = []
  private inFlight = 0
  private failure: { error: unknown } | undefined
  private ended = false
  private paused = false
  private settled = false
  private linger: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly source: MessageSource,
    private readonly handle: (messages: ConsumedMessage[]) => Promise<unknown>,
    private readonly options: ReaderOptions,
    private readonly held: Held,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    const { source, options } = this
    options.stopping.addEventListener('abort', this.pump, { once: true })
    options.abandon?.addEventListener('abort', this.abandon, { once: true })
    source.on('data', this.take)
    source.on('error', (error: Error) => this.fail(error))
    source.on('close', () => {
      this.ended = true
      this.pump()
    })
    if (options.abandon?.aborted) this.abandon()
    else this.pump()
  }

  private get finishing(): boolean {
    return this.options.stopping.aborted || this.ended || this.failure !== undefined
  }

  private readonly take = (message: ConsumedMessage): void => {
    // After stop, end or failure nothing more is taken: it is not committed and comes again.
    if (this.finishing) return
    const { batchMaxRows, batchMaxBytes, lingerMs } = this.options
    const size = messageBytes(message)
    if (this.filling.messages.length > 0 && this.filling.bytes + size > batchMaxBytes) this.seal()
    this.filling.messages.push(message)
    this.filling.bytes += size
    this.held.messages++
    this.held.bytes += size
    if (this.filling.messages.length === 1) {
      this.linger = setTimeout(() => {
        this.seal()
        this.pump()
      }, lingerMs)
    }
    if (this.filling.messages.length >= batchMaxRows || this.filling.bytes >= batchMaxBytes) this.seal()
    this.pump()
  }

  private seal(): void {
    clearTimeout(this.linger)
    this.linger = undefined
    if (this.filling.messages.length === 0) return
    this.sealed.push(this.filling)
    this.filling = emptyBatch()
  }

  /** Hands on what can go, pauses or resumes the stream to match, and ends once everything settled. */
  private readonly pump = (): void => {
    if (this.settled) return
    if (this.failure === undefined) {
      if (this.finishing) this.seal()
      while (this.sealed.length > 0 && this.inFlight < this.options.maxInFlightBatches) this.dispatch(this.sealed.shift()!)
    }
    const hold = this.sealed.length > 0 || this.finishing
    if (hold && !this.paused) {
      this.paused = true
      this.source.pause()
    } else if (!hold && this.paused) {
      this.paused = false
      this.source.resume()
    }
    if (this.finishing && this.inFlight === 0 && (this.failure !== undefined || this.sealed.length === 0)) this.settle()
  }

  private dispatch(batch: Batch): void {
    this.inFlight++
    this.handle(batch.messages)
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.inFlight--
        this.release(batch)
        this.pump()
      })
  }

  private fail(error: unknown): void {
    this.failure ??= { error }
    // Nothing not yet handed on will be: it is dropped, to be re-delivered from the committed offsets.
    for (const batch of this.sealed.splice(0)) this.release(batch)
    this.seal()
    for (const batch of this.sealed.splice(0)) this.release(batch)
    this.pump()
  }

  private readonly abandon = (): void => {
    this.fail(new BatchAbandonedError())
    this.settle()
  }

  private release(batch: Batch): void {
    this.held.messages -= batch.messages.length
    this.held.bytes -= batch.bytes
  }

  private settle(): void {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.linger)
    this.options.stopping.removeEventListener('abort', this.pump)
    this.options.abandon?.removeEventListener('abort', this.abandon)
    if (this.failure) this.reject(this.failure.error)
    else this.resolve()
  }
}
