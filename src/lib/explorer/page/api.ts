/** Calls to the query API, with its error bodies ({"error","message","parameter"}) turned into ApiError. */
import type { LogView } from '../../log-rows.ts'
import type { HistogramAnswer } from './histogram-layout.ts'
import { fetchWithKey } from './read-key.ts'

/** One log as every endpoint returns it: the server's own type (a type-only import, so nothing of it is bundled). */
export type Log = LogView

export interface QueryAnswer {
  logs: Log[]
  pagination: { limit: number; has_more: boolean; next_cursor: string | null }
}

export interface TraceAnswer {
  trace_id: string
  logs: Log[]
  pagination: { truncated: boolean }
}

export interface ContextAnswer {
  log: Log
  before: Log[]
  after: Log[]
  truncated: boolean
}

export interface FacetsAnswer {
  fields: Record<string, { values: { value: string | null; count: number }[]; other: number; approximate?: boolean }>
  total: number
}

export type { HistogramAnswer }

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    readonly parameter?: string,
  ) {
    super(message)
  }
}

/** The API's error body ({"error","message","parameter"}) of a failed answer, as an ApiError. */
export async function apiError(response: Response, path: string): Promise<ApiError> {
  const body = ((await response.json().catch(() => undefined)) ?? {}) as { error?: string; message?: string; parameter?: string }
  return new ApiError(body.message ?? `${path} answered ${response.status}`, response.status, body.error, body.parameter)
}

export async function getJson<T>(path: string, params: URLSearchParams | undefined, signal?: AbortSignal): Promise<T> {
  const query = params?.toString()
  const response = await fetchWithKey(query ? `${path}?${query}` : path, { signal, headers: { accept: 'application/json' } })
  if (!response.ok) throw await apiError(response, path)
  const text = await response.text()
  try {
    return (text ? JSON.parse(text) : undefined) as T
  } catch {
    return undefined as T
  }
}
