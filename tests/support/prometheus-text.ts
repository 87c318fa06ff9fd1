/**
 * A small reader of the Prometheus text exposition format (what prom-client's registry.metrics() writes), for
 * tests that scrape a real /metrics: samples with their labels, and the TYPE of each metric family. Enough for
 * prom-client's output (no timestamps, label values without escaped quotes); python3-prometheus-client, the
 * reference parser, is not installed everywhere.
 */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Exposition {
  samples: Sample[]
  types: Map<string, string>
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice('# TYPE '.length).split(' ')
      types.set(name!, type!)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL)].map((label) => [label[1]!, label[2]!]))
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return { samples, types }
}

/** The samples named `name` whose labels include `labels`. */
export const samplesOf = (exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] =>
  exposition.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))

/** Their values summed; 0 when there is none. */
export const sumOf = (exposition: Exposition, name: string, labels: Record<string, string> = {}): number =>
  samplesOf(exposition, name, labels).reduce((sum, sample) => sum + sample.value, 0)
