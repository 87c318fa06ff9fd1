/**
 * `bun src/ingest.ts`: the ingestion service (gRPC, OTLP, Loki push, Elasticsearch bulk, JSON lines:
 * validate, batch into Kafka, acknowledge once stored).
 */
import { loadConfig } from './lib/config.ts'
import { startIngestServer } from './lib/ingest-server.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'

let log = createLogger({ service: 'ingest' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'ingest' }, { level: config.logLevel })
  const service = await startIngestServer(config, { log })
  handleSignals(log, () => service.close())
} catch (error) {
  exitOnStartupError(log, error)
}
