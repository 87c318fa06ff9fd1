/** Minimal SVG charts for bench/RESULTS.md: no dependency, readable on GitHub in light and dark themes. */
export interface Series {
  label: string
  colour: string
  points: [number, number][]
}

const WIDTH = 720
const HEIGHT = 320
const PAD = { left: 70, right: 20, top: 36, bottom: 44 }

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)

function niceMax(value: number): number {
  if (value <= 0) return 1
  const magnitude = 10 ** Math.floor(Math.log10(value))
  return Math.ceil(value / magnitude) * magnitude
}

function frame(title: string, xLabel: string, yLabel: string, yMax: number, body: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = PAD.top + (1 - f) * (HEIGHT - PAD.top - PAD.bottom)
    return `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" stroke="#8884" /><text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${Math.round(f * yMax).toLocaleString('en-US')}</text>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12" fill="#888">
<rect width="100%" height="100%" fill="#fff" fill-opacity="0.02" />
<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>
${ticks.join('\n')}
<text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>
<text x="14" y="${HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 14 ${HEIGHT / 2})">${escapeXml(yLabel)}</text>
${body}
</svg>
`
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points)
  const xMax = Math.max(1, ...all.map(([x]) => x))
  const yMax = niceMax(Math.max(...all.map(([, y]) => y)))
  const px = (x: number) => PAD.left + (x / xMax) * (WIDTH - PAD.left - PAD.right)
  const py = (y: number) => PAD.top + (1 - y / yMax) * (HEIGHT - PAD.top - PAD.bottom)
  const lines = series.map((s, i) => {
    const path = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')
    return `<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${path}" /><rect x="${PAD.left + 10 + i * 200}" y="${PAD.top - 4}" width="12" height="3" fill="${s.colour}" /><text x="${PAD.left + 26 + i * 200}" y="${PAD.top}">${escapeXml(s.label)}</text>`
  })
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map(
    (f) => `<text x="${px(f * xMax)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${Math.round(f * xMax)}</text>`,
  )
  return frame(title, xLabel, yLabel, yMax, lines.join('\n') + xTicks.join('\n'))
}

export function barChart(title: string, yLabel: string, bars: { label: string; value: number; colour: string }[]): string {
  const yMax = niceMax(Math.max(...bars.map((b) => b.value)))
  const slot = (WIDTH - PAD.left - PAD.right) / bars.length
  const body = bars.map((bar, i) => {
    const h = (bar.value / yMax) * (HEIGHT - PAD.top - PAD.bottom)
    const x = PAD.left + i * slot + slot * 0.2
    const y = HEIGHT - PAD.bottom - h
    return `<rect x="${x}" y="${y}" width="${slot * 0.6}" height="${h}" fill="${bar.colour}" /><text x="${x + slot * 0.3}" y="${y - 4}" text-anchor="middle">${bar.value}</text><text x="${x + slot * 0.3}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${escapeXml(bar.label)}</text>`
  })
  return frame(title, '', yLabel, yMax, body.join('\n'))
}

export interface StackedBar {
  label: string
  segments: { label: string; value: number; colour: string }[]
}

/**
 * Bars made of stacked segments (e.g. CPU per log by stage), each bar's total above it and a legend of the
 * segment labels. Segments of zero are left out; each drawn segment is a `<rect class="segment">`.
 */
export function stackedBarChart(title: string, yLabel: string, bars: StackedBar[]): string {
  const total = (bar: StackedBar) => bar.segments.reduce((sum, segment) => sum + Math.max(0, segment.value), 0)
  // Headroom above the tallest bar for its total, clear of the legend.
  const yMax = niceMax(Math.max(0, ...bars.map(total)) * 1.15)
  const plotHeight = HEIGHT - PAD.top - PAD.bottom
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, bars.length)
  const legend = new Map<string, string>()
  const body = bars.map((bar, i) => {
    const x = PAD.left + i * slot + slot * 0.2
    let y = HEIGHT - PAD.bottom
    const rects = bar.segments
      .filter((segment) => segment.value > 0)
      .map((segment) => {
        legend.set(segment.label, segment.colour)
        const h = (segment.value / yMax) * plotHeight
        y -= h
        const inside = h >= 14 ? `<text x="${x + slot * 0.3}" y="${y + h / 2 + 4}" text-anchor="middle" fill="#fff">${Math.round(segment.value)}</text>` : ''
        return `<rect class="segment" x="${x}" y="${y}" width="${slot * 0.6}" height="${h}" fill="${segment.colour}"><title>${escapeXml(`${segment.label}: ${segment.value.toFixed(1)}`)}</title></rect>${inside}`
      })
    return `${rects.join('')}<text x="${x + slot * 0.3}" y="${y - 4}" text-anchor="middle">${Math.round(total(bar))}</text><text x="${x + slot * 0.3}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${escapeXml(bar.label)}</text>`
  })
  const step = (WIDTH - PAD.left - PAD.right) / Math.max(1, legend.size)
  const keys = [...legend].map(
    ([label, colour], i) =>
      `<rect x="${PAD.left + i * step}" y="${PAD.top - 12}" width="10" height="10" fill="${colour}" /><text x="${PAD.left + 14 + i * step}" y="${PAD.top - 3}" font-size="11">${escapeXml(label)}</text>`,
  )
  return frame(title, '', yLabel, yMax, body.join('\n') + keys.join('\n'))
}
