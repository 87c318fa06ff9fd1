/** Room held by one request; released once, however many times `release` is called. */
export interface Reservation {
  readonly bytes: number
  /** Shrinks (always possible) or grows (only if the budget has room) the reservation; false when it cannot grow. */
  resize(bytes: number): boolean
  release(): void
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

  constructor(limit: number) {
    this.limit = limit
  }

  get used(): number {
    return this.#used
  }

  /** Reserves `bytes` if they fit in what is left, otherwise returns undefined and reserves nothing. */
  tryReserve(bytes: number): Reservation | undefined {
    if (!this.#fits(bytes)) return undefined
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
        held = next
        return true
      },
      release: () => {
        if (released) return
        released = true
        this.#used -= held
      },
    }
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.limit
  }
}
