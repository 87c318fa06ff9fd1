import type { BusyState } from './query-busy-dataset.ts'
import type { StorageSizes } from './query-dataset.ts'
import type { ExportTiming } from './query-export.ts'
import type { ConcurrentTiming, SequentialTiming } from './query-timing.ts'

/** The query scenario's markdown tables and metrics: every figure beside its target, ✓ or ✗. */
export const EXPORT_TARGET_ROWS_PER_S = 50_000
/**
 * "Server RSS flat" during exports (query-export.ts): an export of ten times the rows peaks at most this much
 * above the highest peak of the 100k-row ones. Held or queued in memory, its extra 900k rows (~340 MB of
 * NDJSON) would show many times over.
 */
export const EXPORT_RSS_MARGIN_MB = 16
export const CONCURRENT_TARGET_MS = 1000
export const CONCURRENT_FULL_TEXT_TARGET_MS = 2000

const round = (value: number) => (Number.isFinite(value) ? Math.round(value * 10) / 10 : Number.NaN)
const mark = (ok: boolean) => (ok ? '✓' : '✗')
const fmt = (value: number) => Math.round(value).toLocaleString('en-US')
const failuresCell = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .filter(([status]) => status !== '200')
    .map(([status, count]) => `${count} × ${status}`)
    .join(', ') || '0'

export const sequentialMet = (r: SequentialTiming) => r.failures === 0 && r.p95 <= r.shape.target
export const concurrentTarget = (r: ConcurrentTiming) => (r.shape.fullText ? CONCURRENT_FULL_TEXT_TARGET_MS : CONCURRENT_TARGET_MS)
export const concurrentMet = (r: ConcurrentTiming) => r.failures === 0 && r.p99 <= concurrentTarget(r)
export const exportRateMet = (r: ExportTiming) => r.medianRowsPerS >= EXPORT_TARGET_ROWS_PER_S && r.runs.every((run) => run.status === 200)
export const exportRssMet = (exports: ExportTiming[], long: ExportTiming) =>
  long.rssPeakMb <= Math.max(...exports.map((r) => r.rssPeakMb)) + EXPORT_RSS_MARGIN_MB && long.runs.every((run) => run.status === 200)

export function sequentialTable(results: SequentialTiming[]): string {
  return [
    '| query | n | p50 ms | p95 ms | max ms | target p95 | non-200 | rows (avg) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.shape.name} | ${r.count}${r.cut ? ' (time budget)' : ''} | ${round(r.p50)} | ${round(r.p95)} | ${round(r.max)} | ≤ ${r.shape.target} ms ${mark(sequentialMet(r))} | ${failuresCell(r.statuses)} | ${fmt(r.rowsAvg)} |`,
    ),
  ].join('\n')
}

export function concurrentTable(results: ConcurrentTiming[]): string {
  return [
    '| query | requests | req/s | failed (by status) | 503 | p50 ms | p95 ms | p99 ms | target: none failed, p99 | resent after a stale-connection reset |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.shape.name} | ${r.count} | ${round(r.count / r.seconds)} | ${failuresCell(r.statuses)} | ${r.unavailable} | ${round(r.p50)} | ${round(r.p95)} | ${round(r.p99)} | ≤ ${concurrentTarget(r)} ms ${mark(concurrentMet(r))} | ${r.staleRetries} |`,
    ),
  ].join('\n')
}

