import type { Sql } from '../../src/lib/db.ts'

export interface CountMismatch {
  minute: string
  service: string
  level: string
  host: string
  counted: number
  stored: number
}

/**
 * The (minute, service, level, host) groups where log_counts disagrees with a count of the rows in logs: none
 * when the counts are exact. A group counted 0 is the same as a group absent.
 */
export function countMismatches(sql: Sql): Promise<CountMismatch[]> {
  return sql<CountMismatch[]>`
    with counted as (select minute, service, level, host, n from log_counts where n <> 0),
    stored as (
      select date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00') as minute, service, level, coalesce(host, '') as host, count(*) as n
      from logs group by 1, 2, 3, 4
    )
    select coalesce(c.minute, s.minute)::text as minute, coalesce(c.service, s.service) as service, coalesce(c.level, s.level) as level,
      coalesce(c.host, s.host) as host, coalesce(c.n, 0)::int as counted, coalesce(s.n, 0)::int as stored
    from counted c full join stored s using (minute, service, level, host)
    where c.n is distinct from s.n
    order by 1, 2, 3, 4`
}
