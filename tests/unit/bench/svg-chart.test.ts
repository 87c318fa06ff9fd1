import { describe, expect, test } from 'bun:test'
import { stackedBarChart } from '../../../bench/svg-chart.ts'

describe('stackedBarChart', () => {
  const svg = stackedBarChart('CPU <per> log', 'µs', [
    {
      label: 'ours',
      segments: [
        { label: 'ingest', value: 30, colour: '#111' },
        { label: 'kafka', value: 10, colour: '#222' },
        { label: 'postgres', value: 60, colour: '#333' },
      ],
    },
    {
      label: 'ceilings',
      segments: [
        { label: 'kafka', value: 5, colour: '#222' },
        { label: 'postgres', value: 0, colour: '#333' },
      ],
    },
  ])

  test('is one well-formed SVG document with the title escaped', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.trim().endsWith('</svg>')).toBe(true)
    expect(svg).toContain('CPU &#60;per&#62; log')
    expect(svg).not.toContain('NaN')
    const opened = svg.match(/<(rect|text|title|line|svg)\b(?:[^>]*[^/])?>/g)?.length ?? 0
    const closed = svg.match(/<\/(rect|text|title|line|svg)>/g)?.length ?? 0
    expect(opened).toBe(closed)
  })

  test('draws one segment per non-zero value, stacked: the bar total on top', () => {
    expect(svg.match(/class="segment"/g)?.length).toBe(4)
    expect(svg).toContain('>100</text>')
  })

  test('a legend entry per distinct segment label', () => {
    for (const label of ['ingest', 'kafka', 'postgres']) expect(svg.match(new RegExp(`font-size="11">${label}<`, 'g'))?.length).toBe(1)
  })

  test('survives all-zero bars', () => {
    expect(stackedBarChart('empty', 'µs', [{ label: 'none', segments: [{ label: 'a', value: 0, colour: '#000' }] }])).not.toContain('NaN')
  })
})
