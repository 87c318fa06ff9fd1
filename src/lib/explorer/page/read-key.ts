/**
 * The read key the page sends, when the server asks for one. It is asked for once, in the page's own dialog
 * (index.html #key-dialog), when an answer is 401 (or 403: a key that cannot read); it is kept in
 * sessionStorage, so for this tab until it is closed: never in the URL (it would end up in history, logs and
 * Referer), never in localStorage (it would outlive the session). Every call to the API goes through
 * fetchWithKey, which sends it as `Authorization: Bearer`; a key refused later (revoked) is forgotten and
 * asked for again. Requests waiting at the same time share one dialog.
 */
import { byId } from './dom.ts'

const STORED = 'logstream.read-key'

export function storedKey(): string | undefined {
  try {
    return sessionStorage.getItem(STORED) ?? undefined
  } catch {
    // Storage disabled: the key lives as long as the page (asked again after a reload).
    return memory
  }
}
let memory: string | undefined

function keep(key: string | undefined): void {
  memory = key
  try {
    if (key === undefined) sessionStorage.removeItem(STORED)
    else sessionStorage.setItem(STORED, key)
  } catch {}
}

/** The request headers with the key, when one is held. */
export function withKey(headers: Record<string, string>, key = storedKey()): Record<string, string> {
  return key ? { ...headers, authorization: `Bearer ${key}` } : headers
}

/**
 * What an answer means for the key it was sent with (`sent`; undefined: none) while `held` is the key held
 * now: "retry" when another key was given meanwhile (another request's dialog), "ask" when this key (or
 * none) was refused, "done" otherwise.
 */
export function afterAnswer(status: number, sent: string | undefined, held: string | undefined): 'retry' | 'ask' | 'done' {
  if (status !== 401 && status !== 403) return 'done'
  return held !== undefined && held !== sent ? 'retry' : 'ask'
}

/** The words of the dialog for a refusal: a first request, a key no longer valid, or one that cannot read. */
export function askReason(status: number, sent: string | undefined): string {
  if (status === 403) return 'That key cannot read logs (its scope is not read or admin). Give a read key.'
  if (sent) return 'That key was not accepted: it is unknown or has been revoked. Give a read key.'
  return 'This server needs an API key with read scope to show logs.'
}

let asking: Promise<string | undefined> | undefined

/** Shows the dialog (once, however many requests wait); the key given, or undefined when cancelled. */
function ask(reason: string): Promise<string | undefined> {
  asking ??= new Promise<string | undefined>((resolve) => {
    const dialog = byId<HTMLDialogElement>('key-dialog')
    const input = byId<HTMLInputElement>('key-input')
    byId('key-why').textContent = reason
    input.value = ''
    dialog.returnValue = ''
    dialog.addEventListener(
      'close',
      () => {
        const key = dialog.returnValue === 'ok' ? input.value.trim() : ''
        input.value = ''
        asking = undefined
        if (key) keep(key)
        resolve(key || undefined)
      },
      { once: true },
    )
    dialog.showModal()
    input.focus()
  })
  return asking
}

/**
 * fetch() with the key; on a refusal of it, forgets it, asks for another and sends again. The refused answer
 * is returned when the dialog is cancelled (or the request aborted meanwhile), for the caller to explain.
 */
export async function fetchWithKey(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  for (;;) {
    const sent = storedKey()
    const response = await fetch(url, { ...init, headers: withKey(init.headers ?? {}, sent) })
    const next = afterAnswer(response.status, sent, storedKey())
    if (next === 'done') return response
    if (next === 'retry') continue
    if (sent !== undefined) keep(undefined)
    if (init.signal?.aborted || (await ask(askReason(response.status, sent))) === undefined || init.signal?.aborted) return response
  }
}
