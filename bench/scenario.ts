/**
 * One benchmark scenario: `bun run bench` runs each in turn against the local stack and writes their
 * sections into bench/RESULTS.md. A scenario measures, it never asserts.
 */
export interface BenchContext {
  /** Short runs for a smoke check (`bun run bench --quick`); full-size otherwise. */
  quick: boolean
  /** Folder for scratch files (bench/.work, git-ignored). */
  workDir: string
  /**
   * Folder of the report this run writes, where images it links go: bench/ (RESULTS.md) for a full run,
   * bench/.work (RESULTS.partial.md) for a partial or --quick one, so those never overwrite the committed charts.
   */
  reportDir: string
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
