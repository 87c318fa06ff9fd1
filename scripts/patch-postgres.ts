/**
 * Fixes porsager/postgres#1119 / #1181 in the installed driver (postgres 3.4.9; the upstream fixes,
 * #1120 and #1190, are not released): a statement that fails after sending some rows (a statement
 * timeout, a cancel, an error on a later row) leaves the connection's row counter where it stopped, so the
 * next query on that connection resolves with that many empty slots before its first row. The query API
 * cancels long statements on purpose, so without this a timeout is followed by wrong answers or a 500.
 * The counter is reset where every statement's result is reset: at ReadyForQuery.
 *
 * Run on every install (package.json postinstall; the Dockerfile runs it after its --ignore-scripts
 * install). Idempotent; fails loudly when the driver's source no longer has the line it patches, so an
 * upgrade is checked by hand (tests/integration/lib/db.test.ts reproduces the bug).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const MARKER = 'rows = 0 // porsager/postgres#1181'
const ANCHOR = '    result = new Result()\n    connectTimer.cancel()\n'
const PATCHED = `    result = new Result()\n    ${MARKER}\n    connectTimer.cancel()\n`
const root = join(import.meta.dir, '..', 'node_modules', 'postgres')
const builds = ['src', 'cjs/src', 'cf/src'].map((dir) => join(root, dir, 'connection.js')).filter(existsSync)

if (builds.length === 0) {
  console.error(`patch-postgres: no postgres driver under ${root}; run npm install first`)
  process.exit(1)
}
for (const file of builds) {
  const source = readFileSync(file, 'utf8')
  if (source.includes(MARKER)) continue
  if (source.split(ANCHOR).length !== 2) {
    console.error(`patch-postgres: ${file} does not hold ReadyForQuery's result reset once; check whether the installed version fixes #1181`)
    process.exit(1)
  }
  writeFileSync(file, source.replace(ANCHOR, PATCHED))
}
