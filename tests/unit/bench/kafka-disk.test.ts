import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { listeningInodes } from '../../../bench/kafka-broker-process.ts'
import { topicDiskBytes, topicPartitionDirs } from '../../../bench/kafka-topic-bytes.ts'

describe('the broker listening socket', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:2385 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 100 0 0 10 0',
    '   2: 0100007F:2384 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 31339 1 0000000000000000 20 4 30 10 -1',
  ].join('\n')

  test('is the LISTEN row on the port (9092 = 0x2384), not a connection to it', () => {
    expect(listeningInodes(table, 9092)).toEqual([31337])
    expect(listeningInodes(table, 9093)).toEqual([31338])
    expect(listeningInodes(table, 1234)).toEqual([])
  })

  test('a JVM listening on IPv6 with an IPv4-mapped address is found in tcp6', () => {
    const tcp6 = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   4: 0000000000000000FFFF00000100007F:2384 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10189 1 0000000088444ed7 100 0 0 10 0',
    ].join('\n')
    expect(listeningInodes(tcp6, 9092)).toEqual([10189])
  })
})

describe('topic bytes on disk', () => {
  test('partition folders are <topic>-<n> only', () => {
    expect(topicPartitionDirs(['bench.e2e.x-0', 'bench.e2e.x-1', 'bench.e2e.x.ceiling-0', 'bench.e2e.x-dlq', 'other-0'], 'bench.e2e.x')).toEqual([
      'bench.e2e.x-0',
      'bench.e2e.x-1',
    ])
  })

  test('segments are the *.log files; allocated counts every file', () => {
    const dir = mkdtempSync(`${tmpdir()}/topic-bytes-`)
    try {
      mkdirSync(`${dir}/t-0`)
      mkdirSync(`${dir}/t-1`)
      mkdirSync(`${dir}/t.ceiling-0`)
      writeFileSync(`${dir}/t-0/00000000000000000000.log`, Buffer.alloc(5000, 1))
      writeFileSync(`${dir}/t-0/00000000000000000000.index`, Buffer.alloc(100, 1))
      writeFileSync(`${dir}/t-1/00000000000000000000.log`, Buffer.alloc(3000, 1))
      writeFileSync(`${dir}/t.ceiling-0/00000000000000000000.log`, Buffer.alloc(9999, 1))
      const bytes = topicDiskBytes(dir, 't')
      expect(bytes.partitions).toBe(2)
      expect(bytes.segmentBytes).toBe(8000)
      expect(bytes.allocatedBytes).toBeGreaterThanOrEqual(8100)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
