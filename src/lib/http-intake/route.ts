import type { LogStreamError } from '../errors.ts'
import type { AcceptOptions, Intake } from '../intake.ts'
import type { IngestProtocol } from '../metrics.ts'

/** What the HTTP intake listener hands a protocol adapter, and what an adapter is. */

export interface IntakeRequest {
  /** The body with its Content-Encoding undone. */
  body: Uint8Array
  contentType: string
  url: URL
  method: string
  headers: Headers
  accept: AcceptOptions
  /** The body limit, for protocols that decompress further themselves (Loki's snappy). */
  maxBodyBytes: number
  /**
   * Takes `bytes` more room in the intake's read budget for memory the adapter is about to use beyond the
   * body (decompressing it further); throws IngestOverloadedError when there is none. Given back with the rest.
   */
  hold(bytes: number): void
}

export interface Route {
  /** The protocol label of this route's ingest metrics. */
  protocol: IngestProtocol
  /** The method and path this adapter serves; `path` may match several paths. */
  matches(method: string, path: string): boolean
  /** False for routes that read no body (e.g. the Elasticsearch handshake). */
  readsBody: boolean
  handle(request: IntakeRequest, intake: Intake): Promise<Response>
  /** The protocol's own answer for a failure, decided from the error alone. */
  fail(error: LogStreamError, request: Pick<IntakeRequest, 'contentType' | 'url'>): Response
}
