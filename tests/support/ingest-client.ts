import * as grpc from '@grpc/grpc-js'
import { decodeIngestResponse, type IngestResponse, ingestService, RESPONSE_TRAILER, type WireLogEntry } from '../../src/lib/proto.ts'

/** A plain grpc-js client of logstream.LogIngestion, as any service sending logs would use it. */
export type IngestClient = grpc.Client & {
  Ingest(
    request: { logs: WireLogEntry[] },
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: IngestResponse) => void,
  ): grpc.ClientUnaryCall
}

const IngestClientConstructor = grpc.makeClientConstructor(ingestService, 'logstream.LogIngestion')

export function ingestClient(port: number, options: object = {}): IngestClient {
  return new IngestClientConstructor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as IngestClient
}

export interface IngestOutcome {
  response?: IngestResponse
  error?: grpc.ServiceError
  /** Decoded from the RESPONSE_TRAILER of an INVALID_ARGUMENT reply. */
  described?: IngestResponse
}

export function ingest(client: IngestClient, logs: WireLogEntry[], deadlineMs = 15_000): Promise<IngestOutcome> {
  return new Promise((resolve) => {
    client.Ingest({ logs }, { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (!error) return resolve({ response })
      const trailer = error.metadata?.get(RESPONSE_TRAILER)[0]
      const described = trailer ? decodeIngestResponse(trailer as Buffer) : undefined
      resolve({ error, described })
    })
  })
}
