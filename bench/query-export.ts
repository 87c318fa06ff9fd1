import { percentile } from './percentile.ts'
import { processRssMb } from './process-rss.ts'

/**
 * /export measured as a download: the whole body read as fast as the client can, rows counted by line ends
 * (CSV: minus its header), and the query server's RSS sampled from /proc every 50 ms meanwhile.
 *
 * Whether memory stays flat: a garbage-collected server's RSS rises during its first exports whatever their
 * size (its heap settles; seen here: 53 → 114 MB over a 10k- then a 100k-row export, then level), so a rise
 * alone says little. What an export held or queued in memory cannot hide is size: one ten times as long
 * (1M rows, ~380 MB of NDJSON) must then peak far above the 100k-row ones. So the exports run after an
 * untimed warm-up, the long one last, and its peak is compared with theirs.
 */
export interface ExportRun {
  status: number
  rows: number
  bytes: number
  seconds: number
  /** Milliseconds to the first body bytes. */
  firstByteMs: number
  rssStartMb: number
  rssPeakMb: number
  rssEndMb: number
}

export interface ExportTiming {
  name: string
  runs: ExportRun[]
  /** Median and lowest rows/s over the runs. */
  medianRowsPerS: number
  worstRowsPerS: number
  /** Over all runs: RSS before the first, the highest sampled, after the last. */
  rssStartMb: number
  rssPeakMb: number
  rssEndMb: number
}

async function exportOnce(url: string, pid: number): Promise<ExportRun> {
  let peak = processRssMb(pid) ?? Number.NaN
  const start = peak
  const timer = setInterval(() => {
    peak = Math.max(peak, processRssMb(pid) ?? peak)
  }, 50)
  const began = performance.now()
  let firstByteMs = Number.NaN
  let bytes = 0
  let lines = 0
  let status = 0
  try {
    const response = await fetch(url)
    status = response.status
    const reader = response.body!.getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - began
      bytes += value.byteLength
      for (let at = value.indexOf(10); at !== -1; at = value.indexOf(10, at + 1)) lines += 1
    }
  } catch {
    // A reset connection (a CSV export that failed part-way) ends the run; what arrived is reported.
  }
  const seconds = (performance.now() - began) / 1000
  clearInterval(timer)
  const end = processRssMb(pid) ?? Number.NaN
  return {
    status,
    rows: Math.max(0, lines - (url.includes('format=csv') ? 1 : 0)),
    bytes,
    seconds,
    firstByteMs,
    rssStartMb: start,
    rssPeakMb: Math.max(peak, end),
    rssEndMb: end,
  }
}

/** `runs` exports of `path` one after another. */
export async function timeExport(origin: string, pid: number, name: string, path: string, runs: number): Promise<ExportTiming> {
  const results: ExportRun[] = []
  for (let run = 0; run < runs; run++) results.push(await exportOnce(origin + path, pid))
  const rates = results.map((run) => run.rows / run.seconds).sort((a, b) => a - b)
  return {
    name,
    runs: results,
    medianRowsPerS: percentile(rates, 50),
    worstRowsPerS: rates[0] ?? 0,
    rssStartMb: results[0]?.rssStartMb ?? Number.NaN,
    rssPeakMb: Math.max(...results.map((run) => run.rssPeakMb)),
    rssEndMb: results.at(-1)?.rssEndMb ?? Number.NaN,
  }
}

/** One untimed export of `path`, so that the server's heap has settled before the timed ones. */
export async function warmUpExport(origin: string, path: string): Promise<void> {
  await (await fetch(origin + path)).arrayBuffer()
}
