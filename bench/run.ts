/**
 * `bun run bench [name…] [--quick]`: brings up the local infrastructure, runs every scenario in
 * bench/*.bench.ts (or the named ones), and writes bench/RESULTS.md and bench/results.json.
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { basename } from 'node:path'
import { Glob } from 'bun'
import { infraDown, infraUp } from '../scripts/infra.ts'
import type { BenchContext, Scenario, ScenarioResult } from './scenario.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.filter((arg) => !arg.startsWith('--'))
const outDir = import.meta.dir
const workDir = `${outDir}/.work`
mkdirSync(workDir, { recursive: true })
// Only a full run replaces bench/RESULTS.md and the charts it links; any other run writes beside RESULTS.partial.md.
const full = only.length === 0 && !quick

function progress(label: string, done: number, total: number): void {
  const width = 30
  const filled = Math.round((done / Math.max(total, 1)) * width)
  process.stderr.write(`\r${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done >= total ? '\n' : ''}`)
}

// A scenario is named by its file (bench/<name>.bench.ts). Only the named ones are imported, so one scenario
// runs even while another does not compile.
const files = [...new Glob('*.bench.ts').scanSync(outDir)].sort()
const unknown = only.filter((name) => !files.includes(`${name}.bench.ts`))
if (unknown.length > 0) {
  process.stderr.write(`no scenario ${unknown.join(', ')}; scenarios: ${files.map((file) => basename(file, '.bench.ts')).join(', ')}\n`)
  process.exit(2)
}
const scenarios: Scenario[] = []
for (const file of files) {
  if (only.length > 0 && !only.includes(basename(file, '.bench.ts'))) continue
  scenarios.push((await import(`./${file}`)).default as Scenario)
}

const started = await infraUp()
const context: BenchContext = { quick, workDir, reportDir: full ? outDir : workDir, progress }
const results: ScenarioResult[] = []
try {
  for (const scenario of scenarios) {
    process.stderr.write(`== ${scenario.name}\n`)
    const result = await scenario.run(context)
    results.push(result)
    process.stderr.write(`${result.markdown}\n\n`)
  }
} finally {
  await infraDown(started)
}

const versions = { bun: Bun.version, kafka: '4.4.0 (KRaft, Maven Central jars)', postgres: (await Bun.$`psql --version`.nothrow().text()).trim() }
const header = [
  '# LogStream benchmark results',
  '',
  `Run ${new Date().toISOString()} with \`bun run bench${only.map((name) => ` ${name}`).join('')}${quick ? ' --quick' : ''}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; Kafka, PostgreSQL and the services all on this one machine.`,
  `Versions: Bun ${versions.bun}, Kafka ${versions.kafka}, ${versions.postgres}.`,
  '',
].join('\n')
const body = results.map((result) => `## ${result.title}\n\n${result.markdown}\n`).join('\n')
if (full) {
  writeFileSync(`${outDir}/RESULTS.md`, `${header}\n${body}`)
  writeFileSync(`${outDir}/results.json`, `${JSON.stringify(Object.fromEntries(results.map((r) => [r.title, r.metrics])), null, 2)}\n`)
} else {
  writeFileSync(`${workDir}/RESULTS.partial.md`, `${header}\n${body}`)
  process.stderr.write(
    `partial run: written to ${workDir}/RESULTS.partial.md with its charts (bench/RESULTS.md and its charts are only written by a full run)\n`,
  )
}
