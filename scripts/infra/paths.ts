import { resolve } from 'node:path'

export const repoRoot = resolve(import.meta.dir, '../..')
/** Everything the local infrastructure writes lives here (git-ignored). */
export const dataDir = resolve(process.env.LOGSTREAM_DATA_DIR ?? `${repoRoot}/.data`)
export const pidDir = `${dataDir}/pids`
