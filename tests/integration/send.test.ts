import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmod, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Consumer, type Message, type MessagesStream, MessagesStreamFallbackModes, MessagesStreamModes } from '@platformatic/kafka'
import { freePort, type Service, spawnService } from '../../scripts/services.ts'
import { decodeLogRecord } from '../../src/lib/codec.ts'
import type { LogRecord } from '../../src/lib/log-entry.ts'
import { checkHealth } from '../../src/lib/sender.ts'
import { eventually, freshTopics } from '../support/infra.ts'
import { endOffsets } from '../support/topic-reader.ts'

/**
 * `bun run send` end to end: the CLI sends to a real ingest service, which stores the logs in Kafka,
 * where this file reads them back.
 */
const repoRoot = resolve(import.meta.dir, '../..')
// Starting services against a real broker takes seconds; `bun test` alone would give each test only 5 s.
const SLOW_MS = 60_000
const config = await freshTopics()
const port = freePort()
const address = `127.0.0.1:${port}`

let ingest: Service
let consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>
const stored: LogRecord[] = []
/** Per partition, the offset after the last message the test's consumer has read. */
const consumedUpTo: bigint[] = []
let ingestOutput = ''

beforeAll(async () => {
  ingest = spawnService('ingest', {
    env: {
      KAFKA_BROKERS: config.kafka.brokers.join(','),
      KAFKA_TOPIC: config.kafka.topic,
      KAFKA_DLQ_TOPIC: config.kafka.dlqTopic,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(port),
      OTLP_GRPC_PORT: '0',
      INGEST_HTTP_PORT: '0',
    },
    onLine: (line) => {
      ingestOutput += `${line}\n`
    },
  })
  await eventually(async () => ((await checkHealth(address, { timeoutMs: 1000 })).ok ? true : undefined), 30_000, `ingest on ${address}: ${ingestOutput}`)

  consumer = new Consumer({ clientId: 'send-test-reader', groupId: `${config.kafka.consumerGroup}-reader`, bootstrapBrokers: config.kafka.brokers })
  stream = await consumer.consume({
    topics: [config.kafka.topic],
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  })
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
    consumedUpTo[message.partition] = message.offset + 1n
    stored.push(decodeLogRecord(message.value))
  })
}, SLOW_MS)

afterAll(async () => {
  await stream?.close()
  await consumer?.close(true)
  if (ingest) expect(await ingest.stop()).toBe(0)
})

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

