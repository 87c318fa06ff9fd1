import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type * as grpc from '@grpc/grpc-js'
import { DiagLogLevel, diag } from '@opentelemetry/api'
import { type ExportResult, ExportResultCode } from '@opentelemetry/core'
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc'
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http'
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { startKafka, stopKafka } from '../../../scripts/infra/kafka-broker.ts'
import { RetryInfoType, RpcStatusType } from '../../../src/lib/proto.ts'
import { eventually } from '../../support/infra.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'
import { emitNumbered } from '../../support/otel-emit.ts'
import { startPrivateBroker } from '../../support/private-broker.ts'

/**
 * OTLP intake while Kafka is down, with the real OpenTelemetry JS exporters (0.223 line) under Bun. The
 * broker is private to this file (stopping the shared one would break every other test running now).
 *
 * The exporters' retry window: the HTTP exporters retry a 429/502/503/504 at most 5 times, waiting what
 * Retry-After says (2 s here), and only while their `timeoutMillis` (10 s by default) lasts. Each refused
 * attempt also waits out INGEST_SEND_TIMEOUT_MS on the server first, so a broker restart does not fit in the
 * defaults: the exporters here get `timeoutMillis: 60_000` (and the batch processor an export timeout above
 * it), and the ingest service a 3 s send timeout.
 */

setDefaultTimeout(180_000)

const broker = await startPrivateBroker('otlp-outage')
const SEND_TIMEOUT_MS = 3000
const stack = await startIntakeStack((config) => ({
  ...config,
  kafka: { ...config.kafka, brokers: broker.brokers, ...broker.topics },
  ingest: { ...config.ingest, sendTimeoutMs: SEND_TIMEOUT_MS },
}))

/** What the exporters say about their retries (their only trace of them). */
const diagnostics: string[] = []
const note = (message: string, ...args: unknown[]) => diagnostics.push([message, ...args.map(String)].join(' '))
diag.setLogger({ verbose: note, debug: note, info: note, warn: note, error: note }, DiagLogLevel.VERBOSE)
afterAll(() => diag.disable())
const retriesScheduled = () => diagnostics.filter((line) => line.includes('Scheduling export retry in 2000ms')).length

interface Run {
  done: Promise<ExportResult[]>
}

/** emitNumbered, started now and awaited later (the exporters must be mid-retry while Kafka comes back). */
const startNumbered = (exporter: LogRecordExporter, service: string, count: number): Run => ({ done: emitNumbered(exporter, service, count, 90_000) })

/** Rows per `seq` for a service, straight from PostgreSQL: duplicates show up as a count above 1. */
async function rowsBySeq(service: string): Promise<Map<number, number>> {
  const rows = await stack.db.sql<{ seq: number; n: number }[]>`
    select (metadata->>'seq')::int as seq, count(*)::int as n from logs where service = ${service} group by 1`
  return new Map(rows.map((row) => [row.seq, row.n]))
}

const RECORDS = 30
/**
 * Every record present exactly once. A request answered 503 once its batch was in the producer's hands can
 * still reach Kafka when the broker returns, and the exporter's retry then sends it again; its records carry
 * their own timestamps, so the copy is skipped in storage (content-key.ts).
 */
const exactlyOnce = (rows: Map<number, number>, count: number) =>
  Array.from({ length: count }, (_, seq) => rows.get(seq) ?? 0).every((n) => n === 1) && rows.size === count

describe('OTLP with Kafka down', () => {
  test('HTTP/protobuf and HTTP/JSON exporters get 503 with Retry-After, retry by themselves, and every record is stored', async () => {
    const url = `${stack.httpUrl}/v1/logs`
    const warmup = startNumbered(new HttpProtoLogExporter({ url }), 'otlp-outage-warmup', 1)
    expect((await warmup.done).map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])

    await stopKafka(broker.options)
    // What the exporters will be told, seen directly: 503, Retry-After, a google.rpc.Status UNAVAILABLE.
    const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(numberedRequest('otlp-direct')) })
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('2')
    expect(await refused.json()).toMatchObject({ code: 14, message: expect.stringContaining('Kafka') })

    const before = retriesScheduled()
    const proto = startNumbered(new HttpProtoLogExporter({ url, timeoutMillis: 60_000 }), 'otlp-outage-proto', RECORDS)
    const json = startNumbered(new HttpJsonLogExporter({ url, timeoutMillis: 60_000 }), 'otlp-outage-json', RECORDS)
    // Each exporter has been refused and has scheduled a retry after the 2 s of Retry-After (its own backoff would be ~1 s, jittered).
    await eventually(() => (retriesScheduled() >= before + 2 ? true : undefined), 30_000, 'both exporters to schedule a retry')
    await startKafka(broker.options)

    expect((await proto.done).map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])
    expect((await json.done).map((result) => result.code)).toEqual([ExportResultCode.SUCCESS])
    await stack.storedLogs(RECORDS, '/query?service=otlp-outage-proto&limit=1000')
    await stack.storedLogs(RECORDS, '/query?service=otlp-outage-json&limit=1000')
    // storedLogs has waited for the group to commit the topic to its end: nothing more is coming.
    const stored = { proto: exactlyOnce(await rowsBySeq('otlp-outage-proto'), RECORDS), json: exactlyOnce(await rowsBySeq('otlp-outage-json'), RECORDS) }
    expect(stored).toEqual({ proto: true, json: true })
    expect(await rowsBySeq('otlp-direct')).toEqual(new Map())
  })

  test('the gRPC exporter is answered UNAVAILABLE with a RetryInfo of 2 s, and nothing of the refused export is stored', async () => {
    await stopKafka(broker.options)
    const before = retriesScheduled()
    try {
      const run = startNumbered(new GrpcLogExporter({ url: `http://127.0.0.1:${stack.ingest.otlpPort}`, timeoutMillis: 60_000 }), 'otlp-outage-grpc', 5)
      const [result, ...more] = await run.done
      expect(more).toEqual([])
      expect(result?.code).toBe(ExportResultCode.FAILED)
      const error = result?.error as grpc.ServiceError
      expect(error.code).toBe(14)
      const [details] = error.metadata.get('grpc-status-details-bin') as Buffer[]
      const status = RpcStatusType.toObject(RpcStatusType.decode(details!)) as { code: number; details: { type_url: string; value: Uint8Array }[] }
      expect(status.code).toBe(14)
      expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo')
      expect(RetryInfoType.toObject(RetryInfoType.decode(status.details[0]!.value), { longs: Number })).toEqual({ retryDelay: { seconds: 2 } })
    } finally {
      await startKafka(broker.options)
    }
    // This exporter version does not retry over gRPC at all (otlp-grpc-exporter-base 0.223 has no retrying
    // transport: every gRPC error is a final failure), so the 5 records are lost by the client. UNAVAILABLE
    // must mean "not stored", or an exporter that does retry would store them twice.
    expect(retriesScheduled()).toBe(before)
    await stack.storedLogs(0)
    expect(await rowsBySeq('otlp-outage-grpc')).toEqual(new Map())
  })
})

function numberedRequest(service: string) {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeLogs: [{ logRecords: [{ severityNumber: 9, body: { stringValue: 'refused' }, attributes: [{ key: 'seq', value: { intValue: '0' } }] }] }],
      },
    ],
  }
}
