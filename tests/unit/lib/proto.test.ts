import { describe, expect, test } from 'bun:test'
import {
  decodeIngestRequest,
  decodeIngestResponse,
  encodeIngestRequest,
  encodeIngestResponse,
  type IngestResponse,
  ingestService,
  LogEntryType,
} from '../../../src/lib/proto.ts'

const entry = {
  timestamp: { seconds: '1730894400', nanos: 123_456_789 },
  service: 'api',
  level: 'INFO',
  message: 'hi',
  trace_id: 'ab'.repeat(16),
  span_id: 'cd'.repeat(8),
  tags: ['a', 'b'],
}

describe('proto', () => {
  test("decodeIngestRequest keeps each entry's bytes as sent, decodes its fields in the wire names, and reports the request size", () => {
    const body = encodeIngestRequest({ logs: [entry, { message: 'bare' }] })
    const request = decodeIngestRequest(body)
    expect(request.bytes).toBe(body.length)
    expect(request.logs.map((item) => Buffer.from(item.bytes))).toEqual([
      Buffer.from(LogEntryType.encode(LogEntryType.fromObject(entry)).finish()),
      Buffer.from(LogEntryType.encode(LogEntryType.fromObject({ message: 'bare' })).finish()),
    ])
    expect(request.logs[0]!.input).toEqual({
      timestamp: { seconds: 1_730_894_400, nanos: 123_456_789 },
      service: 'api',
      level: 'INFO',
      message: 'hi',
      metadata: '',
      trace_id: 'ab'.repeat(16),
      span_id: 'cd'.repeat(8),
      host: '',
      tags: ['a', 'b'],
      timestamp_from_server: false,
    })
    expect(request.logs[1]!.input.timestamp).toBeNull()
  })

  test('decodeIngestRequest refuses, without throwing, an entry that claims more bytes than the request holds', () => {
    const body = encodeIngestRequest({ logs: [entry] })
    const request = decodeIngestRequest(body.subarray(0, body.length - 3))
    expect(request).toMatchObject({ logs: [], bytes: body.length - 3, problem: expect.stringContaining('not a protobuf IngestRequest') })
  })

  test('decodeIngestRequest refuses garbage, without throwing', () => {
    expect(decodeIngestRequest(Buffer.from('not a protobuf at all')).problem).toContain('not a protobuf IngestRequest')
  })

  test('an IngestResponse survives encode and decode, rejections included', () => {
    const response: IngestResponse = { accepted: 1, rejected: 1, error: '1 of 2 logs rejected', rejections: [{ index: 1, field: 'level', reason: 'bad' }] }
    expect(decodeIngestResponse(encodeIngestResponse(response))).toEqual(response)
    expect(decodeIngestResponse(encodeIngestResponse({ accepted: 3, rejected: 0, error: '', rejections: [] }))).toEqual({
      accepted: 3,
      rejected: 0,
      error: '',
      rejections: [],
    })
  })

  test("the grpc-js method serializes a client's request into what the server's deserializer reads", () => {
    const { requestSerialize, requestDeserialize, path } = ingestService.Ingest
    expect(path).toBe('/logstream.LogIngestion/Ingest')
    expect(requestDeserialize(requestSerialize({ logs: [entry] })).logs[0]!.input.message).toBe('hi')
  })
})
