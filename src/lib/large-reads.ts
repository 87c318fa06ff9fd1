/**
 * Large log content read from PostgreSQL (messages and metadata past RowLimits.inlineBytes) becomes large
 * strings and buffers that the engine's collector counts as little heap growth, so it collects them late: a
 * process streaming many large logs grew to several times what it held at any moment (bench query-memory).
 * Every COLLECT_EVERY bytes of such content read, process-wide, a synchronous collection frees what the
 * previous answers left behind. Small rows never count, so ordinary traffic never pays for it.
 */
const COLLECT_EVERY = 16 * 1024 * 1024

let sinceCollection = 0

/** Counts `bytes` of large content read; collects garbage once COLLECT_EVERY bytes have been read since the last time. */
export function noteLargeRead(bytes: number): void {
  sinceCollection += bytes
  if (sinceCollection < COLLECT_EVERY) return
  sinceCollection = 0
  Bun.gc(true)
}
