/**
 * `npm test`: brings up the local infrastructure if it is not running, runs the whole suite with
 * `bun test`, and stops again only what it started. The exit code is bun test's.
 */
import { infraDown, infraUp } from './infra.ts'

const started = await infraUp()
// Integration tests talk to a real broker and database; a rebalance or a broker restart takes seconds.
// (Bun 1.4.5 ignores a timeout set in bunfig.toml, so it is passed here.)
const child = Bun.spawn([process.execPath, 'test', '--timeout', '60000', ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'inherit'] })
// Ctrl-C reaches bun test directly; we wait for it to finish, then clean up.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
const code = await child.exited
await infraDown(started)
process.exit(code)
