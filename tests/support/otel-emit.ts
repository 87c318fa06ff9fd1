import { SeverityNumber } from '@opentelemetry/api-logs'
import type { ExportResult } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs'

/** `exporter` with every export's result recorded: the SDK itself only logs a failed export. */
export function recorded(exporter: LogRecordExporter): { exporter: LogRecordExporter; results: ExportResult[] } {
  const results: ExportResult[] = []
  const wrapped: LogRecordExporter = {
    export: (logs, done) =>
      exporter.export(logs, (result) => {
        results.push(result)
        done(result)
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
  return { exporter: wrapped, results }
}

/**
 * Emits `count` records of `service`, numbered by the `seq` attribute, through a real batch processor and
 * `exporter`, then flushes and shuts down: resolves with every export's result, in order.
 */
export async function emitNumbered(exporter: LogRecordExporter, service: string, count: number, exportTimeoutMillis = 60_000): Promise<ExportResult[]> {
  const { exporter: recording, results } = recorded(exporter)
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    processors: [new BatchLogRecordProcessor({ exporter: recording, exportTimeoutMillis })],
  })
  const logger = provider.getLogger(service)
  for (let seq = 0; seq < count; seq++) logger.emit({ severityNumber: SeverityNumber.INFO, body: `record ${seq}`, attributes: { seq } })
  await provider.forceFlush()
  await provider.shutdown()
  return results
}
