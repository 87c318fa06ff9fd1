import { IngestOverloadedError, IngestShuttingDownError, KafkaUnavailableError } from './errors.ts'

export interface BatcherOptions {
  /** A batch is sent once it holds this many items… */
  maxCount: number
  /** …or this many bytes… */
  maxBytes: number
  /** …or once its oldest item has waited this long, whichever comes first. */
  lingerMs: number
  /** Bytes accepted but not yet acknowledged; past it `submit` fails at once with IngestOverloadedError (unless nothing is pending). */
  maxPendingBytes: number
  /** Batches being sent at the same time; further items wait (and merge into larger batches). */
  maxInFlight: number
}

export interface BatchItem<T> {
  value: T
  bytes: number
}

export interface SubmitOptions {
  /** The caller stops waiting after this long and gets KafkaUnavailableError. */
  timeoutMs: number
  /** Aborting (e.g. the client cancelled) stops waiting; items not yet sent are dropped. */
  signal?: AbortSignal
}

export type SendBatch<T> = (values: T[]) => Promise<void>

interface Ticket {
  unsettled: number
  done: boolean
  entries: Entry<unknown>[]
  resolve(): void
  /** Rejects the caller and drops its items not sent yet: they could no longer be reported stored. */
  fail(error: unknown): void
}

interface Entry<T> {
  value: T
  bytes: number
  ticket: Ticket
  /** performance.now() when submitted: linger counts from the oldest item still queued. */
  at: number
  /** queued → sending → settled; or queued → dropped when its caller gave up before it was sent. */
  state: 'queued' | 'sending' | 'settled' | 'dropped'
}

export interface BatcherStats {
  pendingBytes: number
  queuedItems: number
  inFlight: number
  batchesSent: number
}

/**
 * Gathers items from all concurrent callers into batches for one `send` function. Each caller's promise
 * resolves only once every one of ITS items was in a batch whose send succeeded; if any of its batches
 * failed, or it stopped waiting, it rejects, and none of its items may be reported as stored.
 *
 * Items wait while `maxInFlight` batches are being sent, so under load batches grow on their own up to
 * `maxCount` / `maxBytes`; a lone item waits at most `lingerMs` for company.
 */
export class Batcher<T> {
  readonly #options: BatcherOptions
  readonly #send: SendBatch<T>
  #queue: Entry<T>[] = []
  #head = 0
  #queuedItems = 0
  #queuedBytes = 0
  #pendingBytes = 0
  #inFlight = 0
  #batchesSent = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #closing = false
  #idle: (() => void)[] = []

  constructor(options: BatcherOptions, send: SendBatch<T>) {
    this.#options = options
    this.#send = send
  }

