import type { Sql, Transaction } from './db.ts'
import { copyLine, insertColumns } from './log-columns.ts'
import type { PendingRow } from './log-writer.ts'

const COPY_LOGS = `copy logs (${insertColumns.join(', ')}) from stdin`

/** Characters of text handed to the COPY stream at a time, so a batch is never held again as one string. */
const CHUNK_CHARS = 1024 * 1024

/**
 * COPYs `rows` into logs, all or none: PostgreSQL refuses the whole statement on the first row it cannot
 * store, a duplicate key included (COPY has no ON CONFLICT), and the refusal is thrown with its SQLSTATE.
 * Inside a transaction that refusal aborts it, so the caller's `begin` rolls back.
 */
export async function copyRows(sql: Sql | Transaction, rows: readonly PendingRow[]): Promise<void> {
  const stream = await sql.unsafe(COPY_LOGS).writable()
  const settled = new Promise<void>((resolve, reject) => {
    // on, not once: writing to the stream after a refusal destroyed it emits 'error' again.
    stream.on('error', reject)
    stream.once('finish', resolve)
  })
  // A refusal met while writing surfaces here when awaited below; until then it must not count as unhandled.
  settled.catch(() => {})
  let chunk = ''
  for (const row of rows) {
    chunk += copyLine(row)
    if (chunk.length < CHUNK_CHARS) continue
    if (!stream.write(chunk)) await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), settled])
    chunk = ''
  }
  stream.end(chunk)
  await settled
}
