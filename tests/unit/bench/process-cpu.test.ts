import { describe, expect, test } from 'bun:test'
import { parseProcStat, processCpuSeconds, readProcStat } from '../../../bench/process-cpu.ts'

// A real line's layout (proc(5)); utime 4, stime 43, cutime 16119, cstime 2056, starttime 4359.
const rest = 'S 1 2193 2193 0 -1 4194304 13491 1905654 0 0 4 43 16119 2056 20 0 1 0 4359 222445568 7342 18446744073709551615'

describe('parseProcStat', () => {
  test('reads pid, comm, ppid, CPU ticks and start time', () => {
    expect(parseProcStat(`2193 (postgres) ${rest}\n`)).toEqual({
      pid: 2193,
      comm: 'postgres',
      state: 'S',
      ppid: 1,
      utime: 4,
      stime: 43,
      cutime: 16119,
      cstime: 2056,
      starttime: 4359,
    })
  })

  test('counts fields from the last parenthesis: a command name may hold spaces and parentheses', () => {
    const stat = parseProcStat(`42 (my (odd) name) x) ${rest}`)
    expect(stat.comm).toBe('my (odd) name) x')
    expect(stat.utime).toBe(4)
    expect(stat.stime).toBe(43)
    expect(stat.ppid).toBe(1)
  })

  test('rejects what is not a stat line', () => {
    expect(() => parseProcStat('no parentheses here')).toThrow()
    expect(() => parseProcStat('1 (short) S 0')).toThrow()
  })

  test('reads this very process from /proc', () => {
    expect(readProcStat(process.pid)?.pid).toBe(process.pid)
    expect(processCpuSeconds(process.pid)).toBeGreaterThanOrEqual(0)
    expect(processCpuSeconds(2 ** 22 + 1)).toBeUndefined()
  })
})
