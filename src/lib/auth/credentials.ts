import type { Scope } from './api-key.ts'
import type { Authenticator, Caller } from './key-ring.ts'

/**
 * Where each client puts its key, read the same way for every protocol (HTTP headers or gRPC metadata):
 *   - `Authorization: Bearer KEY`: OTLP exporters' `headers`, grpc-js metadata, curl, the log explorer.
 *   - `Authorization: Basic base64(user:KEY)`, any user: Promtail, Fluent Bit, Filebeat, rsyslog, pino-loki
 *     and winston-loki configure a password most easily.
 *   - `Authorization: ApiKey KEY`: what @elastic/elasticsearch sends for `auth: { apiKey: KEY }`; or
 *     `ApiKey base64(id:KEY)`, what Filebeat and Logstash send for `api_key: "id:KEY"`, any id.
 * Undefined when none is there; a malformed header counts as no key (the answer is the same 401).
 */
export function keyFromAuthorization(header: string | null | undefined): string | undefined {
  if (!header) return undefined
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header)
  if (!match) return undefined
  const scheme = match[1]!.toLowerCase()
  const value = match[2]!
  if (scheme === 'bearer') return value
  if (scheme === 'apikey') return value.startsWith('lsk_') ? value : password(value)
  return scheme === 'basic' ? password(value) : undefined
}

/** The part after the first colon of base64 `user:secret`, or undefined. */
function password(base64: string): string | undefined {
  const decoded = Buffer.from(base64, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined
}

/** What serves a request and knows its client's address: Bun's server (requestIP). */
export interface PeerSource {
  requestIP(request: Request): { address: string } | null
}

/** Where the failure throttle counts a client: the socket's address (never a header a client could set); 'unknown' in process. */
export function peerOf(request: Request, server: PeerSource | null | undefined): string {
  return server?.requestIP(request)?.address ?? 'unknown'
}

/** The caller presenting the key of an HTTP `request`, for `scope`: the authenticator's answer, or its 401/403/429. */
export function authenticateRequest(authenticator: Authenticator, request: Request, scope: Scope, peer: string): Caller {
  return authenticator.authenticate(keyFromAuthorization(request.headers.get('authorization')), scope, peer)
}
