/** The volume histogram (SVG): bars stacked by level; dragging over it (or clicking a bar) zooms the time range. */
import { s } from './dom.ts'
import { count, tickLabel } from './format.ts'
import { type HistogramAnswer, type Layout, layoutHistogram, selectedRange, timeTicks } from './histogram-layout.ts'
import { levelNames } from './search-syntax.ts'

const HEIGHT = 96
const AXIS = 18
const ORDER = levelNames.map((level) => level.toUpperCase())

export interface HistogramView {
  show(answer: HistogramAnswer): void
  clear(): void
}

export function histogramView(container: HTMLElement, onZoom: (fromMicros: number, toMicros: number) => void): HistogramView {
  let answer: HistogramAnswer | undefined
  let layout: Layout | undefined
  let dragStart: number | undefined
  let selection: SVGRectElement | undefined

  const xOf = (svg: SVGSVGElement, event: PointerEvent) => event.clientX - svg.getBoundingClientRect().left

  function draw(): void {
    container.replaceChildren()
    if (!answer) return
    const width = Math.max(100, container.clientWidth)
    layout = layoutHistogram(answer, width, HEIGHT, ORDER)
    const span = layout.toMicros - layout.fromMicros
    const svg = s('svg', {
      width,
      height: HEIGHT + AXIS,
      viewBox: `0 0 ${width} ${HEIGHT + AXIS}`,
      role: 'img',
      'aria-label': `Log volume by level: ${count(answer.total)} logs in ${answer.buckets.length} buckets of ${answer.step} s. Drag to zoom.`,
      'data-total': answer.total,
      className: 'histogram',
    })
    for (const bar of layout.bars) {
      const detail = bar.segments.map((segment) => `${segment.group} ${count(segment.count)}`).join(', ')
      const group = s(
        'g',
        { className: 'bar', 'data-count': bar.total },
        s('title', {}, `${tickLabel(bar.startMicros, span)}: ${count(bar.total)} logs${detail ? ` (${detail})` : ''}`),
        // A transparent full-height rect so that the tooltip and the click work over empty space too.
        s('rect', { x: bar.x, y: 0, width: bar.width, height: HEIGHT, className: 'hit' }),
      )
      for (const segment of bar.segments) {
        group.append(
          s('rect', { x: bar.x, y: segment.y, width: bar.width, height: Math.max(segment.height, 0.5), className: `lvl-${segment.group.toLowerCase()}` }),
        )
      }
      svg.append(group)
    }
    svg.append(s('line', { x1: 0, x2: width, y1: HEIGHT + 0.5, y2: HEIGHT + 0.5, className: 'axis' }))
    svg.append(s('text', { x: 4, y: 11, className: 'tick' }, count(layout.max)))
    const ticks = timeTicks(layout, width < 500 ? 3 : 6)
    ticks.forEach(([x, micros], index) => {
      const anchor = index === 0 ? 'start' : index === ticks.length - 1 ? 'end' : 'middle'
      svg.append(s('text', { x, y: HEIGHT + 13, 'text-anchor': anchor, className: 'tick' }, tickLabel(micros, span)))
    })
    selection = s('rect', { x: 0, y: 0, width: 0, height: HEIGHT, className: 'selection', visibility: 'hidden' })
    svg.append(selection)
    svg.addEventListener('pointerdown', (event) => {
      if (event.button !== 0) return
      dragStart = xOf(svg, event)
      svg.setPointerCapture(event.pointerId)
    })
    svg.addEventListener('pointermove', (event) => {
      if (dragStart === undefined || !selection) return
      const x = Math.min(Math.max(xOf(svg, event), 0), width)
      selection.setAttribute('x', String(Math.min(dragStart, x)))
      selection.setAttribute('width', String(Math.abs(x - dragStart)))
      selection.setAttribute('visibility', 'visible')
    })
    svg.addEventListener('pointerup', (event) => {
      if (dragStart === undefined || !layout) return
      const range = selectedRange(layout, dragStart, xOf(svg, event))
      dragStart = undefined
      selection?.setAttribute('visibility', 'hidden')
      if (range) onZoom(range.fromMicros, range.toMicros)
    })
    svg.addEventListener('pointercancel', () => {
      dragStart = undefined
      selection?.setAttribute('visibility', 'hidden')
    })
    container.append(svg)
  }

  let width = 0
  new ResizeObserver(() => {
    if (container.clientWidth !== width) {
      width = container.clientWidth
      draw()
    }
  }).observe(container)

  return {
    show(next) {
      answer = next
      draw()
    },
    clear() {
      answer = undefined
      draw()
    },
  }
}