async function send(args: string[], stdin?: string): Promise<CliResult> {
  const child = Bun.spawn([process.execPath, 'run', '--silent', 'send', ...args], {
    cwd: repoRoot,
    stdin: stdin === undefined ? 'ignore' : new Blob([stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

const marker = () => Math.random().toString(36).slice(2, 10)

/**
 * The stored logs of one service, once the test's consumer has read the topic to the end offsets taken
 * now. Called after the CLI exited, so everything the service acknowledged is below those offsets: the list
 * is complete, and an entry stored twice or stored though refused would be in it.
 */
async function storedFor(service: string): Promise<LogRecord[]> {
  const ends = await endOffsets(config)
  await eventually(
    () => (ends.every((end, partition) => (consumedUpTo[partition] ?? 0n) >= end) ? true : undefined),
    30_000,
    `the topic read to ${ends.join(',')}`,
  )
  return stored.filter((record) => record.service === service)
}

describe('bun run send', () => {
  test(
    'sends each text argument as one log and exits 0 when all are accepted',
    async () => {
      const service = `cli-${marker()}`
      const result = await send(['--addr', address, '--service', service, '--level', 'warn', '--tag', 'env:test', 'first message', 'second message'])
      expect(result).toMatchObject({ code: 0, stderr: '' })
      expect(result.stdout).toBe(`2 sent to ${address} in 1 batch: 2 accepted, 0 rejected, 0 failed\n`)
      const logs = await storedFor(service)
      expect(logs.map((log) => log.message).sort()).toEqual(['first message', 'second message'])
      for (const log of logs) expect(log).toMatchObject({ level: 'WARN', tags: ['env:test'] })
    },
    SLOW_MS,
  )

  test(
    'sends a file of JSON lines in batches, field for field',
    async () => {
      const service = `file-${marker()}`
      // An hour ago, microseconds included: a fixed date would leave the retention window and be refused.
      const second = Math.floor(Date.now() / 1000) - 3600
      const lines = Array.from({ length: 25 }, (_, index) =>
        JSON.stringify({
          timestamp: new Date(second * 1000).toISOString().replace('.000Z', '.123456Z'),
          service,
          level: 'error',
          message: `line ${index}`,
          metadata: { n: index },
          trace_id: 'ab'.repeat(16),
          host: 'web-1',
          tags: ['a'],
        }),
      )
      const path = join(tmpdir(), `logstream-send-${marker()}.jsonl`)
      await Bun.write(path, `${lines.join('\n')}\n`)
      try {
        const result = await send(['--addr', address, '--file', path, '--batch-size', '10'])
        expect(result.code).toBe(0)
        expect(result.stdout).toBe(`25 sent to ${address} in 3 batches: 25 accepted, 0 rejected, 0 failed\n`)
      } finally {
        await Bun.file(path).delete()
      }
      const logs = await storedFor(service)
      expect(logs).toHaveLength(25)
      expect(logs.find((log) => log.message === 'line 7')).toEqual({
        timestampMicros: second * 1_000_000 + 123_456,
        service,
        level: 'ERROR',
        message: 'line 7',
        metadata: '{"n":7}',
        traceId: 'ab'.repeat(16),
        spanId: '',
        host: 'web-1',
        tags: ['a'],
      })
    },
    SLOW_MS,
  )

  test(
    'reads JSON lines from stdin',
    async () => {
      const service = `stdin-${marker()}`
      const input = `{"service":"${service}","level":"info","message":"from a pipe"}\n`
      const result = await send(['--addr', address], input)
      expect(result.code).toBe(0)
      expect((await storedFor(service)).map((log) => log.message)).toEqual(['from a pipe'])
    },
    SLOW_MS,
  )

  test(
    'reports rejected lines by source, stores the valid ones, and exits 1',
    async () => {
      const service = `mixed-${marker()}`
      const input = [
        `{"service":"${service}","level":"info","message":"good"}`,
        `{"service":"${service}","level":"LOUD","message":"bad level"}`,
        'not json',
      ].join('\n')
      const result = await send(['--addr', address], input)
      expect(result.code).toBe(1)
      expect(result.stdout).toBe(`2 sent to ${address} in 1 batch: 1 accepted, 2 rejected, 0 failed\n`)
      expect(result.stderr).toContain('rejected stdin:2: level "LOUD" is not a level')
      expect(result.stderr).toContain('rejected stdin:3: entry not valid JSON')
      expect((await storedFor(service)).map((log) => log.message)).toEqual(['good'])
    },
    SLOW_MS,
  )

  test(
    'exits 1 and says why when the endpoint cannot be reached',
    async () => {
      const result = await send(['--addr', `127.0.0.1:${freePort()}`, '--retries', '0', 'lost'])
      expect(result.code).toBe(1)
      expect(result.stdout).toContain('0 accepted, 0 rejected, 1 failed')
      expect(result.stderr).toContain('UNAVAILABLE')
    },
    SLOW_MS,
  )

  test(
    'exits 2 with usage for a malformed option',
    async () => {
      const result = await send(['--batch-size', 'many', 'x'])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('--batch-size must be a whole number')
    },
    SLOW_MS,
  )

  test(
    '--health reports the ingest service as serving',
    async () => {
      const result = await send(['--addr', address, '--health'])
      expect(result).toMatchObject({ code: 0, stdout: `${address}: SERVING\n` })
    },
    SLOW_MS,
  )

  test(
    'scripts/test-ingest.sh sends a sample batch the ingest service accepts in full',
    async () => {
      // grpcurl is not installed here: a stand-in on the PATH replays its JSON request through the sender.
      const bin = await mkdtemp(join(tmpdir(), 'logstream-grpcurl-'))
      try {
        await symlink(process.execPath, join(bin, 'bun'))
        await Bun.write(
          join(bin, 'grpcurl'),
          `${[
            '#!/bin/sh',
            'for arg; do addr="$method"; method="$arg"; done',
            '[ "$method" = logstream.LogIngestion/Ingest ] || { echo "unexpected method $method" >&2; exit 3; }',
            `bun -e 'for (const log of JSON.parse(await Bun.stdin.text()).logs) console.log(JSON.stringify(log))' | bun src/send.ts --addr "$addr"`,
          ].join('\n')}\n`,
        )
        await chmod(join(bin, 'grpcurl'), 0o755)
        const child = Bun.spawn(['sh', join(repoRoot, 'scripts/test-ingest.sh'), address], {
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
          stdout: 'pipe',
          stderr: 'pipe',
        })
        const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
        expect({ code, stdout }).toEqual({ code: 0, stdout: `3 sent to ${address} in 1 batch: 3 accepted, 0 rejected, 0 failed\n` })
        const traceId = /query\/([0-9a-f]{32})/.exec(stderr)?.[1]
        const logs = await storedFor('test-ingest')
        expect(logs).toHaveLength(3)
        expect(
          logs
            .filter((log) => log.traceId === traceId)
            .map((log) => log.level)
            .sort(),
        ).toEqual(['ERROR', 'INFO'])
      } finally {
        await rm(bin, { recursive: true, force: true })
      }
    },
    SLOW_MS,
  )
})
