/**
 * Reads a JSON answer as it streams in, without ever holding it: a /query page of 728 logs of 900 kB is
 * ~650 MB of JSON, and a benchmark client that parsed it whole would need more memory than the service it
 * measures. `JsonScanner` counts the elements of each top-level array (`logs`, `before`, `after`), collects
 * the `id` of each log (an object in a top-level array, or a top-level object such as context's `log`), and
 * parses the small top-level values (`pagination`, `took_ms`, `error`, …); long strings are skipped with
 * indexOf. `NdjsonScanner` counts the lines of an export and notices `{"error":…}` lines.
 */

const QUOTE = 34
const BACKSLASH = 92
const OPEN_OBJECT = 123
const CLOSE_OBJECT = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93
const COMMA = 44
const COLON = 58
const OBJECT = 1
const ARRAY = 2
/** Top-level values longer than this are not kept (their name goes to `largeFields`). */
const FIELD_LIMIT = 64 * 1024
const SHORT_STRING = 256

const isSpace = (b: number) => b === 32 || b === 10 || b === 13 || b === 9
const indexOrEnd = (chunk: Uint8Array, byte: number, from: number) => {
  const at = chunk.indexOf(byte, from)
  return at === -1 ? chunk.length : at
}

export class JsonScanner {
  bytes = 0
  /** Elements of each top-level array, and 1 for a top-level object that has an `id`. */
  readonly counts: Record<string, number> = {}
  /** The `id` of every log seen, in order. */
  readonly ids: string[] = []
  /** Top-level values other than arrays, parsed, when at most FIELD_LIMIT bytes. */
  readonly fields: Record<string, unknown> = {}
  readonly largeFields: string[] = []

