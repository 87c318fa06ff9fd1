import { Elysia, t } from 'elysia'
import type { Sql } from '../db.ts'
import type { Logger } from '../log.ts'
import { parseSearch } from '../log-search.ts'
import { ContextLimits, logContext, parseContextParams, parseLogId } from './context.ts'
import { ExportFormats, ExportLimits, ExportParameters, exportFilename, openExport, parseExportParams } from './export.ts'

export interface ContextExportOptions {
  sql: Sql
  log?: Logger
}

/**
 * GET /query/:id/context and GET /export. Both read the raw query string themselves (their own parameters
 * first, the filter to parseSearch); errors are thrown, and the app's onError answers them.
 */
export function contextExportRoutes({ sql, log }: ContextExportOptions) {
  return new Elysia({ name: 'query.context-export' })
    .get(
      // The router keeps one parameter name per position, and /query/:trace_id owns this one: the segment
      // holds a log id all the same, and errors name it `id`.
      '/query/:trace_id/context',
      async ({ params, request }) => {
        const id = parseLogId(params.trace_id)
        const options = parseContextParams(new URL(request.url).searchParams)
        return logContext(sql, id, options)
      },
      {
        params: t.Object({ trace_id: t.String({ description: 'the id of a log from /query (not a trace id; see the route)' }) }),
        detail: {
          summary: 'The logs around one log, oldest first',
          description:
            `before / after (0 to ${ContextLimits.max}, default ${ContextLimits.default}) logs of the same service (same_host=true: and host), ` +
            'ordered by (timestamp, kafka partition, offset). 404 for an unknown id, 400 for a malformed one.',
        },
      },
    )
    .get(
      '/export',
      async ({ request }) => {
        const { format, limit, search } = parseExportParams(new URL(request.url).searchParams)
        // Named to parseSearch only so that its unknown-parameter 400 lists them; they are already taken out.
        const stream = await openExport(sql, parseSearch(search, { extra: ExportParameters }), { format, limit, log })
        return new Response(stream, {
          headers: {
            'content-type': ExportFormats[format].contentType,
            'content-disposition': `attachment; filename="${exportFilename(format)}"`,
            'cache-control': 'no-store',
          },
        })
      },
      {
        detail: {
          summary: 'Every log matching a filter, streamed as NDJSON or CSV, newest first',
          description:
            `The /query filters; format=ndjson (default) or csv; limit 1 to ${ExportLimits.limitMax} (default ${ExportLimits.limitDefault}). ` +
            'A failure after streaming began ends NDJSON with a line {"error":…} and aborts a CSV response.',
        },
      },
    )
}
