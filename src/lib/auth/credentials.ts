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
