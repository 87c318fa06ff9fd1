import { describe, expect, test } from 'bun:test'
import { attributeDocuments, attributePaths } from '../../../src/lib/attribute-filters.ts'

describe('attribute filter conditions', () => {
  test('equality looks for the nested path and the literal dotted key, as a string and as the JSON value it spells', () => {
    const documents = (path: string[], value: string) => attributeDocuments({ parameter: 'attr.x', path, value, negate: false })
    expect(documents(['http', 'status'], '500')).toEqual([
      '{"http":{"status":"500"}}',
      '{"http":{"status":500}}',
      '{"http.status":"500"}',
      '{"http.status":500}',
    ])
    expect(documents(['retry'], 'true')).toEqual(['{"retry":"true"}', '{"retry":true}'])
    expect(documents(['n'], '12345678901234567890')).toEqual(['{"n":"12345678901234567890"}', '{"n":12345678901234567890}'])
    expect(documents(['n'], '007')).toEqual(['{"n":"007"}'])
    expect(documents(['n'], '1e99999')).toEqual(['{"n":"1e99999"}'])
    expect(documents(['we"ird'], 'a\\b"c')).toEqual(['{"we\\"ird":"a\\\\b\\"c"}'])
    for (const document of documents(['a.b', 'c'], '"}, "x": 1')) expect(JSON.parse(document)).toBeObject()
  })

  test('presence is a jsonpath with every key quoted, nested and literal', () => {
    expect(attributePaths({ parameter: 'attr.x', path: ['http', 'status'], negate: false })).toEqual(['$."http"."status"', '$."http.status"'])
    expect(attributePaths({ parameter: 'attr.x', path: ['a"b', '$c'], negate: false })).toEqual(['$."a\\"b"."$c"', '$."a\\"b.$c"'])
  })
})
