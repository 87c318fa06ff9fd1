import { describe, expect, test } from 'bun:test'
import { hostOf } from '../../../src/lib/host-port.ts'

describe('hostOf', () => {
  test("addresses without their port: IPv4, IPv6 with or without brackets, a name, and grpc-js's 'unknown'", () => {
    expect(hostOf('127.0.0.1:51234')).toBe('127.0.0.1')
    expect(hostOf('::ffff:10.0.0.7:443')).toBe('::ffff:10.0.0.7')
    expect(hostOf('[::1]:50051')).toBe('::1')
    expect(hostOf('logs.example.com:50051')).toBe('logs.example.com')
    expect(hostOf('unknown')).toBe('unknown')
  })
})
