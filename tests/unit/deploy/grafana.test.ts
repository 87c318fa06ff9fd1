import { describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { ConsumerMetrics, createRegistry, IngestMetrics, QueryMetrics } from '../../../src/lib/metrics.ts'

/**
 * deploy/grafana/logstream-dashboard.json checked structurally (no Grafana here): it parses, its layout is
 * sound, every panel reads the one templated Prometheus data source, and every metric its queries name is one
 * the code registers, read from the services' own registries, so renaming a metric without the dashboard fails here.
 */
const root = resolve(import.meta.dir, '../../..')
const text = await Bun.file(`${root}/deploy/grafana/logstream-dashboard.json`).text()

interface Target {
  refId: string
  expr?: string
  datasource?: { type: string; uid: string }
}
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource?: { type: string; uid: string }
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: { name: string; type: string; query?: string }[] }
}

const dashboard = JSON.parse(text) as Dashboard
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])
const graphs = panels.filter((panel) => panel.type !== 'row')

/** Every series name the services expose: each registered metric, and a histogram's or summary's _bucket, _sum, _count. */
async function exposedNames(): Promise<Set<string>> {
  const registry = createRegistry()
  new IngestMetrics(registry, () => ({ pendingBytes: 0 }))
  new QueryMetrics(registry)
  new ConsumerMetrics(registry, async () => undefined)
  const names = new Set<string>()
  for (const { name, type: kind } of await registry.getMetricsAsJSON()) {
    const type = String(kind)
    names.add(name)
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`)
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`)
  }
  return names
}

const metricsIn = (expr: string) => [...expr.matchAll(/\blogstream_[a-zA-Z0-9_]+/g)].map((match) => match[0])
const exprs = graphs.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''))

describe('the Grafana dashboard', () => {
  test('is a dashboard with a title, a uid and panels', () => {
    expect(dashboard.uid).toBe('logstream-overview')
    expect(dashboard.title).toBeTruthy()
    expect(graphs.length).toBeGreaterThanOrEqual(10)
  })

  test('every query names only metrics the code registers (a renamed metric fails here)', async () => {
    const exposed = await exposedNames()
    expect(exposed).toContain('logstream_consumer_lag')
    for (const expr of exprs) {
      const names = metricsIn(expr)
      expect([expr, names.length > 0]).toEqual([expr, true])
      for (const name of names) expect([expr, name, exposed.has(name)]).toEqual([expr, name, true])
    }
  })

  test("every LogStream metric of issue 16 has a panel, and the processes' CPU and memory too", () => {
    const used = new Set(exprs.flatMap(metricsIn).map((name) => name.replace(/_(bucket|sum|count)$/, '')))
    for (const name of [
      'logstream_ingest_entries_total',
      'logstream_ingest_ack_seconds',
      'logstream_ingest_pending_bytes',
      'logstream_consumer_rows_total',
      'logstream_consumer_lag',
      'logstream_consumer_batch_seconds',
      'logstream_dead_letters_total',
      'logstream_query_requests_total',
      'logstream_query_seconds',
      'logstream_process_cpu_seconds_total',
      'logstream_process_resident_memory_bytes',
    ])
      expect(used).toContain(name)
  })

  test('latency quantiles come from histogram buckets, grouped by le', () => {
    const quantiles = exprs.filter((expr) => expr.includes('histogram_quantile'))
    expect(quantiles.length).toBeGreaterThan(0)
    for (const expr of quantiles) {
      expect(expr).toMatch(/_bucket\[/)
      expect(expr).toMatch(/by \((?:[a-z_]+, )*le\)/)
    }
  })

  test('panel ids are unique and every panel has a place on the 24-column grid, with no two overlapping', () => {
    const ids = panels.map((panel) => panel.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { title, gridPos } of panels) {
      expect([title, gridPos]).toEqual([title, { x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) }])
      expect([title, gridPos.x >= 0 && gridPos.w > 0 && gridPos.h > 0 && gridPos.x + gridPos.w <= 24]).toEqual([title, true])
    }
    const overlap = (a: Panel['gridPos'], b: Panel['gridPos']) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    for (const [i, a] of panels.entries())
      for (const b of panels.slice(i + 1)) expect([a.title, b.title, overlap(a.gridPos, b.gridPos)]).toEqual([a.title, b.title, false])
  })

  test('every panel and query reads the templated Prometheus data source, chosen at import or in the dashboard', () => {
    const variable = dashboard.templating.list.find((item) => item.type === 'datasource')
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' })
    const expected = { type: 'prometheus', uid: '${datasource}' }
    for (const panel of graphs) {
      expect([panel.title, panel.datasource]).toEqual([panel.title, expected])
      for (const target of panel.targets ?? []) expect([panel.title, target.datasource]).toEqual([panel.title, expected])
    }
    // No data source of someone's own Grafana left in the file.
    expect(text).not.toMatch(/"uid":\s*"(?!\$\{datasource\}|logstream-overview)[^"]*"/)
  })
})
