import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import pino from 'pino'
import winston from 'winston'
import LokiTransport from 'winston-loki'
import { LokiPushRequestType } from '../../../src/lib/proto.ts'
import { type StoredRow, startIntakeStack } from '../../support/intake-stack.ts'
import { throughPinoLoki } from '../../support/pino-loki-stream.ts'

/**
 * Loki's push API (`POST /loki/api/v1/push`) end to end, through Kafka and PostgreSQL to /query, driven by
 * the real client libraries: pino-loki (JSON) and winston-loki (JSON, and snappy-compressed protobuf when its
 * optional native `snappy` loads, as it does here). Loki's contract: 204 when stored; 400 only for entries
 * that can never be stored, naming them, while the valid entries of the same push are stored.
 */

setDefaultTimeout(60_000)
const stack = await startIntakeStack()
const PUSH = `${stack.httpUrl}/loki/api/v1/push`

const byMessage = (logs: StoredRow[]) => Object.fromEntries(logs.map((log) => [log.message, log]))
const nowNanos = () => `${Date.now()}000000`

/**
 * Snappy block format with literals only: a varint of the length, then literal runs of at most 64 KiB.
 * Valid snappy that any decoder reads (the format does not oblige a compressor to find copies); the copies
 * real snappy emits are exercised by winston-loki's protobuf pushes.
 */
function snappyLiterals(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const out: number[] = []
  let length = data.length
  do {
    const low = length & 0x7f
    length = Math.floor(length / 128)
    out.push(length > 0 ? low | 0x80 : low)
  } while (length > 0)
  for (let pos = 0; pos < data.length; pos += 65_536) {
    const chunk = data.subarray(pos, pos + 65_536)
    const size = chunk.length - 1
    if (size < 60) out.push(size << 2)
    else if (size < 256) out.push(60 << 2, size)
    else out.push(61 << 2, size & 0xff, size >> 8)
    out.push(...chunk)
  }
  return Uint8Array.from(out)
}

function protobufPush(streams: { labels: string; entries: { line: string; seconds: number; nanos?: number; metadata?: Record<string, string> }[] }[]) {
  const message = LokiPushRequestType.fromObject({
    streams: streams.map(({ labels, entries }) => ({
      labels,
      entries: entries.map(({ line, seconds, nanos = 0, metadata = {} }) => ({
        timestamp: { seconds, nanos },
        line,
        structuredMetadata: Object.entries(metadata).map(([name, value]) => ({ name, value })),
      })),
    })),
  })
  return LokiPushRequestType.encode(message).finish()
}

const push = (body: BodyInit, contentType: string, headers: Record<string, string> = {}) =>
  fetch(PUSH, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } })

/** Pushes one valid JSON entry for `service` and expects it stored: the listener still serves. */
async function stillServes(service: string) {
  const response = await push(
    JSON.stringify({ streams: [{ stream: { service_name: service }, values: [[nowNanos(), `after ${service}`]] }] }),
    'application/json',
  )
  expect(response.status).toBe(204)
  expect((await stack.storedLogs(1, `/query?service=${service}`))[0]!.message).toBe(`after ${service}`)
}

