/**
 * Cost per stored log: a quantity measured over a window divided by the logs stored in it. Undefined when
 * either side was not measured, so a missing figure shows as such instead of as zero.
 */

/** `total` ÷ `logs` × `scale`, or undefined if `total` is unknown or nothing was stored. */
export function perLog(total: number | undefined, logs: number, scale = 1): number | undefined {
  return total === undefined || !(logs > 0) ? undefined : (total * scale) / logs
}

/** CPU seconds by stage → CPU-µs per log by stage. */
export function cpuMicrosPerLog<Stage extends string>(cpuSeconds: Record<Stage, number | undefined>, logs: number): Record<Stage, number | undefined> {
  const out = {} as Record<Stage, number | undefined>
  for (const stage of Object.keys(cpuSeconds) as Stage[]) out[stage] = perLog(cpuSeconds[stage], logs, 1e6)
  return out
}

/** The sum of `stages`' costs, or undefined if any of them is unknown (a partial sum would read as a smaller total). */
export function sumOf<Stage extends string>(costs: Record<Stage, number | undefined>, stages: readonly Stage[]): number | undefined {
  let sum = 0
  for (const stage of stages) {
    const cost = costs[stage]
    if (cost === undefined) return undefined
    sum += cost
  }
  return sum
}
