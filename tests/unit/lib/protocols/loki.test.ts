import { describe, expect, test } from 'bun:test'
import { lokiJsonEntries, lokiProtoEntries, parseLabels } from '../../../../src/lib/protocols/loki.ts'

describe('parseLabels', () => {
  test('reads Prometheus label syntax with escapes', () => {
    expect(parseLabels('{job="web", level="info", msg="a \\"q\\" \\\\ b"}')).toEqual({ job: 'web', level: 'info', msg: 'a "q" \\ b' })
    expect(parseLabels('{}')).toEqual({})
  })
  test('refuses what is not label syntax', () => {
    for (const bad of ['job="web"', '{job=web}', '{job="web"', '{job="web"} extra', '{1a="x"}']) expect(parseLabels(bad)).toBeUndefined()
  })
})

describe('lokiJsonEntries', () => {
  test('maps labels and structured metadata; service, level and host come from them', () => {
    const parsed = lokiJsonEntries({
      streams: [
        {
          stream: { service_name: 'web', level: 'warn', host: 'h1', env: 'prod' },
          values: [['1700000000000000001', 'line one', { trace_id: 'ab'.repeat(16), user: 'u1', env: 'clash' }]],
        },
      ],
    })
    expect(parsed).toEqual([
      {
        entry: {
          timestamp: { seconds: '1700000000', nanos: 1 },
          service: 'web',
          level: 'WARN',
          message: 'line one',
          metadata: JSON.stringify({
            service_name: 'web',
            level: 'warn',
            host: 'h1',
            env: 'prod',
            trace_id: 'ab'.repeat(16),
            user: 'u1',
            structured_metadata: { env: 'clash' },
          }),
          trace_id: 'ab'.repeat(16),
          span_id: '',
          host: 'h1',
          tags: [],
        },
      },
    ])
  })

  test('service falls back through app and job to unknown_service; level to INFO', () => {
    const service = (stream: Record<string, string>) =>
      (lokiJsonEntries({ streams: [{ stream, values: [['1', 'l']] }] })[0] as { entry: { service: string; level: string } }).entry
    expect(service({ app: 'a', job: 'j' }).service).toBe('a')
    expect(service({ job: 'j' }).service).toBe('j')
    expect(service({})).toMatchObject({ service: 'unknown_service', level: 'INFO' })
  })

  test('a malformed value is a problem of its own; its neighbours still map', () => {
    const parsed = lokiJsonEntries({ streams: [{ stream: { job: 'j' }, values: [['not-ns', 'x'], ['1', 'ok'], ['1'], ['1', 'x', { n: 1 }]] }] })
    expect(parsed.map((item) => ('problem' in item ? item.problem.field : 'ok'))).toEqual(['timestamp', 'ok', 'entry', 'metadata'])
  })
})

describe('lokiJsonEntries with values that are not a list', () => {
  test('one problem for that stream, its neighbours still map', () => {
    const parsed = lokiJsonEntries({
      streams: [
        { stream: { job: 'j' }, values: 5 as never },
        { stream: { job: 'j' }, values: { a: 1 } as never },
        { stream: { job: 'j' }, values: 'ab' as never },
        { stream: { job: 'j' }, values: [['1', 'ok']] },
      ],
    })
    expect(parsed.map((item) => ('problem' in item ? item.problem.field : 'ok'))).toEqual(['values', 'values', 'values', 'ok'])
  })
})

describe('lokiProtoEntries', () => {
  test('reads the protobuf push: label text, Timestamp, structured metadata', () => {
    const parsed = lokiProtoEntries({
      streams: [
        {
          labels: '{app="api", detected_level="error"}',
          entries: [{ timestamp: { seconds: { toString: () => '1700000000' }, nanos: 5 }, line: 'boom', structuredMetadata: [{ name: 'k', value: 'v' }] }],
        },
      ],
    })
    expect(parsed).toEqual([
      {
        entry: {
          timestamp: { seconds: '1700000000', nanos: 5 },
          service: 'api',
          level: 'ERROR',
          message: 'boom',
          metadata: JSON.stringify({ app: 'api', detected_level: 'error', k: 'v' }),
          trace_id: '',
          span_id: '',
          host: '',
          tags: [],
        },
      },
    ])
  })

  test('bad label text fails every entry of that stream with the reason', () => {
    const parsed = lokiProtoEntries({
      streams: [
        { labels: 'nope', entries: [{ line: 'a' }, { line: 'b' }] },
        { labels: '{a="b"}', entries: [{ line: 'c' }] },
      ],
    })
    expect(parsed.map((item) => ('problem' in item ? item.problem.field : 'ok'))).toEqual(['labels', 'labels', 'ok'])
  })
})
