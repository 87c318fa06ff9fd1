import { httpError, RequestInvalidError } from '../errors.ts'
import { type Defaults, entryFromDocument, type Parsed } from '../protocols/document.ts'
import { acceptParsed, type Outcome } from '../protocols/outcome.ts'
import { retryHeaders } from '../retry-after.ts'
import type { Route } from './route.ts'

/**
 * JSON lines for curl and scripts (`POST /jsonlines`): one JSON object per line, mapped like
 * `bun run send` maps them. Query parameters `service`, `level`, `host` and `tags` fill what a line
 * does not say. 200 with the counts and every rejected line; 400 when no line can be stored.
 */

function defaults(url: URL): Defaults {
  const tags = url.searchParams
    .getAll('tags')
    .flatMap((value) => value.split(','))
    .map((tag) => tag.trim())
    .filter(Boolean)
  return {
    service: url.searchParams.get('service') ?? undefined,
    level: url.searchParams.get('level') ?? undefined,
    host: url.searchParams.get('host') ?? undefined,
    tags,
  }
}

function parseLines(body: Uint8Array, fill: Defaults): { parsed: Parsed[]; lines: number[] } {
  const parsed: Parsed[] = []
  const lines: number[] = []
  for (const [i, line] of Buffer.from(body).toString('utf8').split('\n').entries()) {
    if (!line.trim()) continue
    lines.push(i + 1)
    try {
      parsed.push(entryFromDocument(JSON.parse(line), fill))
    } catch (error) {
      parsed.push({ problem: { field: 'entry', reason: `not valid JSON: ${(error as Error).message}` } })
    }
  }
  return { parsed, lines }
}

function summary(outcome: Outcome, lines: number[]) {
  const rejections = outcome.problems.flatMap((problem, i) => (problem ? [{ line: lines[i]!, ...problem }] : []))
  return { accepted: outcome.accepted, rejected: outcome.rejected, rejections }
}

export const jsonLinesRoute: Route = {
  protocol: 'jsonlines',
  matches: (method, path) => method === 'POST' && path === '/jsonlines',
  readsBody: true,
  async handle(request, intake) {
    const { parsed, lines } = parseLines(request.body, defaults(request.url))
    if (parsed.length === 0) throw new RequestInvalidError('the body has no JSON lines')
    const outcome = await acceptParsed(intake, parsed, request.accept)
    const body = summary(outcome, lines)
    if (outcome.accepted > 0) return Response.json(body)
    const failure = new RequestInvalidError(
      `no line can be stored: line ${body.rejections[0]!.line}: ${body.rejections[0]!.field} ${body.rejections[0]!.reason}`,
    )
    return Response.json({ ...httpError(failure).body, ...body }, { status: 400 })
  },
  fail(error) {
    const { status, body } = httpError(error)
    return Response.json(body, { status, headers: retryHeaders(error) })
  },
}
