/** One log in the list (time, level, service, host, highlighted message) and, opened, every field with its actions. */
import type { Log } from './api.ts'
import { copyText, h } from './dom.ts'
import { listTime } from './format.ts'
import { highlight } from './highlight.ts'
import { canExclude, type FacetAction } from './search-syntax.ts'

export interface RowActions {
  onValue(field: string, value: string, action: FacetAction): void
  /** The page URL that shows this log (in its context, opened). */
  logHref(log: Log): string
  traceHref(traceId: string): string
  /** Same-page navigation for a link (pushState), so that back returns here. */
  follow(event: Event, href: string): void
  announce(text: string): void
}

const detailId = (log: Log) => `log-${log.id}`

export function renderRow(log: Log, terms: readonly string[], actions: RowActions, options: { target?: boolean } = {}): HTMLLIElement {
  const level = log.level.toLowerCase()
  const message = highlight(log.message.length > 2000 ? `${log.message.slice(0, 2000)}…` : log.message, terms).map((segment) =>
    segment.mark ? h('mark', {}, segment.text) : segment.text,
  )
  const summary = h(
    'button',
    { type: 'button', className: 'summary', 'aria-expanded': 'false', 'aria-controls': detailId(log) },
    h('time', { dateTime: log.timestamp, title: log.timestamp }, listTime(log.timestamp)),
    h('span', { className: 'level' }, log.level),
    h('span', { className: 'service' }, log.service),
    h('span', { className: 'host' }, log.host ?? ''),
    h('span', { className: 'msg' }, ...message),
  )
  const row = h('li', { className: `row lvl-${level}${options.target ? ' target' : ''}`, 'data-id': log.id }, summary)
  summary.addEventListener('click', () => toggleRow(row, log, actions))
  return row
}

export function isOpen(row: HTMLElement): boolean {
  return row.querySelector('.summary')?.getAttribute('aria-expanded') === 'true'
}

export function toggleRow(row: HTMLElement, log: Log, actions: RowActions, open = !isOpen(row)): void {
  const summary = row.querySelector('.summary')!
  summary.setAttribute('aria-expanded', String(open))
  row.classList.toggle('open', open)
  row.querySelector('.detail')?.remove()
  if (open) row.append(renderDetail(log, actions))
}

function copyButton(label: string, text: () => string, actions: RowActions, what: string): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      className: 'copy',
      'aria-label': `Copy ${what}`,
      title: `Copy ${what}`,
      onclick: async () => {
        await copyText(text())
        actions.announce(`Copied ${what}`)
      },
    },
    label,
  )
}

function valueButtons(field: string, value: string, actions: RowActions): HTMLElement {
  return h(
    'span',
    { className: 'value-actions' },
    h(
      'button',
      {
        type: 'button',
        className: 'include',
        title: `Filter: ${field} = ${value}`,
        'aria-label': `Include ${field} ${value}`,
        onclick: () => actions.onValue(field, value, 'include'),
      },
      '+',
    ),
    canExclude(field)
      ? h(
          'button',
          {
            type: 'button',
            className: 'exclude',
            title: `Filter: ${field} ≠ ${value}`,
            'aria-label': `Exclude ${field} ${value}`,
            onclick: () => actions.onValue(field, value, 'exclude'),
          },
          '−',
        )
      : null,
  )
}

/** Metadata leaves (scalars) with their dotted paths; arrays are shown in the JSON only (the API does not search inside them). */
export function metadataLeaves(value: unknown, path: string[] = []): [string, string][] {
  if (value === null || typeof value !== 'object') return path.length > 0 ? [[path.join('.'), value === null ? 'null' : String(value)]] : []
  if (Array.isArray(value)) return []
  return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => metadataLeaves(item, [...path, key]))
}

function field(name: string, content: Node | string, ...extra: (Node | null)[]): HTMLTableRowElement {
  return h('tr', { 'data-field': name }, h('th', { scope: 'row' }, name), h('td', {}, h('span', { className: 'field-value' }, content), ...extra))
}

/** A field whose value is a block (message, metadata): its buttons above it, on the right. */
function blockField(name: string, content: Node, ...extra: Node[]): HTMLTableRowElement {
  return h('tr', { 'data-field': name }, h('th', { scope: 'row' }, name), h('td', {}, h('span', { className: 'block-actions' }, ...extra), content))
}

function renderDetail(log: Log, actions: RowActions): HTMLElement {
  const link = actions.logHref(log)
  const absolute = new URL(link, location.href).toString()
  const json = JSON.stringify(log, null, 2)
  const metadata = JSON.stringify(log.metadata, null, 2)
  const rows: HTMLTableRowElement[] = [
    field(
      'id',
      log.id,
      copyButton('copy', () => log.id, actions, 'id'),
    ),
    field(
      'timestamp',
      log.timestamp,
      copyButton('copy', () => log.timestamp, actions, 'timestamp'),
    ),
    field(
      'service',
      log.service,
      copyButton('copy', () => log.service, actions, 'service'),
      valueButtons('service', log.service, actions),
    ),
    field('level', log.level, valueButtons('level', log.level, actions)),
    field(
      'host',
      log.host ?? '—',
      log.host ? copyButton('copy', () => log.host!, actions, 'host') : null,
      log.host ? valueButtons('host', log.host, actions) : null,
    ),
    field(
      'trace_id',
      log.trace_id
        ? h(
            'a',
            { href: actions.traceHref(log.trace_id), className: 'trace', onclick: (event: Event) => actions.follow(event, actions.traceHref(log.trace_id!)) },
            log.trace_id,
          )
        : '—',
      log.trace_id ? copyButton('copy', () => log.trace_id!, actions, 'trace id') : null,
      log.trace_id ? valueButtons('trace_id', log.trace_id, actions) : null,
    ),
    field('span_id', log.span_id ?? '—', log.span_id ? copyButton('copy', () => log.span_id!, actions, 'span id') : null),
    field(
      'tags',
      log.tags.length > 0 ? h('span', {}, ...log.tags.map((tag) => h('span', { className: 'tag' }, tag, valueButtons('tags', tag, actions)))) : '—',
    ),
    field('ingested_at', log.ingested_at),
    blockField(
      'message',
      h('pre', { className: 'message field-value' }, log.message),
      copyButton('copy', () => log.message, actions, 'message'),
    ),
    blockField(
      'metadata',
      h('pre', { className: 'json field-value' }, metadata),
      copyButton('copy', () => metadata, actions, 'metadata'),
    ),
  ]
  const leaves = metadataLeaves(log.metadata)
  for (const [path, value] of leaves) rows.push(field(`attr.${path}`, value, valueButtons(`attr.${path}`, value, actions)))
  return h(
    'div',
    { className: 'detail', id: detailId(log) },
    h(
      'div',
      { className: 'actions' },
      h('a', { href: link, onclick: (event: Event) => actions.follow(event, link), className: 'context' }, 'Show context'),
      h(
        'a',
        { href: link, className: 'permalink', title: 'A link to this log (in its context)', onclick: (event: Event) => actions.follow(event, link) },
        'Link to this log',
      ),
      copyButton('Copy link', () => absolute, actions, 'link'),
      copyButton('Copy JSON', () => json, actions, 'log as JSON'),
      log.trace_id
        ? h('a', { href: actions.traceHref(log.trace_id), onclick: (event: Event) => actions.follow(event, actions.traceHref(log.trace_id!)) }, 'Open trace')
        : null,
    ),
    h('table', { className: 'fields' }, h('tbody', {}, ...rows)),
  )
}
