import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { status } from '@grpc/grpc-js'
import { startKafka } from '../../../scripts/infra/kafka-broker.ts'
import type { WireLogEntry } from '../../../src/lib/proto.ts'
import { eventually } from '../../support/infra.ts'
import { type IngestClient, ingest, ingestClient } from '../../support/ingest-client.ts'
import { startIntakeStack } from '../../support/intake-stack.ts'
import { startPrivateBroker } from '../../support/private-broker.ts'
import { committedToEnd } from '../../support/topic-reader.ts'

/**
 * The broker killed (kill -9) under load while clients keep sending and retry, with the same request and the
 * same timestamps, every call answered UNAVAILABLE or not answered in time. A call refused once its batch was in
 * the producer's hands can still reach Kafka when the broker returns, and then its retry too: before entries had
 * a content key (content-key.ts), that stored them twice. Nothing acknowledged may be lost, nothing stored twice.
 * The broker is private to this file: the rest of the suite shares the other one.
 */

setDefaultTimeout(240_000)

const broker = await startPrivateBroker('broker-faults')
const stack = await startIntakeStack((config) => ({
  ...config,
  kafka: { ...config.kafka, brokers: broker.brokers, ...broker.topics },
  ingest: { ...config.ingest, sendTimeoutMs: 3000 },
}))

const SENDERS = 8
const REQUESTS = 50
const ENTRIES = 50
const TOTAL = SENDERS * REQUESTS * ENTRIES
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED])

const tally = { acked: 0, retries: 0 }

function request(sender: number, index: number, baseSeconds: number): WireLogEntry[] {
  return Array.from({ length: ENTRIES }, (_, entry) => ({
    timestamp: { seconds: String(baseSeconds), nanos: (index * ENTRIES + entry) * 1000 },
    service: `kill-${sender}`,
    level: 'INFO',
    message: `sender ${sender} request ${index} entry ${entry}`,
  }))
}

/** Sends its requests one after the other, each until it is acknowledged: the same request, the same timestamps. */
async function sender(client: IngestClient, sender: number, baseSeconds: number): Promise<void> {
  for (let index = 0; index < REQUESTS; index++) {
    const logs = request(sender, index, baseSeconds)
    for (;;) {
      const outcome = await ingest(client, logs, 10_000)
      if (outcome.response) {
        expect(outcome.response.accepted).toBe(ENTRIES)
        tally.acked += ENTRIES
        break
      }
      if (!RETRYABLE.has(outcome.error!.code)) throw outcome.error
      tally.retries++
      await Bun.sleep(200)
    }
  }
}

/** Runs the load through `fault`, then checks that every entry was acknowledged and is stored exactly once. */
async function underLoad(run: number, fault: () => Promise<void>): Promise<{ retries: number; missing: number; duplicates: number }> {
  tally.acked = 0
  tally.retries = 0
  const clients = Array.from({ length: SENDERS }, () => ingestClient(stack.ingest.port))
  const baseSeconds = Math.floor(Date.now() / 1000) - 120 - run
  const sending = Promise.all(clients.map((client, index) => sender(client, run * SENDERS + index, baseSeconds)))
  await eventually(() => (tally.acked >= TOTAL / 4 ? true : undefined), 120_000, 'a quarter of the load acknowledged')
  await fault()
  await sending
  for (const client of clients) client.close()
  expect(tally.acked).toBe(TOTAL)

  const services = Array.from({ length: SENDERS }, (_, index) => `kill-${run * SENDERS + index}`)
  const counts = async () =>
    (
      await stack.db.sql<{ rows: number; distinct: number }[]>`
      select count(*)::int as rows, count(distinct message)::int as distinct from logs where service = any(${services})`
    )[0]!
  await eventually(async () => ((await counts()).distinct >= TOTAL ? true : undefined), 120_000, `${TOTAL} entries stored`)
  await committedToEnd(stack.config, 60_000)
  const { rows, distinct } = await counts()
  const outcome = { retries: tally.retries, missing: TOTAL - distinct, duplicates: rows - distinct }
  console.log(`broker fault ${run}: ${TOTAL} entries, ${outcome.retries} retried calls, ${outcome.missing} missing, ${outcome.duplicates} stored twice`)
  return outcome
}

describe('the broker lost under load, with clients that retry', () => {
  test('kill -9 and a restart: every acknowledged entry is stored exactly once, and the consumer carries on without a restart', async () => {
    const outcome = await underLoad(0, async () => {
      process.kill(broker.pid, 'SIGKILL')
      await eventually(() => (tally.retries >= SENDERS ? true : undefined), 60_000, 'the clients to be refused and retry')
      await startKafka(broker.options)
    })
    expect(outcome.retries).toBeGreaterThan(0)
    expect({ missing: outcome.missing, duplicates: outcome.duplicates }).toEqual({ missing: 0, duplicates: 0 })
  })

  test('frozen past the send timeout, then resumed: batches refused to the client are written after all, and their retries are skipped', async () => {
    const pid = Number(readFileSync(`${broker.options.dir}/kafka.pid`, 'utf8'))
    const outcome = await underLoad(1, async () => {
      process.kill(pid, 'SIGSTOP')
      try {
        await eventually(() => (tally.retries >= SENDERS ? true : undefined), 60_000, 'the clients to be refused and retry')
      } finally {
        process.kill(pid, 'SIGCONT')
      }
    })
    expect(outcome.retries).toBeGreaterThan(0)
    expect({ missing: outcome.missing, duplicates: outcome.duplicates }).toEqual({ missing: 0, duplicates: 0 })
  })
})
