/**
 * The data set of the query API's memory benchmark (issue 13, "Responses bounded in memory"): 728 logs of
 * 900 kB under service `big` in the last hour, half of them random hex (incompressible: TOAST stores them
 * whole) and half stack dumps (which compress, as real ones do), a third of them sharing one trace id; plus a
 * few thousand small logs of other services, some in that trace. Inserted with SQL straight into its own
 * database (this measures the query process, not ingest), in the real schema (schema.sql, every index), and
 * kept between runs: it is rebuilt only when this file's data version or schema.sql changes.
 */
import { randomBytes } from 'node:crypto'
import { loadConfig } from '../src/lib/config.ts'
import { applySchema, connect, ensureDatabase, type Sql } from '../src/lib/db.ts'
import { formatMicros } from '../src/lib/log-entry.ts'
import { maintainPartitions } from '../src/lib/retention.ts'

export const DATABASE = 'logstream_bench_query_memory'
export const BIG_SERVICE = 'big'
export const BIG_LOGS = 728
export const MESSAGE_BYTES = 900_000
export const SMALL_LOGS = 3000
/** Shared by every third big log (243) and every 75th small log (40). */
export const TRACE_ID = '5ca1ab1e0728000000000000000b16a0'
const DATA_VERSION = 1
const META_TABLE = 'bench_query_memory_meta'
/** Lines of random hex this long: one "word" over 2047 characters, which to_tsvector skips (a word per 64 characters would pass tsvector's 1 MB limit). */
const HEX_LINE = 4000

export interface QueryMemoryDataset {
  url: string
  /** Ids (`<partition>-<offset>`) of the big logs, oldest first. */
  bigIds: string[]
  traceLogs: number
  /** Of those, the big ones. */
  traceBigLogs: number
  smallLogs: number
  /** Bytes of the big logs' messages as text, and as stored (pg_column_size: after TOAST compression). */
  messageBytes: number
  storedMessageBytes: number
  /** Heap, TOAST and indexes of the logs table. */
  tableBytes: number
  /** Seconds spent loading this run; 0 when the kept data set was reused. */
  loadSeconds: number
}

export function datasetUrl(): string {
  const url = new URL(loadConfig().databaseUrl)
  url.pathname = `/${DATABASE}`
  return url.toString()
}

/** Random bytes as hex, in lines of HEX_LINE characters. */
function hexDump(bytes: number): string {
  const hex = randomBytes(Math.ceil(bytes / 2) + 64).toString('hex')
  const lines: string[] = []
  for (let at = 0; at < hex.length; at += HEX_LINE + 1) lines.push(hex.slice(at, at + HEX_LINE))
  return lines.join('\n').slice(0, bytes)
}

const CLASSES = ['checkout.OrderService', 'payments.Gateway', 'netty.ChannelHandlerContext', 'postgresql.QueryExecutorImpl', 'http.Router', 'cache.Client']
const METHODS = ['placeOrder', 'authorise', 'invokeChannelRead', 'execute', 'dispatch', 'handle', 'lookup', 'retry']

/** A stack dump of `bytes` characters: frames from a bounded vocabulary with varying lines, threads and addresses. */
function stackDump(bytes: number, seed: number): string {
  const lines = [`request ${seed.toString(16)} failed after 3 retries; dump of ${Math.ceil(bytes / 80)} frames follows`]
  let length = lines[0]!.length
  for (let k = 0; length < bytes; k++) {
    const n = k * 7919 + seed * 104729
    const line =
      k % 40 === 0
        ? `"worker-${n % 64}" #${n % 512} prio=5 tid=0x${(n * 2654435761).toString(16).slice(-12)} state=WAITING`
        : `\tat com.example.${CLASSES[n % CLASSES.length]}.${METHODS[(n >> 3) % METHODS.length]}(${CLASSES[n % CLASSES.length]!.split('.')[1]}.java:${n % 1200})`
    lines.push(line)
    length += line.length + 1
  }
  return lines.join('\n').slice(0, bytes)
}

const hash = (value: string) => new Bun.CryptoHasher('md5').update(value).digest('hex')

async function signature(): Promise<string> {
  const schema = await Bun.file(new URL('../schema.sql', import.meta.url)).text()
  return `v${DATA_VERSION} ${BIG_LOGS}x${MESSAGE_BYTES} small ${SMALL_LOGS} schema ${hash(schema)}`
}

