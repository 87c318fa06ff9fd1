/**
 * `bun src/ingest.ts`: the ingestion service (gRPC, OTLP, Loki push, Elasticsearch bulk, JSON lines:
 * validate, batch into Kafka, acknowledge once stored).
 */
import { loadConfig, openServiceNote, refuseOpenListeners } from './lib/config.ts'
import { startIngestServer } from './lib/ingest-server.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'

let log = createLogger({ service: 'ingest' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'ingest' }, { level: config.logLevel })
  // Every listener (gRPC, OTLP, HTTP intake) binds GRPC_HOST.
  refuseOpenListeners(config, [config.grpc.host])
  if (config.auth.mode === 'required')
    log.info('ingest.auth', { keys: 'required', scope: 'ingest', entriesPerSecond: config.auth.entriesPerSecond, bytesPerSecond: config.auth.bytesPerSecond })
  else
    log.info('ingest.auth', {
      keys: 'off',
      note: openServiceNote(config, config.grpc.host),
    })
  const service = await startIngestServer(config, { log })
  handleSignals(log, () => service.close())
} catch (error) {
  exitOnStartupError(log, error)
}
