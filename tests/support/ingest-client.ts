import * as grpc from '@grpc/grpc-js'
import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes, type Message } from '@platformatic/kafka'
import { decodeLogRecord } from '../../src/lib/codec.ts'
import type { Config } from '../../src/lib/config.ts'
import type { LogRecord } from '../../src/lib/log-entry.ts'
import { decodeIngestResponse, ingestService, RESPONSE_TRAILER, type IngestResponse, type WireLogEntry } from '../../src/lib/proto.ts'
import { eventually } from './infra.ts'

/** A plain grpc-js client of logstream.LogIngestion, as any service sending logs would use it. */
export type IngestClient = grpc.Client & {
  Ingest(request: { logs: WireLogEntry[] }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: IngestResponse) => void): grpc.ClientUnaryCall
}

const IngestClientConstructor = grpc.makeClientConstructor(ingestService, 'logstream.LogIngestion')

export function ingestClient(port: number, options: object = {}): IngestClient {
  return new IngestClientConstructor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as IngestClient
}

export interface IngestOutcome {
  response?: IngestResponse
  error?: grpc.ServiceError
  /** Decoded from the RESPONSE_TRAILER of an INVALID_ARGUMENT reply. */
  described?: IngestResponse
}

export function ingest(client: IngestClient, logs: WireLogEntry[], deadlineMs = 15_000): Promise<IngestOutcome> {
  return new Promise((resolve) => {
    client.Ingest({ logs }, { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (!error) return resolve({ response })
      const trailer = error.metadata?.get(RESPONSE_TRAILER)[0]
      const described = trailer ? decodeIngestResponse(trailer as Buffer) : undefined
      resolve({ error, described })
    })
  })
}

export interface StoredLog {
  key: string
  partition: number
  record: LogRecord
}

/** Reads a topic from the beginning until `count` messages arrived, decoding each value as a LogEntry. */
export async function readTopic(config: Config, count: number, timeoutMs = 30_000): Promise<StoredLog[]> {
  const raw = await readRaw(config, count, timeoutMs)
  return raw.map((item) => ({ key: item.key, partition: item.partition, record: decodeLogRecord(item.bytes) }))
}

export interface RawMessage {
  key: string
  partition: number
  value: string
  bytes: Buffer
}

/** Reads a topic from the beginning until `count` messages arrived (fails after `timeoutMs`). */
export async function readRaw(config: Config, count: number, timeoutMs = 30_000): Promise<RawMessage[]> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'ingest-test-reader',
    groupId: `${config.kafka.consumerGroup}-reader-${Math.random().toString(36).slice(2, 8)}`,
    bootstrapBrokers: config.kafka.brokers,
  })
  const stored: RawMessage[] = []
  const stream = await consumer.consume({ topics: [config.kafka.topic], mode: MessagesStreamModes.EARLIEST, fallbackMode: MessagesStreamFallbackModes.EARLIEST, autocommit: false })
  stream.on('data', (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
    stored.push({ key: message.key.toString(), partition: message.partition, value: message.value.toString(), bytes: message.value })
  })
  try {
    return await eventually(() => (stored.length >= count ? stored : undefined), timeoutMs, `${count} messages on ${config.kafka.topic} (have ${stored.length})`)
  } finally {
    await stream.close()
    await consumer.close(true)
  }
}
