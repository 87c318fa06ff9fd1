import { readFileSync } from 'node:fs'
import type { Config } from './config.ts'
import { ConfigError } from './errors.ts'

/** A listener's certificate chain and private key (PEM), as read at start. */
export interface TlsFiles {
  cert: Buffer
  key: Buffer
}

/**
 * The files config.tls names, read once at start (a renewed certificate takes a restart), or undefined
 * when TLS is not configured. An unreadable file is a ConfigError naming its variable.
 */
export function readTlsFiles(tls: Config['tls']): TlsFiles | undefined {
  if (tls.certFile === undefined || tls.keyFile === undefined) return undefined
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new ConfigError(variable, `cannot read ${path}: ${(error as Error).message}`)
    }
  }
  return { cert: read('TLS_CERT_FILE', tls.certFile), key: read('TLS_KEY_FILE', tls.keyFile) }
}
