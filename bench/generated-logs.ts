/**
 * The generated logs of the query benchmark's data sets, as one INSERT ... SELECT generate_series statement
 * per chunk of rows. Row i (1-based) gets timestamp start + i × step, Kafka partition i % 3 and offset i (so
 * its log id starts `${i % 3}-${i}-`), and trace md5(i / 8) when it belongs to a trace (~80 %: traces of 8 logs).
 * Levels are skewed (15 % DEBUG, 65 % INFO, 12 % WARN, 7 % ERROR, 1 % FATAL), messages come from eight
 * templates with ids and numbers in them, and metadata carries the attributes shippers send: `user.id` as one
 * dotted key (as OpenTelemetry stores it), `http` nested (`method`, `status`), `region` and `duration_ms`.
 * The two shapes differ in services, hosts and tags (see SHAPES).
 */
export const SERVICES = ['api-gateway', 'auth', 'billing', 'checkout', 'inventory', 'search', 'notifications', 'recommendations'] as const
export const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-south-1'] as const
/** Every status with its share: 500 is 1 in 9 logs. */
export const HTTP_STATUSES = [200, 200, 200, 201, 204, 400, 404, 500, 503] as const
/** Distinct `user.id` values (u0 … u99999), uniform: one user has ~0.001 % of the logs. */
export const USERS = 100_000
/** The service holding most of the busy hour's logs, and its share. */
export const BUSY_SERVICE = 'checkout'
export const BUSY_SHARE = 0.85
/** Hosts of the busy hour: h1 … h8, uniform over every service. */
export const BUSY_HOSTS = 8
/** The tag every log of the busy hour carries. */
export const BUSY_TAG = 'load'

export type Shape = 'spread' | 'busy'

const sqlArray = (items: readonly (string | number)[]) => `array[${items.map((item) => (typeof item === 'number' ? item : `'${item}'`)).join(',')}]`

// biome-ignore format: one SQL expression per shape and column
const SHAPES: Record<Shape, { service: string; host: string; tags: string }> = {
  // Eight services skewed by power(r1, 1.6) (api-gateway ~27 %, recommendations ~5 %); six hosts per service.
  spread: {
    service: `(${sqlArray(SERVICES)})[1 + floor(power(r1, 1.6) * 8)::int]`,
    host: `svc || '-' || lpad((1 + floor(r3 * 6))::int::text, 2, '0')`,
    tags: '',
  },
  // One service holds BUSY_SHARE of the logs, the seven others share the rest; hosts h1..h8 across services;
  // BUSY_TAG on every log.
  busy: {
    service: `case when r1 < ${BUSY_SHARE} then '${BUSY_SERVICE}' else (${sqlArray(SERVICES.filter((s) => s !== BUSY_SERVICE))})[1 + floor((r1 - ${BUSY_SHARE}) / ${(1 - BUSY_SHARE).toFixed(2)} * 7)::int] end`,
    host: `'h' || (1 + floor(r9 * ${BUSY_HOSTS}))::int`,
    tags: `'${BUSY_TAG}', `,
  },
}

/**
 * The statement inserting rows $1..$2 (bigint) of a data set starting at $3 (timestamptz text), one row every
 * $4 microseconds (float8). Its text is the data set's definition: a kept data set whose statement differs is
 * generated again.
 */
export function insertRowsSql(shape: Shape): string {
  const { service, host, tags } = SHAPES[shape]
  return `
insert into logs (timestamp, service, level, message, metadata, trace_id, span_id, host, tags, ingested_at, kafka_partition, kafka_offset)
select ts, svc, lvl, msg, meta, trace, span, ${host}, tags, ts + interval '80 milliseconds', (i % 3)::int, i
from (
  select i, r1, r2, r3, r4, r5, r6, r7, r8, r9,
    $3::timestamptz + (floor(i * $4::float8) * interval '1 microsecond') as ts,
    ${service} as svc,
    case when r2 < 0.15 then 'DEBUG' when r2 < 0.80 then 'INFO' when r2 < 0.92 then 'WARN' when r2 < 0.99 then 'ERROR' else 'FATAL' end as lvl,
    case when r4 < 0.8 then md5((i / 8)::text) end as trace,
    case when r4 < 0.8 then left(md5(i::text), 16) end as span,
    array[${tags}'env:' || case when r3 < 0.9 then 'prod' else 'staging' end,
          'region:' || (${sqlArray(REGIONS)})[1 + floor(r5 * 4)::int],
          'version:v1.' || floor(r6 * 20)::int] as tags,
    jsonb_build_object(
      'user.id', 'u' || floor(r7 * ${USERS})::int,
      'http', jsonb_build_object('method', (array['GET','GET','GET','POST','PUT','DELETE'])[1 + floor(r2 * 6)::int],
                                 'status', (${sqlArray(HTTP_STATUSES)})[1 + floor(r8 * ${HTTP_STATUSES.length})::int]),
      'region', (${sqlArray(REGIONS)})[1 + floor(r5 * 4)::int],
      'duration_ms', floor(r6 * 2000)::int) as meta,
    case floor(r5 * 8)::int
      when 0 then format('GET /api/v1/orders/%s returned %s in %s ms', floor(r6 * 1e6)::int, (array[200,404,500])[1 + floor(r3 * 3)::int], floor(r1 * 900)::int)
      when 1 then format('user u%s logged in from 10.%s.%s.%s', floor(r6 * 100000)::int, floor(r1 * 255)::int, floor(r3 * 255)::int, floor(r2 * 255)::int)
      when 2 then format('payment declined for customer u%s: %s', floor(r6 * 100000)::int, (array['card expired','insufficient funds','fraud suspected','bank unavailable'])[1 + floor(r3 * 4)::int])
      when 3 then format('db error: connection refused to db-%s:5432, retry %s of 5', floor(r6 * 12)::int, 1 + floor(r3 * 5)::int)
      when 4 then format('cache miss for key session:%s', left(md5((i * 7)::text), 12))
      when 5 then format('timeout after %s ms calling %s', 1000 + floor(r6 * 29000)::int, (array['inventory','billing','search','auth'])[1 + floor(r3 * 4)::int])
      when 6 then format('processed batch of %s events in %s ms', floor(r6 * 5000)::int, floor(r3 * 800)::int)
      else format('order %s shipped to warehouse %s', floor(r6 * 1e6)::int, (array['AMS1','FRA2','IAD3','SIN1'])[1 + floor(r3 * 4)::int])
    end as msg
  from (
    -- random() in the select list is volatile, so it is evaluated once per row, not hoisted.
    select i, random() as r1, random() as r2, random() as r3, random() as r4, random() as r5, random() as r6,
           random() as r7, random() as r8, random() as r9
    from generate_series($1::bigint, $2::bigint) as i
  ) as r
) as g`
}

/** Trace id of generated row i (when it has one: ~80 % of rows). */
export const generatedTraceId = (i: number) => new Bun.CryptoHasher('md5').update(String(Math.floor(i / 8))).digest('hex')

/** A short signature of a text (the dataset definition), stored beside a kept data set. */
export const signature = (text: string) => new Bun.CryptoHasher('sha256').update(text).digest('hex').slice(0, 16)