  private readonly stack: number[] = []
  private expectKey = false
  private awaitingTopValue = false
  private inString = false
  private escape = false
  /** Bytes of the string being read when they matter (a key, an id), else null. */
  private text: number[] | null = null
  private textRole: 'top-key' | 'log-key' | 'id' | null = null
  private topKey = ''
  private logKey = ''
  /** Stack depth inside the log object being read (2: a top-level object value, 3: an element of a top-level array); 0 outside. */
  private logDepth = 0
  /** While a top-level value other than an array is being read: its bytes so far (null once past FIELD_LIMIT). */
  private capturing = false
  private capture: Uint8Array[] | null = null
  private captureBytes = 0
  /** Where the captured value starts in the current chunk (0 when it began in an earlier one). */
  private captureFrom = 0

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length
    const n = chunk.length
    let quoteAt = -1
    let backslashAt = -1
    this.captureFrom = 0
    let i = 0
    while (i < n) {
      if (this.inString) {
        if (this.escape) {
          this.escape = false
          this.text?.push(chunk[i]!)
          i++
          continue
        }
        if (!this.text) {
          // Skip to the next quote or backslash: messages are long.
          if (quoteAt < i) quoteAt = indexOrEnd(chunk, QUOTE, i)
          if (backslashAt < i) backslashAt = indexOrEnd(chunk, BACKSLASH, i)
          i = Math.min(quoteAt, backslashAt)
          if (i >= n) break
        }
        const b = chunk[i]!
        if (b === BACKSLASH) {
          this.escape = true
          this.text?.push(b)
        } else if (b === QUOTE) this.endString()
        else if (this.text && this.text.length < SHORT_STRING) this.text.push(b)
        i++
        continue
      }
      const b = chunk[i]!
      if (isSpace(b)) {
        i++
        continue
      }
      const depth = this.stack.length
      if (this.awaitingTopValue) {
        this.awaitingTopValue = false
        if (b === OPEN_ARRAY) this.counts[this.topKey] ??= 0
        else this.startCapture(i)
        if (b === OPEN_OBJECT) this.logDepth = 2
      }
      if (b === QUOTE) {
        this.inString = true
        const inObject = this.stack[depth - 1] === OBJECT
        if (inObject && this.expectKey) this.textRole = depth === 1 ? 'top-key' : depth === this.logDepth ? 'log-key' : null
        else this.textRole = depth === this.logDepth && this.logDepth > 0 && this.logKey === 'id' ? 'id' : null
        this.text = this.textRole ? [] : null
      } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
        if (b === OPEN_OBJECT && depth === 2 && this.stack[1] === ARRAY) {
          this.counts[this.topKey] = (this.counts[this.topKey] ?? 0) + 1
          this.logDepth = 3
        }
        this.stack.push(b === OPEN_OBJECT ? OBJECT : ARRAY)
        this.expectKey = b === OPEN_OBJECT
        if (this.stack.length === this.logDepth) this.logKey = ''
      } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        if (depth === 1) this.endCapture(chunk, i)
        if (depth === this.logDepth) this.logDepth = 0
        this.stack.pop()
      } else if (b === COMMA) {
        if (depth === 1) this.endCapture(chunk, i)
        this.expectKey = this.stack[depth - 1] === OBJECT
      } else if (b === COLON) {
        this.expectKey = false
        if (depth === 1) this.awaitingTopValue = true
      }
      i++
    }
    if (this.capturing) this.keep(chunk.slice(this.captureFrom))
  }

  private endString(): void {
    this.inString = false
    const value = this.text ? Buffer.from(this.text).toString('utf8') : ''
    if (this.textRole === 'top-key') this.topKey = value
    else if (this.textRole === 'log-key') this.logKey = value
    else if (this.textRole === 'id') {
      this.ids.push(value)
      if (this.logDepth === 2) this.counts[this.topKey] = (this.counts[this.topKey] ?? 0) + 1
    }
    if (this.textRole === 'top-key' || this.textRole === 'log-key') this.expectKey = false
    this.text = null
    this.textRole = null
  }

  private startCapture(at: number): void {
    this.capturing = true
    this.capture = []
    this.captureBytes = 0
    this.captureFrom = at
  }

  private keep(part: Uint8Array): void {
    if (!this.capture) return
    this.captureBytes += part.length
    if (this.captureBytes > FIELD_LIMIT) {
      this.capture = null
      this.largeFields.push(this.topKey)
    } else this.capture.push(part)
  }

  private endCapture(chunk: Uint8Array, at: number): void {
    if (!this.capturing) return
    this.keep(chunk.slice(this.captureFrom, at))
    this.capturing = false
    if (!this.capture) return
    const text = Buffer.concat(this.capture).toString('utf8')
    this.capture = null
    try {
      this.fields[this.topKey] = JSON.parse(text)
    } catch {
      this.fields[this.topKey] = text
    }
  }
}

const ERROR_LINE = Buffer.from('{"error"')

export class NdjsonScanner {
  bytes = 0
  lines = 0
  /** Lines that begin `{"error"`: the export's own report of a failure after the status was sent. */
  errorLines = 0
  firstErrorLine: string | undefined
  private head: number[] = []
  private inLine = false
  private errorLine: number[] | null = null

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length
    let i = 0
    while (i < chunk.length) {
      if (!this.inLine) {
        this.inLine = true
        this.head = []
      }
      if (this.head.length < ERROR_LINE.length) {
        const b = chunk[i]!
        if (b !== 10) {
          this.head.push(b)
          if (this.head.length === ERROR_LINE.length && Buffer.from(this.head).equals(ERROR_LINE)) {
            this.errorLines += 1
            if (this.firstErrorLine === undefined) this.errorLine = [...this.head]
          }
          i++
          continue
        }
      }
      const newline = chunk.indexOf(10, i)
      const end = newline === -1 ? chunk.length : newline
      if (this.errorLine && this.errorLine.length < 500) this.errorLine.push(...chunk.subarray(i, Math.min(end, i + 500)))
      if (newline === -1) break
      this.endLine()
      i = newline + 1
    }
  }

  /** Call at the end of the body: a last line without a newline still counts. */
  end(): void {
    if (this.inLine && this.head.length > 0) this.endLine()
  }

  private endLine(): void {
    this.lines += 1
    this.inLine = false
    if (this.errorLine) {
      this.firstErrorLine = Buffer.from(this.errorLine).toString('utf8').slice(0, 500)
      this.errorLine = null
    }
  }
}
