import { EventEmitter } from 'node:events'
import type { BatchParts } from '../../../../src/lib/consumer/batch-handler.ts'
import { type ConsumedMessage, type PartitionOffset, partitionKey } from '../../../../src/lib/consumer/message.ts'
import type { DeadLetter } from '../../../../src/lib/dead-letters.ts'
import { DatabaseUnavailableError, UndecodableMessageError } from '../../../../src/lib/errors.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import type { LogRecord } from '../../../../src/lib/log-entry.ts'
import type { PendingRow, WriteResult } from '../../../../src/lib/log-writer.ts'

export const TOPIC = 'logs.raw'
export const silentLog = createLogger({}, { write: () => {} })
export const fastBackoff = { minMs: 1, maxMs: 5 }

/** A message whose value is `value` (default: a decodable `row-<offset>`), padded to `bytes` if given. */
export function message(partition: number, offset: number, value = `row-${offset}`, bytes?: number): ConsumedMessage {
  const body = bytes === undefined ? Buffer.from(value) : Buffer.concat([Buffer.from(value), Buffer.alloc(Math.max(0, bytes - value.length))])
  return { topic: TOPIC, partition, offset: BigInt(offset), leaderEpoch: 0, key: null, value: body }
}

/** Decodes any value that does not start with "bad"; the record's message is the value's text. */
export function decode(value: Buffer): LogRecord {
  const text = value.toString().replace(/\0+$/, '')
  if (text.startsWith('bad')) throw new UndecodableMessageError(`not a protobuf LogEntry: ${text}`)
  return { timestampMicros: 1, service: 's', level: 'INFO', message: text, metadata: '{}', traceId: '', spanId: '', host: '', tags: [] }
}

export function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Everything a batch handler talks to, recording what it was asked; `write` can be replaced per test. */
export function fakeParts(options: { assigned?: number[]; write?: (rows: PendingRow[]) => Promise<WriteResult<PendingRow>> } = {}) {
  const written: PendingRow[][] = []
  const published: DeadLetter[][] = []
  const commits: PartitionOffset[][] = []
  const assigned = new Set((options.assigned ?? [0, 1, 2]).map((partition) => partitionKey(TOPIC, partition)))
  const parts: BatchParts = {
    decode,
    write: (async (rows: PendingRow[]) => {
      written.push(rows)
      return options.write ? options.write(rows) : { inserted: rows.length, rejected: [] }
    }) as BatchParts['write'],
    publishDeadLetters: async (letters) => {
      published.push(letters)
    },
    commit: async (offsets) => {
      commits.push(offsets)
    },
    assigned: () => assigned,
  }
  return { parts, written, published, commits, assigned }
}

export const databaseDown = () => Promise.reject(new DatabaseUnavailableError('cannot write logs: connect ECONNREFUSED'))

/** Commits as `partition -> offset` pairs, for readable expectations. */
export const offsetsOf = (commits: PartitionOffset[][]) => commits.map((offsets) => offsets.map(({ partition, offset }) => [partition, Number(offset)]))

/** A stand-in for MessagesStream with Node.js Readable's pause semantics: paused, pushed messages wait. */
export class FakeStream extends EventEmitter {
  paused = false
  pauses = 0
  resumes = 0
  private readonly buffered: ConsumedMessage[] = []

  push(...messages: ConsumedMessage[]): void {
    for (const item of messages) {
      if (this.paused || this.buffered.length > 0) this.buffered.push(item)
      else this.emit('data', item)
    }
  }

  pause(): this {
    this.paused = true
    this.pauses++
    return this
  }

  resume(): this {
    this.paused = false
    this.resumes++
    while (!this.paused && this.buffered.length > 0) this.emit('data', this.buffered.shift()!)
    return this
  }

  get waiting(): number {
    return this.buffered.length
  }
}
