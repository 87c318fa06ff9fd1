import type { Admin } from '@platformatic/kafka'
import { ensureTopics } from '../src/lib/kafka.ts'

/**
 * A benchmark run's own log topic (`bench.<name>.<id>`, `partitions` of them) and dead-letter topic
 * (`bench.<name>.dlq.<id>`), both kept an hour at most: the run deletes them at its end, the retention
 * bounds what a crashed run leaves.
 */
export async function freshBenchTopics(admin: Admin, name: string, id: string, partitions: number): Promise<{ topic: string; dlq: string }> {
  const topic = `bench.${name}.${id}`
  const dlq = `bench.${name}.dlq.${id}`
  await ensureTopics(admin, [
    { topic, partitions, retentionMs: 3_600_000 },
    { topic: dlq, partitions: 1, retentionMs: 3_600_000 },
  ])
  return { topic, dlq }
}