describe('pino-loki (JSON)', () => {
  test('as a pino transport worker: service from the service_name label, pino levels through its level label, labels and meta in metadata, pino’s own time', async () => {
    const transport = pino.transport({
      target: 'pino-loki',
      options: { host: stack.httpUrl, batching: { interval: 0.1 }, labels: { service_name: 'pino-worker', env: 'test' }, replaceTimestamp: false },
    })
    const logger = pino({ level: 'trace' }, transport)
    logger.warn({ meta: { user: 'u1', request_id: 'r-1' }, extra: 1 }, 'careful')
    logger.fatal('down')
    logger.trace('tiny')

    // The worker pushes on its interval; ending the transport waits for the worker synchronously
    // (thread-stream), which would block this thread's listener if anything were still unsent.
    const logs = await stack.storedLogs(3, '/query?service=pino-worker')
    await new Promise((resolve) => {
      transport.on('close', resolve)
      transport.end()
    })
    expect(logs).toHaveLength(3)
    // pino-loki sends the whole pino JSON object as the line; Loki stores lines as they are, and so do we.
    const lines = Object.fromEntries(logs.map((log) => [JSON.parse(log.message).msg as string, log]))
    expect(lines.careful).toMatchObject({
      service: 'pino-worker',
      level: 'WARN',
      metadata: { service_name: 'pino-worker', env: 'test', level: 'warning', user: 'u1', request_id: 'r-1' },
    })
    expect(lines.careful!.host).toBeTruthy()
    expect(lines.careful!.metadata.hostname).toBe(lines.careful!.host)
    expect(JSON.parse(lines.careful!.message)).toMatchObject({ level: 40, extra: 1, meta: { user: 'u1' } })
    // pino-loki's levelMap: fatal is "critical" and trace is "debug".
    expect(lines.down!.level).toBe('FATAL')
    expect(lines.tiny!.level).toBe('DEBUG')
    // replaceTimestamp false: pino's `time` (milliseconds) is the entry's timestamp.
    for (const log of logs) expect(Date.parse(log.timestamp)).toBe(JSON.parse(log.message).time)
  })

  test('its stream in process: closing it pushes what is still batched; logFormat makes the message; replaceTimestamp stamps the push time', async () => {
    let before = 0
    const failures = await throughPinoLoki(
      {
        host: stack.httpUrl,
        batching: { interval: 600 },
        labels: { app: 'pino-stream' },
        logFormat: '{msg}',
        replaceTimestamp: true,
        structuredMetaKey: 'ctx',
      },
      (stream) => {
        // A fixed time in 2001: replaceTimestamp must replace it with the time of the push.
        const logger = pino({ timestamp: () => ',"time":1000000000000' }, stream)
        before = Date.now()
        logger.error({ ctx: { trace_id: 'ab'.repeat(16), attempt: 2 } }, 'first')
        logger.info('second')
      },
    )
    const logs = byMessage(await stack.storedLogs(2, '/query?service=pino-stream'))
    expect(failures).toEqual([])
    expect(logs.first).toMatchObject({ service: 'pino-stream', level: 'ERROR', trace_id: 'ab'.repeat(16), metadata: { app: 'pino-stream', attempt: '2' } })
    expect(logs.second).toMatchObject({ service: 'pino-stream', level: 'INFO' })
    for (const log of Object.values(logs)) expect(Date.parse(log.timestamp)).toBeGreaterThanOrEqual(before)
  })
})

