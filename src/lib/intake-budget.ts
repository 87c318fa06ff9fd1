/** Room held by one request; released once, however many times `release` is called. */
export interface Reservation {
  readonly bytes: number
  /** Shrinks (always possible) or grows (only if the budget has room) the reservation; false when it cannot grow. */
  resize(bytes: number): boolean
  release(): void
}

interface Waiter {
  bytes: number
  grant(reservation: Reservation): void
}

/**
 * A process-wide count of bytes held in memory for requests, shared by every connection and transport.
 * A request takes its room before it costs memory and gives it back once answered, so excess load is
 * refused while refusing is cheap. One request always fits when nothing else is held: a budget smaller
 * than the largest request slows such requests down to one at a time instead of refusing them forever.
 */
export class ByteBudget {
  readonly limit: number
  #used = 0
  readonly #waiters: Waiter[] = []

  constructor(limit: number) {
    this.limit = limit
  }

  get used(): number {
    return this.#used
  }

  /** Reserves `bytes` if they fit in what is left, otherwise returns undefined and reserves nothing. */
  tryReserve(bytes: number): Reservation | undefined {
    if (this.#waiters.length > 0 || !this.#fits(bytes)) return undefined
    return this.#take(bytes)
  }

  /**
   * Reserves `bytes` as soon as they fit, first come first served, waiting at most `waitMs`; then throws
   * `onTimeout()`. A request that waits costs nothing meanwhile (its body is not read), so a short queue
   * lets many small requests through one after another where refusing them would only make them retry.
   */
  reserve(bytes: number, waitMs: number, onTimeout: () => Error): Promise<Reservation> {
    const now = this.tryReserve(bytes)
    if (now) return Promise.resolve(now)
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: (reservation) => {
          clearTimeout(timer)
          resolve(reservation)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        reject(onTimeout())
        this.#wake()
      }, waitMs)
      this.#waiters.push(waiter)
    })
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.bytes)) {
      const waiter = this.#waiters.shift()!
      waiter.grant(this.#take(waiter.bytes))
    }
  }

  #take(bytes: number): Reservation {
    this.#used += bytes
    let held = bytes
    let released = false
    return {
      get bytes() {
        return released ? 0 : held
      },
      resize: (next) => {
        if (released) return false
        if (next > held && this.#used > held && !this.#fits(next - held)) return false
        this.#used += next - held
        const shrunk = next < held
        held = next
        if (shrunk) this.#wake()
        return true
      },
      release: () => {
        if (released) return
        released = true
        this.#used -= held
        this.#wake()
      },
    }
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.limit
  }
}
