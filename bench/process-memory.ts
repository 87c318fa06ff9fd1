/**
 * A process's memory as the kernel counts it, read from /proc/<pid>/status: VmRSS (resident now) and VmHWM
 * (the high-water mark of VmRSS since the process started, exact however fast memory comes and goes).
 */
import { readFileSync } from 'node:fs'

/** VmRSS or VmHWM of `pid` in MB (MiB), or undefined once the process is gone. */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024)
  } catch {
    return undefined
  }
}

export interface RssSample {
  /** Milliseconds since the sampler started. */
  ms: number
  rssMb: number
}

export interface RssSamplerOptions {
  intervalMs?: number
  /** Called once, from the sampling timer, when VmRSS first reaches this many MB (e.g. to kill a runaway process). */
  limitMb?: number
  onLimit?: (rssMb: number) => void
}

/** Samples `pid`'s VmRSS every `intervalMs` (default 50) until stopped; keeps the peak and every sample. */
export function rssSampler(pid: number, options: RssSamplerOptions = {}) {
  const { intervalMs = 50, limitMb, onLimit } = options
  const began = performance.now()
  const samples: RssSample[] = []
  let peak = 0
  let limitHit = false
  const sample = () => {
    const rss = memoryMb(pid, 'VmRSS')
    if (rss === undefined) return
    samples.push({ ms: Math.round(performance.now() - began), rssMb: rss })
    peak = Math.max(peak, rss)
    if (limitMb !== undefined && rss >= limitMb && !limitHit) {
      limitHit = true
      onLimit?.(rss)
    }
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  return {
    get peakMb() {
      return peak
    },
    stop() {
      clearInterval(timer)
      sample()
      return { peakMb: peak, samples, limitHit }
    },
  }
}
