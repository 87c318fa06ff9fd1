import { readFileSync } from 'node:fs'

/** Resident set size of `pid` in MB from /proc (VmRSS; VmHWM is the kernel's high-water mark since the start), if it runs. */
export function processRssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}
