/** The field sidebar: top values with counts from GET /facets. Click includes a value, alt-click (or −) excludes it. */
import type { FacetsAnswer } from './api.ts'
import { h } from './dom.ts'
import { count as formatCount } from './format.ts'
import { canExclude, type FacetAction, type Filters } from './search-syntax.ts'

export const FacetFields = ['service', 'level', 'host', 'tags'] as const

const included = (filters: Filters, field: string, value: string): boolean => {
  if (field === 'service' || field === 'host') return filters[field] === value
  if (field === 'level') return filters.levels?.length === 1 && filters.levels[0] === value.toLowerCase()
  if (field === 'tags') return filters.tags.includes(value)
  return false
}

export function renderFacets(
  container: HTMLElement,
  answer: FacetsAnswer,
  filters: Filters,
  onValue: (field: string, value: string, action: FacetAction) => void,
): void {
  const sections = FacetFields.map((field) => {
    const facet = answer.fields[field]
    if (!facet) return null
    // Estimated counts (a sample of a large range, see GET /facets) read as such.
    const count = (n: number) => (facet.approximate ? `≈${formatCount(n)}` : formatCount(n))
    const items = facet.values.map(({ value, count: n }) => {
      if (value === null)
        return h('li', { className: 'facet none' }, h('span', { className: 'value' }, '(no host)'), h('span', { className: 'count' }, count(n)))
      const label = field === 'level' ? value.toLowerCase() : value
      const exclude = canExclude(field)
      return h(
        'li',
        { className: `facet${field === 'level' ? ` lvl-${label}` : ''}` },
        h(
          'button',
          {
            type: 'button',
            className: 'value',
            'data-field': field,
            'data-value': value,
            'aria-pressed': included(filters, field, value) ? 'true' : 'false',
            title: exclude ? `Show only ${field} ${label} (alt-click: exclude it)` : `Show only ${field} ${label}`,
            onclick: (event: Event) => onValue(field, value, (event as MouseEvent).altKey ? 'exclude' : 'include'),
          },
          h('span', { className: 'name' }, label),
          h('span', { className: 'count' }, count(n)),
        ),
        exclude
          ? h(
              'button',
              {
                type: 'button',
                className: 'exclude',
                'aria-label': `Exclude ${field} ${label}`,
                title: 'Exclude',
                onclick: () => onValue(field, value, 'exclude'),
              },
              '−',
            )
          : null,
      )
    })
    const rest =
      facet.other > 0
        ? h('li', { className: 'facet other' }, h('span', { className: 'value' }, 'other values'), h('span', { className: 'count' }, count(facet.other)))
        : null
    return h(
      'section',
      { className: 'facet-field', 'aria-labelledby': `facet-${field}` },
      h('h2', { id: `facet-${field}`, title: facet.approximate ? 'counts estimated from a sample' : '' }, field),
      items.length > 0 ? h('ul', {}, ...items, rest) : h('p', { className: 'muted' }, 'none'),
    )
  })
  container.replaceChildren(h('h2', { className: 'sr-only' }, 'Fields'), ...sections.filter((section) => section !== null))
}
