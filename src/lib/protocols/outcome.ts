import { type AcceptOptions, type Intake, NoValidLogsError } from '../intake.ts'
import type { Violation } from '../log-entry.ts'
import type { Rejection } from '../proto.ts'
import type { Parsed } from './document.ts'

/** What became of each entry of a request, by its position in the request. */
export interface Outcome {
  accepted: number
  rejected: number
  /** One per parsed item: undefined when stored, else why not. */
  problems: (Violation | undefined)[]
}

/**
 * The one accept path for protocols whose parser may already have refused some items: the rest go
 * through `intake.accept` (validation, batching, Kafka's acknowledgement), and its rejections are mapped
 * back to the request's own positions. Resolves only once Kafka holds every entry counted as accepted.
 * A request with nothing valid resolves with everything rejected (each protocol decides how to say so);
 * overload, shutdown and Kafka failures are thrown as the intake throws them.
 */
export async function acceptParsed(intake: Intake, parsed: Parsed[], options: AcceptOptions): Promise<Outcome> {
  const problems: (Violation | undefined)[] = parsed.map((item) => ('problem' in item ? item.problem : undefined))
  const positions: number[] = []
  const entries = []
  for (const [position, item] of parsed.entries()) {
    if ('entry' in item) {
      positions.push(position)
      entries.push({ input: item.entry })
    }
  }
  // Counted here, before accept: these never reach the intake, whatever becomes of the rest.
  if (entries.length < parsed.length) intake.refused?.(parsed.length - entries.length)
  if (entries.length > 0) {
    let rejections: Rejection[]
    try {
      rejections = (await intake.accept(entries, options)).rejections
    } catch (error) {
      if (!(error instanceof NoValidLogsError)) throw error
      rejections = error.response.rejections
    }
    for (const { index, field, reason } of rejections) problems[positions[index]!] = { field, reason }
  }
  const rejected = problems.filter(Boolean).length
  return { accepted: parsed.length - rejected, rejected, problems }
}

/** "2 of 5 logs rejected: logs[1].level …; …": the text protocols put in their error message. */
export function describeProblems(outcome: Outcome, noun = 'logs', shown = 3): string {
  const listed: string[] = []
  for (const [position, problem] of outcome.problems.entries()) {
    if (!problem) continue
    if (listed.length === shown) break
    listed.push(`${noun}[${position}].${problem.field} ${problem.reason}`)
  }
  const more = outcome.rejected > listed.length ? `; and ${outcome.rejected - listed.length} more` : ''
  return `${outcome.rejected} of ${outcome.problems.length} ${noun} rejected: ${listed.join('; ')}${more}`
}
