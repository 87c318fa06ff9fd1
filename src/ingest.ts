/** `bun src/ingest.ts`: the gRPC ingestion service (validate, batch into Kafka, acknowledge once stored). */
import { loadConfig } from './lib/config.ts'
import { startGrpcIngest } from './lib/grpc-ingest.ts'
import { exitOnStartupError, handleSignals } from './lib/lifecycle.ts'
import { createLogger } from './lib/log.ts'

let log = createLogger({ service: 'ingest' })
try {
  const config = loadConfig()
  log = createLogger({ service: 'ingest' }, { level: config.logLevel })
  const service = await startGrpcIngest(config, { log })
  handleSignals(log, () => service.close())
} catch (error) {
  exitOnStartupError(log, error)
}