describe('winston-loki', () => {
  test('JSON (json: true): the level label, labels and winston meta (as structured metadata) stored; closing flushes the batch; timestamps kept', async () => {
    const errors: unknown[] = []
    const transport = new LokiTransport({
      host: stack.httpUrl,
      json: true,
      interval: 600,
      labels: { app: 'winston-json', env: 'test' },
      replaceTimestamp: false,
      gracefulShutdown: false,
      onConnectionError: (error) => errors.push(error),
    })
    const logger = winston.createLogger({ level: 'debug', transports: [transport] })
    const at = new Date(Date.now() - 60_000)
    logger.warn('disk almost full', { disk: '/var', used: 0.93, timestamp: at.toISOString() })
    logger.debug('cache miss', { key: 'k1' })
    await transport.close()
    expect(errors).toEqual([])

    const logs = await stack.storedLogs(2, '/query?service=winston-json')
    const warn = logs.find((log) => log.message.startsWith('disk almost full'))!
    expect(warn).toMatchObject({
      service: 'winston-json',
      level: 'WARN',
      metadata: { app: 'winston-json', env: 'test', level: 'warn', disk: '/var', used: '0.93' },
    })
    // winston's own `level` is also in the structured metadata, where it collides with the label.
    expect(warn.metadata.structured_metadata).toEqual({ level: 'warn' })
    expect(Date.parse(warn.timestamp)).toBe(at.getTime())
    expect(logs.find((log) => log.message.startsWith('cache miss'))).toMatchObject({ level: 'DEBUG', metadata: { key: 'k1' } })
  })

  test('protobuf with snappy (its default when the native snappy loads): labels read from Prometheus syntax, real snappy back-references decoded', async () => {
    const errors: unknown[] = []
    const transport = new LokiTransport({
      host: stack.httpUrl,
      interval: 600,
      labels: { service_name: 'winston-proto', region: 'eu-1' },
      gracefulShutdown: false,
      onConnectionError: (error) => errors.push(error),
    })
    // winston-loki falls back to JSON without saying so when `snappy` does not load; this test is about the protobuf path.
    const batcher = (transport as unknown as { batcher: { contentType: string } }).batcher
    expect(batcher.contentType).toBe('application/x-protobuf')
    const logger = winston.createLogger({ level: 'info', transports: [transport] })
    // Repetitive lines, so that snappy emits copies as well as literals. Each its own: winston-loki stamps lines
    // to the millisecond, and equal lines at the same time are one log (README, "Resent entries"), as in Loki.
    for (let i = 0; i < 40; i++) logger.info(`request served path=/api/items/${i % 4} status=200 bytes=1234 repeated text repeated text seq=${i}`)
    logger.error('request failed path=/api/items status=500')
    await transport.close()
    expect(errors).toEqual([])

    const logs = await stack.storedLogs(41, '/query?service=winston-proto&limit=100')
    expect(logs).toHaveLength(41)
    expect(logs.filter((log) => log.level === 'INFO')).toHaveLength(40)
    const failed = logs.find((log) => log.level === 'ERROR')!
    expect(failed.message).toStartWith('request failed path=/api/items status=500')
    expect(failed.metadata).toEqual({ level: 'error', service_name: 'winston-proto', region: 'eu-1' })
    expect(new Set(logs.map((log) => log.message.split(' ')[2]))).toEqual(
      new Set(['path=/api/items/0', 'path=/api/items/1', 'path=/api/items/2', 'path=/api/items/3', 'path=/api/items']),
    )
  })

  test('a hand-built protobuf push carries structured metadata (winston-loki’s protobuf has none): it lands in metadata, trace and span ids in their fields', async () => {
    const seconds = Math.floor(Date.now() / 1000)
    const body = protobufPush([
      {
        labels: '{job="proto-built", detected_level="warn", instance="node-7", quote="a \\"b\\""}',
        entries: [{ line: 'with metadata', seconds, nanos: 123_456_000, metadata: { trace_id: 'cd'.repeat(16), span_id: 'ef'.repeat(8), user: 'u9' } }],
      },
    ])
    const response = await push(snappyLiterals(body), 'application/x-protobuf')
    expect(response.status).toBe(204)
    const [log] = await stack.storedLogs(1, '/query?service=proto-built')
    expect(log).toMatchObject({
      service: 'proto-built',
      level: 'WARN',
      host: 'node-7',
      trace_id: 'cd'.repeat(16),
      span_id: 'ef'.repeat(8),
      metadata: { job: 'proto-built', detected_level: 'warn', instance: 'node-7', quote: 'a "b"', user: 'u9' },
    })
    expect(log!.timestamp).toBe(`${new Date(seconds * 1000).toISOString().slice(0, 19)}.123456Z`)
  })
})

