import type { Violation } from '../log-entry.ts'
import { type Defaults, entryFromDocument, type Parsed } from './document.ts'

/**
 * The Elasticsearch `_bulk` API as shippers use it (Beats, Fluent Bit, Vector, rsyslog, the JS client):
 * NDJSON action/document pairs in, one item per action out, in order. Only `index` and `create` carry
 * logs; `update` and `delete` are answered per item as unsupported. A line that is not JSON where an
 * action must stand makes the whole request a 400 (the pairing after it cannot be known), as in
 * Elasticsearch; a bad document only fails its own item.
 */

export const ELASTIC_PRODUCT_HEADER = { 'x-elastic-product': 'Elasticsearch' } as const
/** The version shippers are told: 8.x makes Beats, Fluent Bit and the v8 client send typeless bulk requests. */
export const ELASTIC_VERSION = '8.17.0'

export interface BulkItem {
  action: string
  index: string
  id: string | undefined
  /** What to store; absent for actions that store nothing. */
  parsed: Parsed
}

export class BulkSyntaxError extends Error {}

const LOG_ACTIONS = new Set(['index', 'create'])
const OTHER_ACTIONS = new Set(['update', 'delete'])

function actionOf(line: string, number: number): { action: string; meta: Record<string, unknown> } {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new BulkSyntaxError(`line ${number}: malformed action/metadata line, expected a JSON object such as {"create":{}}`)
  }
  const keys = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : []
  const action = keys[0]
  if (keys.length !== 1 || !action || !(LOG_ACTIONS.has(action) || OTHER_ACTIONS.has(action))) {
    throw new BulkSyntaxError(`line ${number}: expected one of create, index, update, delete as the action, got ${line.slice(0, 80)}`)
  }
  const meta = (value as Record<string, unknown>)[action]
  return { action, meta: typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {} }
}

function document(line: string | undefined, defaults: Defaults): Parsed {
  // A body's trailing newline leaves an empty last line: an action there has no document either.
  if (line === undefined || !line.trim()) return { problem: { field: 'entry', reason: 'the action has no document line after it' } }
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return { problem: { field: 'entry', reason: `the document is not valid JSON: ${(error as Error).message}` } }
  }
  return entryFromDocument(value, defaults)
}

/** Splits a bulk body into items; throws BulkSyntaxError when an action line is malformed. */
export function parseBulk(body: string, defaultIndex: string | undefined, defaults: Defaults = {}): BulkItem[] {
  const lines = body.split('\n')
  const items: BulkItem[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (!line) continue
    const { action, meta } = actionOf(line, i + 1)
    const index = typeof meta._index === 'string' ? meta._index : (defaultIndex ?? '')
    const id = typeof meta._id === 'string' ? meta._id : undefined
    if (action === 'delete') {
      items.push({ action, index, id, parsed: unsupported(action) })
      continue
    }
    i++
    const source = lines[i]
    items.push({ action, index, id, parsed: LOG_ACTIONS.has(action) ? document(source, defaults) : unsupported(action) })
  }
  return items
}

const unsupported = (action: string): Parsed => ({
  problem: { field: 'action', reason: `${action} is not supported: logs are append-only; use create or index` },
})

export type ItemResult = { ok: true } | { ok: false; status: number; type: string; reason: string }

let idCounter = 0
const newId = () => `${Date.now().toString(36)}${(idCounter++ % 1_679_616).toString(36).padStart(4, '0')}`

/** The bulk response: `errors` true when any item failed, each item under its own action name. */
export function bulkResponse(items: BulkItem[], results: ItemResult[], tookMs: number) {
  return {
    took: tookMs,
    errors: results.some((result) => !result.ok),
    items: items.map((item, i) => {
      const result = results[i]!
      const base = { _index: item.index, _id: item.id ?? newId() }
      if (result.ok)
        return {
          [item.action]: {
            ...base,
            _version: 1,
            result: 'created',
            status: 201,
            _shards: { total: 1, successful: 1, failed: 0 },
            _seq_no: 0,
            _primary_term: 1,
          },
        }
      return { [item.action]: { ...base, status: result.status, error: { type: result.type, reason: result.reason } } }
    }),
  }
}

export const itemRejected = (violation: Violation): ItemResult => ({
  ok: false,
  status: 400,
  type: violation.field === 'action' ? 'action_request_validation_exception' : 'document_parsing_exception',
  reason: `${violation.field} ${violation.reason}`,
})

/** Elasticsearch's shape of a whole-request error. */
export function errorResponse(status: number, type: string, reason: string) {
  return { error: { root_cause: [{ type, reason }], type, reason }, status }
}

/** What `GET /` answers: enough of Elasticsearch's banner for Beats, Fluent Bit and the JS client to proceed. */
export function banner() {
  return {
    name: 'logstream',
    cluster_name: 'logstream',
    cluster_uuid: 'logstream',
    version: {
      number: ELASTIC_VERSION,
      build_flavor: 'default',
      build_type: 'docker',
      lucene_version: '9.12.0',
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  }
}
