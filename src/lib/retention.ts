import type { Sql, Transaction } from './db.ts'

const DAY_MS = 86_400_000
const RETENTION_LOCK = 0x4c6f6752 // "LogR": one maintainer at a time across all consumer processes.

export interface RetentionOptions {
  retentionDays: number
  aheadDays: number
  now?: Date
}

export interface RetentionResult {
  created: string[]
  dropped: string[]
  /** Rows deleted from logs_default because they are older than the retention window. */
  purgedDefaultRows: number
}

function startOfUtcDay(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()))
}

export function partitionName(day: Date): string {
  return `logs_${day.toISOString().slice(0, 10).replaceAll('-', '')}`
}

function dayOfPartition(name: string): Date | undefined {
  const match = /^logs_(\d{4})(\d{2})(\d{2})$/.exec(name)
  return match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : undefined
}

/**
 * The start of the oldest UTC day that retention at `now` keeps: rows before it are dropped by the pass.
 * Intake refuses timestamps before this (taken a margin ahead, see log-entry.ts), so both use one rule.
 */
export function oldestKeptDay(now: Date, retentionDays: number): Date {
  return new Date(startOfUtcDay(now).getTime() - (retentionDays - 1) * DAY_MS)
}

/**
 * Keeps one partition per UTC day from (today - retentionDays + 1) to (today + aheadDays), and drops older ones.
 * Safe to run from many processes at once: an advisory lock serialises them and each step is idempotent.
 */
export async function maintainPartitions(sql: Sql, options: RetentionOptions): Promise<RetentionResult> {
  const today = startOfUtcDay(options.now ?? new Date())
  const oldestKept = oldestKeptDay(today, options.retentionDays)
  const result: RetentionResult = { created: [], dropped: [], purgedDefaultRows: 0 }

  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${RETENTION_LOCK})`
    const rows = await tx<{ name: string }[]>`
      select c.relname as name from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'logs'::regclass`
    const existing = new Set(rows.map((row) => row.name))

    for (const name of existing) {
      const day = dayOfPartition(name)
      if (day && day < oldestKept) {
        await tx`drop table ${tx(name)}`
        result.dropped.push(name)
      }
    }

    for (let day = oldestKept; day.getTime() <= today.getTime() + options.aheadDays * DAY_MS; day = new Date(day.getTime() + DAY_MS)) {
      const name = partitionName(day)
      if (existing.has(name)) continue
      await createPartition(tx, name, day, new Date(day.getTime() + DAY_MS))
      result.created.push(name)
    }

    const purged = await tx`delete from logs_default where timestamp < ${oldestKept}`
    result.purgedDefaultRows = purged.count
    // Neither the drops nor the purge (on a partition, not on logs) fire the counting triggers of schema.sql.
    // No log older than oldestKept is left in any partition, and oldestKept starts a minute, so removing
    // those minutes keeps log_counts exactly the counts of what remains.
    await tx`delete from log_counts where minute < ${oldestKept}`
  })
  return result
}

/**
 * Rows for this day may already sit in logs_default (they arrived before the partition existed), and
 * PostgreSQL refuses to add a partition whose range the default partition holds rows for. So the
 * partition is built detached, those rows are moved into it, and only then is it attached.
 */
async function createPartition(tx: Transaction, name: string, from: Date, to: Date): Promise<void> {
  await tx`create table ${tx(name)} (like logs including defaults including constraints)`
  await tx`
    with moved as (delete from logs_default where timestamp >= ${from} and timestamp < ${to} returning *)
    insert into ${tx(name)} select * from moved`
  // DDL takes no bind parameters; every value here is generated above, never user input.
  await tx.unsafe(`alter table logs attach partition "${name}" for values from ('${from.toISOString()}') to ('${to.toISOString()}')`)
}