describe('a push with entries that can never be stored', () => {
  test('400 naming each bad entry, without Retry-After; the valid entries of the same push are stored', async () => {
    const body = {
      streams: [
        {
          stream: { service_name: 'loki-partial', level: 'info' },
          values: [
            [nowNanos(), 'good one'],
            ['2024-11-06T12:00:00Z', 'bad timestamp'],
            [nowNanos(), 'good two', { user: 'u2' }],
            ['1700000000000000000', 'bad metadata', { n: 1 }],
          ],
        },
      ],
    }
    const response = await push(JSON.stringify(body), 'application/json')
    expect(response.status).toBe(400)
    expect(response.headers.get('retry-after')).toBeNull()
    const text = await response.text()
    expect(text).toContain('2 of 4 entries rejected')
    expect(text).toContain('entries[1].timestamp')
    expect(text).toContain('entries[3].metadata')

    const logs = await stack.storedLogs(2, '/query?service=loki-partial')
    expect(logs.map((log) => log.message).sort()).toEqual(['good one', 'good two'])
    expect(byMessage(logs)['good two']!.metadata).toEqual({ service_name: 'loki-partial', level: 'info', user: 'u2' })
  })

  test('a level value that names none of ours (Loki takes any) is stored as INFO, the label kept in metadata', async () => {
    const body = { streams: [{ stream: { service_name: 'loki-odd-level', level: 'dpanic' }, values: [[nowNanos(), 'odd level']] }] }
    expect((await push(JSON.stringify(body), 'application/json')).status).toBe(204)
    const [log] = await stack.storedLogs(1, '/query?service=loki-odd-level')
    expect(log).toMatchObject({ level: 'INFO', metadata: { service_name: 'loki-odd-level', level: 'dpanic' } })
  })
})

describe('malformed pushes: a specific error each, and the next request is served', () => {
  const valid = protobufPush([{ labels: '{job="x"}', entries: [{ line: 'l', seconds: 1_700_000_000 }] }])

  test('bad snappy: 400 saying so', async () => {
    const response = await push(Buffer.from('this is not snappy at all'), 'application/x-protobuf')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('not valid snappy')
    await stillServes('after-bad-snappy')
  })

  test('snappy declaring a length past the limit: 413 before anything is allocated', async () => {
    const response = await push(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]), 'application/x-protobuf')
    expect(response.status).toBe(413)
    expect(await response.text()).toContain('snappy-decoded body would be')
    await stillServes('after-snappy-length')
  })

  test('truncated protobuf inside valid snappy: 400 naming logproto.PushRequest', async () => {
    const response = await push(snappyLiterals(valid.subarray(0, valid.length - 3)), 'application/x-protobuf')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('not a protobuf logproto.PushRequest')
    await stillServes('after-truncated')
  })

  test('a label string that is not Prometheus syntax: 400 naming the labels', async () => {
    const body = protobufPush([{ labels: 'job=x', entries: [{ line: 'l', seconds: 1_700_000_000 }] }])
    const response = await push(snappyLiterals(body), 'application/x-protobuf')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('entries[0].labels not Prometheus label syntax')
  })

  test('wrong Content-Type: 400 naming the two accepted', async () => {
    const response = await push('{"streams":[]}', 'text/plain')
    expect(response.status).toBe(400)
    expect(await response.text()).toContain('Content-Type must be application/x-protobuf (snappy) or application/json, got "text/plain"')
    await stillServes('after-content-type')
  })

  test('JSON without streams, with values that are not a list, or that does not parse: 400 each', async () => {
    const noStreams = await push('{"values":[["1","x"]]}', 'application/json')
    expect(noStreams.status).toBe(400)
    expect(await noStreams.text()).toContain('a JSON push request needs {"streams":[…]}')
    const notAList = await push(JSON.stringify({ streams: [{ stream: { job: 'j' }, values: 5 }] }), 'application/json')
    expect(notAList.status).toBe(400)
    expect(await notAList.text()).toContain('entries[0].values')
    const broken = await push('{"streams": [', 'application/json')
    expect(broken.status).toBe(400)
    expect(await broken.text()).toContain('not a JSON push request')
    await stillServes('after-bad-json')
  })

  test('10 MB of garbage: 413, and the listener keeps serving', async () => {
    const garbage = new Uint8Array(10 * 1024 * 1024)
    for (let i = 0; i < garbage.length; i += 4096) garbage[i] = i & 0xff
    const response = await push(garbage, 'application/x-protobuf')
    expect(response.status).toBe(413)
    expect(await response.text()).toContain(`the limit is ${stack.config.intakeHttp.maxBodyBytes}`)
    await stillServes('after-garbage')
  })
})
