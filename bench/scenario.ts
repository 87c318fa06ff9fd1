/**
 * One benchmark scenario: `bun run bench` runs each in turn against the local stack and writes their
 * sections into bench/RESULTS.md. A scenario measures, it never asserts.
 */
export interface BenchContext {
  /** Short runs for a smoke check (`bun run bench --quick`); full-size otherwise. */
  quick: boolean
  /** Folder for scratch files (git-ignored) and for images the report links. */
  workDir: string
  outDir: string
  progress(label: string, done: number, total: number): void
}

export interface ScenarioResult {
  /** Section title in RESULTS.md. */
  title: string
  /** Markdown body: tables of numbers, the ceiling beside ours as a ratio, and the settings used. */
  markdown: string
  /** Headline numbers, also written to bench/results.json for charts and comparisons across runs. */
  metrics: Record<string, number>
}

export interface Scenario {
  name: string
  run(context: BenchContext): Promise<ScenarioResult>
}