export function exportTable(exports: ExportTiming[], long: ExportTiming): string {
  const row = (r: ExportTiming, target: boolean) => {
    const first = r.runs[0]!
    const statuses = r.runs.filter((run) => run.status !== 200).map((run) => run.status)
    return `| ${r.name}${statuses.length ? ` (status ${statuses.join(', ')})` : ''} | ${r.runs.length} | ${fmt(first.rows)} | ${round(first.bytes / 2 ** 20)} | ${fmt(r.medianRowsPerS)}${target ? ` ${mark(exportRateMet(r))}` : ''} | ${fmt(r.worstRowsPerS)} | ${round(Math.max(...r.runs.map((run) => run.firstByteMs)))} | ${fmt(r.rssStartMb)} → ${fmt(r.rssPeakMb)} → ${fmt(r.rssEndMb)} |`
  }
  const peak = Math.max(...exports.map((r) => r.rssPeakMb))
  return [
    `| export | runs | rows each | MB each | rows/s median (target ≥ ${fmt(EXPORT_TARGET_ROWS_PER_S)}) | rows/s worst | first byte ms (worst) | query RSS MB start → peak → end |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...exports.map((r) => row(r, true)),
    row(long, false),
    '',
    `RSS flat: the ${fmt(long.runs[0]!.rows)}-row export (${round(long.runs[0]!.bytes / 2 ** 20)} MB) peaked at ${fmt(long.rssPeakMb)} MB, the ${fmt(exports[0]!.runs[0]!.rows)}-row ones at ${fmt(peak)} MB (target: within ${EXPORT_RSS_MARGIN_MB} MB) ${mark(exportRssMet(exports, long))}.`,
  ].join('\n')
}

export function storageTable(size: StorageSizes, rows: number): string {
  return [
    `Storage: **${round(size.perRow)} bytes per row** (table + all indexes, ${(size.totalBytes / 2 ** 30).toFixed(2)} GiB for ${rows.toLocaleString('en-US')} rows):`,
    '',
    '| part | bytes per row |',
    '|---|---:|',
    ...size.parts.map((part) => `| ${part.part} | ${round(part.perRow)} |`),
  ].join('\n')
}

export function busyStateLine(label: string, state: BusyState): string {
  const pending = state.pending.map((index) => `${index.index.replace(/^logs_\d+_/, '')} ${index.pages} pages / ${fmt(index.tuples)} entries`).join(', ')
  return `${label}: ${state.statisticsRows} rows in pg_statistic for logs and its partitions (never analyzed: ${mark(state.statisticsRows === 0)}), reltuples ${state.reltuples.join(', ')}, autovacuum off on the partitions: ${mark(state.autovacuumOff)}; GIN pending lists: ${pending || 'none'}.`
}

export interface PartTargets {
  label: string
  sequential: SequentialTiming[]
  concurrent: ConcurrentTiming[]
  exports: ExportTiming[]
  longExport: ExportTiming
}

export function targetSummary(parts: PartTargets[]): string {
  const missed = parts.flatMap((part) => [
    ...part.sequential.filter((r) => !sequentialMet(r)).map((r) => `${part.label}: ${r.shape.name}`),
    ...part.concurrent.filter((r) => !concurrentMet(r)).map((r) => `${part.label}: ${r.shape.name} (${r.clients} clients)`),
    ...part.exports.filter((r) => !exportRateMet(r)).map((r) => `${part.label}: export ${r.name} (rate)`),
    ...(exportRssMet(part.exports, part.longExport) ? [] : [`${part.label}: export RSS`]),
  ])
  const total = parts.reduce((sum, part) => sum + part.sequential.length + part.concurrent.length + part.exports.length + 1, 0)
  return `Targets met: ${total - missed.length} of ${total}${missed.length ? `; missed: ${missed.join('; ')}` : ''}.`
}

const key = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')

export function timingMetrics(prefix: string, { sequential, concurrent, exports, longExport }: PartTargets): Record<string, number> {
  const metrics: Record<string, number> = {}
  for (const r of sequential) {
    metrics[`${prefix}${key(r.shape.name)}_p50_ms`] = round(r.p50)
    metrics[`${prefix}${key(r.shape.name)}_p95_ms`] = round(r.p95)
  }
  for (const r of concurrent) {
    metrics[`${prefix}c${r.clients}_${key(r.shape.name)}_p99_ms`] = round(r.p99)
    metrics[`${prefix}c${r.clients}_${key(r.shape.name)}_failures`] = r.failures
  }
  for (const r of [...exports, longExport]) {
    metrics[`${prefix}export_${key(r.name)}_rows_per_s`] = Math.round(r.medianRowsPerS)
    metrics[`${prefix}export_${key(r.name)}_rss_peak_mb`] = round(r.rssPeakMb)
  }
  return metrics
}