async function load(sql: Sql, progress: (done: number, total: number) => void): Promise<void> {
  await sql`drop table if exists logs cascade`
  await applySchema(sql)
  await maintainPartitions(sql, { retentionDays: 2, aheadDays: 1 })
  // The last hour: big logs ~4.9 s apart, small ones 1.2 s apart between them.
  const startMicros = (Date.now() - 3_600_000) * 1000
  await sql`
    insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset)
    select ${formatMicros(startMicros)}::timestamptz + j * interval '1.2 seconds' + interval '500 microseconds',
      (array['api','auth','billing'])[1 + j % 3], (array['INFO','INFO','WARN','ERROR','DEBUG'])[1 + j % 5],
      format('GET /api/v1/orders/%s returned %s in %s ms', j * 7, (array[200,404,500])[1 + j % 3], j % 900),
      jsonb_build_object('user_id', 'u' || j % 977, 'http_status', (array[200,404,500])[1 + j % 3]),
      case when j % 75 = 0 then ${TRACE_ID} else md5((j / 8)::text) end, left(md5(j::text), 16),
      (array['api','auth','billing'])[1 + j % 3] || '-0' || (1 + j % 4), array['env:bench'], j % 3, j
    from generate_series(0, ${SMALL_LOGS - 1}) as j`
  const stepMicros = 3_600_000_000 / BIG_LOGS
  let done = 0
  // Two connections at once: to_tsvector of each stack dump (the full-text index) is most of the cost.
  const worker = async (first: number) => {
    for (let i = first; i < BIG_LOGS; i += 2) {
      const kind = i % 2 === 0 ? 'hex-dump' : 'stack-dump'
      const message = kind === 'hex-dump' ? hexDump(MESSAGE_BYTES) : stackDump(MESSAGE_BYTES, i)
      const metadata = { kind, request_id: `req-${i}`, attempt: 1 + (i % 5), region: ['eu-west-1', 'us-east-1', 'ap-south-1', 'sa-east-1'][i % 4] }
      await sql`
        insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, kafka_partition, kafka_offset)
        values (${formatMicros(startMicros + Math.round(i * stepMicros))}::timestamptz, ${BIG_SERVICE}, 'ERROR', ${message}, ${sql.json(metadata)},
          ${i % 3 === 0 ? TRACE_ID : hash(`big-${i}`)}, ${hash(`span-${i}`).slice(0, 16)}, ${`big-0${1 + (i % 4)}`},
          ${sql.array(['env:bench', 'dump', kind])}, ${i % 3}, ${1_000_000 + i})`
      done += 1
      progress(done, BIG_LOGS)
    }
  }
  await Promise.all([worker(0), worker(1)])
  await sql`analyze logs`
}

/** The kept data set, loaded first if it is missing or stale. */
export async function prepareQueryMemoryDataset(progress: (done: number, total: number) => void): Promise<QueryMemoryDataset> {
  const url = datasetUrl()
  await ensureDatabase(url)
  const sql = connect(url, { max: 2 })
  try {
    const wanted = await signature()
    await sql`create table if not exists ${sql(META_TABLE)} (signature text not null)`
    const [meta] = await sql<{ signature: string }[]>`select signature from ${sql(META_TABLE)}`
    let loadSeconds = 0
    if (meta?.signature !== wanted) {
      const began = performance.now()
      await sql`delete from ${sql(META_TABLE)}`
      await load(sql, progress)
      await sql`insert into ${sql(META_TABLE)} ${sql({ signature: wanted })}`
      loadSeconds = Math.round((performance.now() - began) / 1000)
    }
    const big = await sql<{ id: string }[]>`
      select kafka_partition || '-' || kafka_offset as id from logs where service = ${BIG_SERVICE}
      order by timestamp, kafka_partition, kafka_offset`
    const [stats] = await sql<{ trace: number; traceBig: number; small: number; text: string; stored: string; table: string }[]>`
      select (select count(*)::int from logs where trace_id = ${TRACE_ID}) as trace,
        (select count(*)::int from logs where trace_id = ${TRACE_ID} and service = ${BIG_SERVICE}) as "traceBig",
        (select count(*)::int from logs where service <> ${BIG_SERVICE}) as small,
        (select sum(octet_length(message))::text from logs where service = ${BIG_SERVICE}) as text,
        (select sum(pg_column_size(message))::text from logs where service = ${BIG_SERVICE}) as stored,
        (select sum(pg_total_relation_size(h.inhrelid))::text from pg_inherits h where h.inhparent = 'logs'::regclass) as table`
    return {
      url,
      bigIds: big.map((row) => row.id),
      traceLogs: stats!.trace,
      traceBigLogs: stats!.traceBig,
      smallLogs: stats!.small,
      messageBytes: Number(stats!.text),
      storedMessageBytes: Number(stats!.stored),
      tableBytes: Number(stats!.table),
      loadSeconds,
    }
  } finally {
    await sql.end()
  }
}
