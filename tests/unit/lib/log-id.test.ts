import { describe, expect, test } from 'bun:test'
import { formatLogId, logIdText, parseLogId } from '../../../src/lib/log-id.ts'
import { queryRefusal } from '../../support/query-refusal.ts'

const invalid = (run: () => unknown) => queryRefusal(run).parameter

describe('formatLogId', () => {
  test('is <kafka partition>-<kafka offset>-<the UTC time as 20 digits>', () => {
    const row = { timestamp: '2026-11-27T16:25:47.094001Z', kafka_partition: 2, kafka_offset: 81723n }
    expect(formatLogId(row)).toBe('2-81723-20261127162547094001')
  })
})

describe('parseLogId', () => {
  test('reads the id /query returns back into its time and Kafka position', () => {
    expect(parseLogId('2-81723-20261127162547094001')).toEqual({ timestamp: '2026-11-27T16:25:47.094001Z', partition: 2, offset: '81723' })
    expect(parseLogId('0-0-00010101000000000000')).toEqual({ timestamp: '0001-01-01T00:00:00.000000Z', partition: 0, offset: '0' })
  })

  test('still reads ids of the older form, <kafka partition>-<kafka offset>, without a time', () => {
    expect(parseLogId('2-81723')).toEqual({ partition: 2, offset: '81723' })
    expect(parseLogId('0-0')).toEqual({ partition: 0, offset: '0' })
    expect(parseLogId('2147483647-9223372036854775806')).toEqual({ partition: 2_147_483_647, offset: '9223372036854775806' })
  })

  test('gives back the text it read, in either form', () => {
    for (const id of ['2-81723-20261127162547094001', '2-81723']) expect(logIdText(parseLogId(id))).toBe(id)
  })

  test('anything else is a 400 naming id', () => {
    for (const id of [
      '',
      'abc',
      '2',
      '2-',
      '-2',
      '2--1',
      '02-1',
      '2-01',
      '1-2-3',
      ' 1-2',
      '2147483648-1',
      '1-9223372036854775807',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      // a time of 19 or 21 digits, a month 13, a 30 February, a time before the partition
      '1-2-2026112716254709400',
      '1-2-202611271625470940011',
      '1-2-20261327162547094001',
      '1-2-20260230162547094001',
      '20261127162547094001-1-2',
    ])
      expect({ id, parameter: invalid(() => parseLogId(id)) }).toEqual({ id, parameter: 'id' })
  })
})
