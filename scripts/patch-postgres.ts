/**
 * Fixes two bugs of the installed driver (postgres 3.4.9) whose upstream fixes are not released:
 *
 * - porsager/postgres#1119 / #1181 (fixes #1120, #1190): a statement that fails after sending some rows (a
 *   statement timeout, a cancel, an error on a later row) leaves the connection's row counter where it
 *   stopped, so the next query on that connection resolves with that many empty slots before its first row.
 *   The query API cancels long statements on purpose, so without this a timeout is followed by wrong answers
 *   or a 500. The counter is reset where every statement's result is reset: at ReadyForQuery.
 * - porsager/postgres#1173 (fix #1183): a `COPY … FROM STDIN` the server refuses after the writable was
 *   ended (a duplicate key, a malformed row) never settles the writable, so `end()` waits forever and a
 *   transaction around it never rolls back. The consumer COPYs every batch first (src/lib/log-writer.ts)
 *   and must see that refusal. The pending final callback now gets the server's error.
 *
 * Run on every install (package.json postinstall; the Dockerfile runs it after its --ignore-scripts
 * install). Idempotent; fails loudly when the driver's source no longer has a line it patches, so an
 * upgrade is checked by hand (tests/integration/lib/db.test.ts reproduces both bugs).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

interface Patch {
  issue: string
  /** Present once the patch is applied. */
  marker: string
  /** The unpatched source, which must occur exactly once. */
  anchor: string
  patched: string
}

const rowCounterMarker = 'rows = 0 // porsager/postgres#1181'
const copyErrorMarker = 'final && (final(err), final = null) // porsager/postgres#1173'
const patches: Patch[] = [
  {
    issue: "#1181: ReadyForQuery's result reset",
    marker: rowCounterMarker,
    anchor: '    result = new Result()\n    connectTimer.cancel()\n',
    patched: `    result = new Result()\n    ${rowCounterMarker}\n    connectTimer.cancel()\n`,
  },
  {
    issue: "#1173: errored()'s stream clean-up",
    marker: copyErrorMarker,
    anchor: '    stream && (stream.destroy(err), stream = null)\n    query && queryError(query, err)\n',
    patched: `    stream && (stream.destroy(err), stream = null)\n    ${copyErrorMarker}\n    query && queryError(query, err)\n`,
  },
]

const root = join(import.meta.dir, '..', 'node_modules', 'postgres')
const builds = ['src', 'cjs/src', 'cf/src'].map((dir) => join(root, dir, 'connection.js')).filter(existsSync)

if (builds.length === 0) {
  console.error(`patch-postgres: no postgres driver under ${root}; run npm install first`)
  process.exit(1)
}
for (const file of builds) {
  let source = readFileSync(file, 'utf8')
  for (const patch of patches) {
    if (source.includes(patch.marker)) continue
    if (source.split(patch.anchor).length !== 2) {
      console.error(`patch-postgres: ${file} does not hold ${patch.issue} once; check whether the installed version fixes ${patch.issue.split(':')[0]}`)
      process.exit(1)
    }
    source = source.replace(patch.anchor, patch.patched)
  }
  writeFileSync(file, source)
}
