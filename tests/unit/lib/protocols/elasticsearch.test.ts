import { describe, expect, test } from 'bun:test'
import { BulkSyntaxError, bulkResponse, itemRejected, parseBulk } from '../../../../src/lib/protocols/elasticsearch.ts'

const ndjson = (...lines: unknown[]) => `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`

describe('parseBulk', () => {
  test('pairs create and index actions with their documents, in order', () => {
    const items = parseBulk(ndjson({ create: { _index: 'logs' } }, { message: 'a', 'service.name': 's' }, { index: {} }, { message: 'b' }), 'default')
    expect(items.map(({ action, index }) => ({ action, index }))).toEqual([
      { action: 'create', index: 'logs' },
      { action: 'index', index: 'default' },
    ])
    expect(items[0]!.parsed).toMatchObject({ entry: { service: 's', message: 'a' } })
  })

  test('a document that is not JSON fails only its own item', () => {
    const items = parseBulk(ndjson({ create: {} }, '{"message": broken', { create: {} }, { message: 'ok' }), undefined)
    expect(items[0]!.parsed).toMatchObject({ problem: { field: 'entry' } })
    expect(items[1]!.parsed).toMatchObject({ entry: { message: 'ok' } })
  })

  test('an action with no document after it, at the end of the body or before a blank line, says so', () => {
    for (const body of [ndjson({ create: {} }), `${JSON.stringify({ create: {} })}`, `${JSON.stringify({ index: {} })}\n\n`]) {
      expect(parseBulk(body, undefined)[0]!.parsed).toEqual({ problem: { field: 'entry', reason: 'the action has no document line after it' } })
    }
  })

  test('update and delete are answered as unsupported, keeping the pairing', () => {
    const items = parseBulk(ndjson({ delete: { _id: '1' } }, { update: { _id: '2' } }, { doc: {} }, { create: {} }, { message: 'kept' }), undefined)
    expect(items.map((item) => ('problem' in item.parsed ? item.parsed.problem.field : 'ok'))).toEqual(['action', 'action', 'ok'])
  })

  test('a malformed action line fails the whole request, naming the line', () => {
    expect(() => parseBulk(ndjson({ create: {} }, { message: 'a' }, 'garbage'), undefined)).toThrow(BulkSyntaxError)
    expect(() => parseBulk(ndjson({ search: {} }), undefined)).toThrow('line 1')
  })
})

describe('bulkResponse', () => {
  test('one item per action under its own name; errors says whether any failed', () => {
    const items = parseBulk(ndjson({ create: { _index: 'i', _id: 'x' } }, { message: 'a' }, { index: { _index: 'i' } }, { message: 'b' }), undefined)
    const response = bulkResponse(items, [{ ok: true }, itemRejected({ field: 'level', reason: 'is bad' })], 3)
    expect(response.errors).toBe(true)
    expect(response.items[0]).toMatchObject({ create: { _index: 'i', _id: 'x', status: 201, result: 'created' } })
    expect(response.items[1]).toMatchObject({ index: { status: 400, error: { type: 'document_parsing_exception', reason: 'level is bad' } } })
    expect(bulkResponse(items.slice(0, 1), [{ ok: true }], 1).errors).toBe(false)
  })
})
