import { describe, expect, test } from 'bun:test'
import { ingest, ingestClient } from '../../support/ingest-client.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'

/**
 * A client that never got its answer (a lost connection, a timeout, an UNAVAILABLE whose batch Kafka wrote
 * after all) sends the whole request again. Entries whose sender gave the timestamp are then stored once,
 * whichever protocol brought them; entries the server timestamped are new logs each time (README, Consumer).
 */
const stack = await startIntakeStack()

const nowNanos = () => BigInt(Date.now() - 60_000) * 1_000_000n
const rowsOf = async (service: string) =>
  (await stack.db.sql<{ message: string; n: number }[]>`select message, count(*)::int as n from logs where service = ${service} group by 1 order by 1`).map(
    (row) => [row.message, row.n],
  )
const expectOnce = async (service: string, messages: string[]) => {
  await stack.storedLogs(messages.length, `/query?service=${service}&limit=1000`)
  expect(await rowsOf(service)).toEqual(messages.map((message) => [message, 1]))
}

/** POSTs the same body twice; both answers must be successes (the server cannot tell a resend). */
async function postTwice(path: string, body: string, contentType: string): Promise<number[]> {
  const statuses = []
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(`${stack.httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': contentType } })
    await response.arrayBuffer()
    statuses.push(response.status)
  }
  return statuses
}

describe('a request sent again after a lost answer stores nothing twice', () => {
  test('native gRPC', async () => {
    const client = ingestClient(stack.ingest.port)
    const seconds = String(Math.floor(Date.now() / 1000) - 60)
    const logs = ['a', 'b', 'c'].map((message, nanos) => ({ timestamp: { seconds, nanos: nanos * 1000 }, service: 'resent-grpc', level: 'INFO', message }))
    for (let attempt = 0; attempt < 2; attempt++) expect((await ingest(client, logs)).response?.accepted).toBe(3)
    client.close()
    await expectOnce('resent-grpc', ['a', 'b', 'c'])
  })

  test('OTLP/HTTP JSON', async () => {
    const time = nowNanos()
    const logRecords = ['a', 'b'].map((message, i) => ({ timeUnixNano: String(time + BigInt(i * 1000)), severityNumber: 9, body: { stringValue: message } }))
    const body = JSON.stringify({
      resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'resent-otlp' } }] }, scopeLogs: [{ logRecords }] }],
    })
    expect(await postTwice('/v1/logs', body, 'application/json')).toEqual([200, 200])
    await expectOnce('resent-otlp', ['a', 'b'])
  })

  test('Loki push', async () => {
    const time = nowNanos()
    const values = ['a', 'b'].map((line, i) => [String(time + BigInt(i * 1000)), line])
    const body = JSON.stringify({ streams: [{ stream: { service_name: 'resent-loki', level: 'info' }, values }] })
    expect(await postTwice('/loki/api/v1/push', body, 'application/json')).toEqual([204, 204])
    await expectOnce('resent-loki', ['a', 'b'])
  })

  test('Elasticsearch bulk', async () => {
    const at = new Date(Date.now() - 60_000).toISOString()
    const lines = ['a', 'b'].flatMap((message) => [{ create: { _index: 'logs' } }, { '@timestamp': at, 'service.name': 'resent-es', message }])
    const body = `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`
    expect(await postTwice('/_bulk', body, 'application/x-ndjson')).toEqual([200, 200])
    await expectOnce('resent-es', ['a', 'b'])
  })

  test('JSON lines', async () => {
    const at = new Date(Date.now() - 60_000).toISOString()
    const body = `${['a', 'b'].map((message) => JSON.stringify({ timestamp: at, service: 'resent-lines', message })).join('\n')}\n`
    expect(await postTwice('/jsonlines', body, 'application/x-ndjson')).toEqual([200, 200])
    await expectOnce('resent-lines', ['a', 'b'])
  })

  test('entries without a timestamp get the server time and are new logs each time: the same line sent twice is two logs', async () => {
    const body = `${JSON.stringify({ service: 'resent-untimed', message: 'same' })}\n${JSON.stringify({ service: 'resent-untimed', message: 'same' })}\n`
    expect(await postTwice('/jsonlines', body, 'application/x-ndjson')).toEqual([200, 200])
    await stack.storedLogs(4, '/query?service=resent-untimed&limit=1000')
    expect(await rowsOf('resent-untimed')).toEqual([['same', 4]])
  })
})
