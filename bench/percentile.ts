/** The p-th percentile (nearest rank) of ascending `sorted` values; `whenEmpty` when there are none. */
export function percentile(sorted: readonly number[], p: number, whenEmpty = Number.NaN): number {
  if (sorted.length === 0) return whenEmpty
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
