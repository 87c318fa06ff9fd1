import { parseLogId } from '../log-id.ts'
import { type FilterInput, matchesFields, queryMayMatch } from './tail-filter.ts'
import type { LogEntry } from './tail-ring.ts'
import type { LogKey, TailStore } from './tail-store.ts'
import type { Tailer } from './tailer.ts'

// q is decided by PostgreSQL (its text-search parser is the truth /query uses), once per log and query
// text; the answers are kept on the ring entry, so clients with the same q, and catch-ups later, ask no more.

/** A log just read: its ring entry and what the filters read of it. */
export interface Fresh {
  entry: LogEntry
  input: FilterInput
}

function answersOf(entry: LogEntry): Map<string, boolean> {
  if (!entry.queries) entry.queries = new Map()
  return entry.queries
}

/** Which of `fresh` need PostgreSQL's answer for a q, asked once per log for every q that needs it. */
export async function answerQueries(store: TailStore, fresh: readonly Fresh[], clients: Iterable<Tailer>): Promise<void> {
  const texts: string[] = []
  const indexOf = new Map<string, number>()
  const keys: LogKey[] = []
  const asked: Fresh[] = []
  for (const item of fresh) {
    let needed = false
    for (const tailer of clients) {
      const query = tailer.filter.query
      if (!query || item.entry.queries?.has(query.text)) continue
      // Ruled out without asking is not remembered: decide() rules it out again as cheaply.
      if (!matchesFields(tailer.filter, item.input) || !queryMayMatch(query, item.input)) continue
      if (!indexOf.has(query.text)) {
        indexOf.set(query.text, texts.length)
        texts.push(query.text)
      }
      needed = true
    }
    if (needed) {
      asked.push(item)
      const { partition, offset } = parseLogId(item.entry.id)
      keys.push({ timestamp: item.input.view.timestamp, partition, offset: BigInt(offset) })
    }
  }
  if (asked.length === 0) return
  const matched = await store.matchQueries(keys, texts)
  asked.forEach((item, index) => {
    const answers = answersOf(item.entry)
    const hits = new Set(matched[index])
    texts.forEach((text, n) => {
      if (!answers.has(text)) answers.set(text, hits.has(n))
    })
  })
}

/** true / false when known; undefined when PostgreSQL has not been asked for this client's q yet. */
export function decide(tailer: Tailer, entry: LogEntry, input: FilterInput): boolean | undefined {
  if (!matchesFields(tailer.filter, input)) return false
  const query = tailer.filter.query
  if (!query) return true
  if (!queryMayMatch(query, input)) return false
  return entry.queries?.get(query.text)
}
