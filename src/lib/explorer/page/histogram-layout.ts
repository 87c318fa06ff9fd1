/**
 * Geometry of the volume histogram: one bar per bucket of GET /histogram, stacked by level, and the time
 * range a drag over it selects. Pure (numbers in, numbers out); histogram.ts draws it as SVG.
 */
import { parseRfc3339 } from '../../time-range.ts'

export interface HistogramAnswer {
  step: number
  from: string
  to: string
  group_by: string
  groups: string[]
  buckets: { start: string; counts: Record<string, number>; other: number; total: number }[]
  total: number
  /** True when the counts are estimated from a sample (GET /histogram). */
  approximate?: boolean
}

export interface BarSegment {
  group: string
  count: number
  y: number
  height: number
}

export interface Bar {
  index: number
  x: number
  width: number
  startMicros: number
  endMicros: number
  total: number
  segments: BarSegment[]
}

export interface Layout {
  bars: Bar[]
  /** The count the top of the plot stands for (a round number ≥ the largest bucket). */
  max: number
  fromMicros: number
  toMicros: number
  width: number
  height: number
}

/** The smallest of 1, 2, 5 × 10^n that is at least `value`. */
export function niceCeiling(value: number): number {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const factor of [1, 2, 5, 10]) if (factor * power >= value) return factor * power
  return 10 * power
}

export function layoutHistogram(answer: HistogramAnswer, width: number, height: number, groupOrder: readonly string[] = answer.groups): Layout {
  const fromMicros = parseRfc3339(answer.from) ?? 0
  const toMicros = parseRfc3339(answer.to) ?? fromMicros
  const stepMicros = Math.round(answer.step * 1e6)
  const count = answer.buckets.length
  const max = niceCeiling(Math.max(0, ...answer.buckets.map((bucket) => bucket.total)))
  const slot = count > 0 ? width / count : width
  const gap = slot > 4 ? 1 : 0
  const bars = answer.buckets.map((bucket, index): Bar => {
    const startMicros = parseRfc3339(bucket.start) ?? fromMicros + index * stepMicros
    let top = height
    const segments: BarSegment[] = []
    const order = [...groupOrder.filter((group) => group in bucket.counts), ...Object.keys(bucket.counts).filter((group) => !groupOrder.includes(group))]
    const parts = order.map((group) => [group, bucket.counts[group] ?? 0] as const)
    if (bucket.other > 0) parts.push(['other', bucket.other])
    for (const [group, value] of parts) {
      if (value <= 0) continue
      const segmentHeight = (value / max) * height
      top -= segmentHeight
      segments.push({ group, count: value, y: top, height: segmentHeight })
    }
    return {
      index,
      x: index * slot,
      width: Math.max(1, slot - gap),
      startMicros,
      endMicros: Math.min(startMicros + stepMicros, toMicros),
      total: bucket.total,
      segments,
    }
  })
  return { bars, max, fromMicros, toMicros, width, height }
}

/** The time at a horizontal position of the plot. */
export function timeAt(layout: Layout, x: number): number {
  const clamped = Math.min(Math.max(x, 0), layout.width)
  return Math.round(layout.fromMicros + (clamped / layout.width) * (layout.toMicros - layout.fromMicros))
}

/**
 * The range a pointer selected between x0 and x1: a drag of a few pixels or more selects that span; a click
 * (less than `clickPixels`) selects the bucket under it. Null over an empty plot.
 */
export function selectedRange(layout: Layout, x0: number, x1: number, clickPixels = 4): { fromMicros: number; toMicros: number } | null {
  if (layout.bars.length === 0 || layout.width <= 0) return null
  if (Math.abs(x1 - x0) < clickPixels) {
    const slot = layout.width / layout.bars.length
    const bar = layout.bars[Math.min(layout.bars.length - 1, Math.max(0, Math.floor(x1 / slot)))]!
    // `to` is inclusive: a bucket ends one microsecond before the next one starts; the last one takes `to` itself.
    const last = bar.index === layout.bars.length - 1
    return { fromMicros: bar.startMicros, toMicros: last ? layout.toMicros : Math.max(bar.startMicros, bar.endMicros - 1) }
  }
  const a = timeAt(layout, Math.min(x0, x1))
  const b = timeAt(layout, Math.max(x0, x1))
  return { fromMicros: a, toMicros: b }
}

/** About `count` evenly spaced labels along the time axis: [x, micros]. */
export function timeTicks(layout: Layout, count = 5): [number, number][] {
  const ticks: [number, number][] = []
  for (let i = 0; i <= count; i++) {
    const x = (i / count) * layout.width
    ticks.push([x, timeAt(layout, x)])
  }
  return ticks
}