  get stats(): BatcherStats {
    return { pendingBytes: this.#pendingBytes, queuedItems: this.#queuedItems, inFlight: this.#inFlight, batchesSent: this.#batchesSent }
  }

  submit(items: BatchItem<T>[], options: SubmitOptions): Promise<void> {
    if (this.#closing) return Promise.reject(new IngestShuttingDownError())
    if (items.length === 0) return Promise.resolve()
    const bytes = items.reduce((sum, item) => sum + item.bytes, 0)
    // Alone, a submission larger than the whole allowance still goes: refused, it could never be stored.
    if (this.#pendingBytes > 0 && this.#pendingBytes + bytes > this.#options.maxPendingBytes) {
      return Promise.reject(
        new IngestOverloadedError(`ingest is holding ${this.#pendingBytes} unacknowledged bytes (limit ${this.#options.maxPendingBytes}); retry with backoff`),
      )
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal))

    const { promise, resolve, reject } = Promise.withResolvers<void>()
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = () => ticket.fail(abortError(options.signal))
    const finish = () => {
      ticket.done = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
    const ticket: Ticket = {
      unsettled: items.length,
      done: false,
      entries: [],
      resolve: () => {
        finish()
        resolve()
      },
      fail: (error) => {
        if (ticket.done) return
        finish()
        for (const entry of ticket.entries) if (entry.state === 'queued') this.#drop(entry)
        reject(error)
      },
    }
    timer = setTimeout(() => ticket.fail(new KafkaUnavailableError(`Kafka did not acknowledge within ${options.timeoutMs} ms`)), options.timeoutMs)
    options.signal?.addEventListener('abort', onAbort, { once: true })

    const at = performance.now()
    for (const item of items) {
      const entry: Entry<T> = { value: item.value, bytes: item.bytes, ticket, at, state: 'queued' }
      ticket.entries.push(entry)
      this.#queue.push(entry)
    }
    this.#queuedItems += items.length
    this.#queuedBytes += bytes
    this.#pendingBytes += bytes
    this.#pump()
    return promise
  }

  /** Sends everything queued at once (ignoring linger), refuses new items, and resolves when all sends settled. */
  close(): Promise<void> {
    this.#closing = true
    this.#pump()
    if (this.#inFlight === 0 && this.#queuedItems === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #drop(entry: Entry<T> | Entry<unknown>): void {
    entry.state = 'dropped'
    this.#queuedItems -= 1
    this.#queuedBytes -= entry.bytes
    this.#pendingBytes -= entry.bytes
  }

  #ready(): boolean {
    const { maxCount, maxBytes, lingerMs } = this.#options
    return this.#closing || this.#queuedItems >= maxCount || this.#queuedBytes >= maxBytes || performance.now() - this.#oldestQueuedAt() >= lingerMs
  }

  #oldestQueuedAt(): number {
    while (this.#head < this.#queue.length && this.#queue[this.#head]?.state === 'dropped') this.#head += 1
    return this.#queue[this.#head]?.at ?? performance.now()
  }

  #pump(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#queuedItems > 0) {
      if (!this.#ready()) {
        this.#schedule()
        return
      }
      this.#dispatch(this.#take())
    }
    if (this.#queuedItems === 0) {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#compact()
    }
    if (this.#inFlight === 0 && this.#queuedItems === 0) for (const resolve of this.#idle.splice(0)) resolve()
  }

  #schedule(): void {
    if (this.#timer) return
    const wait = Math.max(0, this.#oldestQueuedAt() + this.#options.lingerMs - performance.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#pump()
    }, wait)
  }

  #take(): Entry<T>[] {
    const { maxCount, maxBytes } = this.#options
    const batch: Entry<T>[] = []
    let bytes = 0
    while (this.#head < this.#queue.length && batch.length < maxCount) {
      const entry = this.#queue[this.#head] as Entry<T>
      if (entry.state === 'dropped') {
        this.#head += 1
        continue
      }
      // An item larger than maxBytes still goes, alone; otherwise a batch never exceeds maxBytes.
      if (batch.length > 0 && bytes + entry.bytes > maxBytes) break
      this.#head += 1
      entry.state = 'sending'
      batch.push(entry)
      bytes += entry.bytes
    }
    this.#queuedItems -= batch.length
    this.#queuedBytes -= bytes
    this.#compact()
    return batch
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (this.#head >= this.#queue.length) {
      this.#queue = []
      this.#head = 0
    }
  }

  #dispatch(batch: Entry<T>[]): void {
    this.#inFlight += 1
    this.#batchesSent += 1
    this.#send(batch.map((entry) => entry.value)).then(
      () => this.#settle(batch, undefined),
      (error: unknown) => this.#settle(batch, error ?? new Error('send failed')),
    )
  }

  #settle(batch: Entry<T>[], error: unknown): void {
    this.#inFlight -= 1
    for (const entry of batch) {
      entry.state = 'settled'
      this.#pendingBytes -= entry.bytes
      const ticket = entry.ticket
      if (ticket.done) continue
      if (error !== undefined) ticket.fail(error)
      else if (--ticket.unsettled === 0) ticket.resolve()
    }
    this.#pump()
  }
}

function abortError(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new Error('cancelled')
}
