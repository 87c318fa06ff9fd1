import { withTimeout } from './timeout.ts'

/**
 * GET /health for every HTTP service (the query API, the consumer): each dependency is one named check,
 * all run at once, each given `timeoutMs`, since a dependency that never answers (a network blackhole) must
 * make the answer 503, not hang the orchestrator's probe. 200 when every check answered, else 503 with the
 * body naming what failed. Needs no API key wherever it is served: it says nothing about the logs.
 */

/** Resolves when the dependency answers; its value is ignored. */
export type HealthCheck = () => Promise<unknown>

export type CheckResult = { status: 'up'; took_ms: number } | { status: 'down'; error: string }

export interface HealthBody {
  status: 'ok' | 'unavailable'
  checks: Record<string, CheckResult>
}

export interface HealthAnswer {
  status: 200 | 503
  body: HealthBody
}

const elapsed = (began: number) => Math.round((performance.now() - began) * 100) / 100

async function run(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const began = performance.now()
  try {
    // Through a promise, so a check that throws at once is a failed check too.
    await withTimeout(Promise.resolve().then(check), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`))
    return { status: 'up', took_ms: elapsed(began) }
  } catch (error) {
    return { status: 'down', error: error instanceof Error ? error.message : String(error) }
  }
}

export async function checkHealth(checks: Record<string, HealthCheck>, timeoutMs: number): Promise<HealthAnswer> {
  const names = Object.keys(checks)
  const results = await Promise.all(names.map((name) => run(checks[name]!, timeoutMs)))
  const healthy = results.every((result) => result.status === 'up')
  return {
    status: healthy ? 200 : 503,
    body: { status: healthy ? 'ok' : 'unavailable', checks: Object.fromEntries(names.map((name, i) => [name, results[i]!])) },
  }
}

/** The answer as a JSON Response, for services served by Bun.serve rather than Elysia. */
export const healthResponse = ({ status, body }: HealthAnswer): Response => Response.json(body, { status })
