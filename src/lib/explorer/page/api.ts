/** Calls to the query API, with its error bodies ({"error","message","parameter"}) turned into ApiError. */
import type { LogView } from '../../log-rows.ts'
import type { HistogramAnswer } from './histogram-layout.ts'

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

export async function getJson<T>(path: string, params: URLSearchParams | undefined, signal?: AbortSignal): Promise<T> {
  const query = params?.toString()
  const response = await fetch(query ? `${path}?${query}` : path, { signal, headers: { accept: 'application/json' } })
  const text = await response.text()
  let body: unknown
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = undefined
  }
  if (!response.ok) {
    const error = (body ?? {}) as { error?: string; message?: string; parameter?: string }
    throw new ApiError(error.message ?? `${path} answered ${response.status}`, response.status, error.error, error.parameter)
  }
  return body as T
}
