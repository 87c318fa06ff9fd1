import { describe, expect, test } from 'bun:test'
import { classifyPostgresProcess } from '../../../bench/postgres-cpu.ts'

const titles: Record<number, string> = {
  100: 'postgres: 15/main: postgres logstream_bench_e2e 127.0.0.1(59410) INSERT',
  200: 'postgres: 15/main: postgres logstream_test_21911 127.0.0.1(59411) idle',
}
const titleOf = (pid: number) => titles[pid]

describe('classifyPostgresProcess', () => {
  test('a backend of our database, by the database word in its title', () => {
    expect(classifyPostgresProcess(titles[100]!, 'logstream_bench_e2e', titleOf)).toBe('database')
    expect(classifyPostgresProcess('postgres: 15/main: autovacuum worker logstream_bench_e2e', 'logstream_bench_e2e', titleOf)).toBe('database')
  })

  test('another database, even one whose name starts like ours', () => {
    expect(classifyPostgresProcess(titles[200]!, 'logstream_bench_e2e', titleOf)).toBe('other')
    expect(classifyPostgresProcess('postgres: postgres logstream_bench_e2e_old [local] idle', 'logstream_bench_e2e', titleOf)).toBe('other')
  })

  test('shared background processes', () => {
    for (const name of ['checkpointer', 'background writer', 'walwriter', 'autovacuum launcher', 'logical replication launcher']) {
      expect(classifyPostgresProcess(`postgres: 15/main: ${name} `, 'logstream_bench_e2e', titleOf)).toBe('server')
    }
  })

  test('a parallel worker belongs to its leader', () => {
    expect(classifyPostgresProcess('postgres: 15/main: parallel worker for PID 100', 'logstream_bench_e2e', titleOf)).toBe('database')
    expect(classifyPostgresProcess('postgres: 15/main: parallel worker for PID 200', 'logstream_bench_e2e', titleOf)).toBe('other')
    expect(classifyPostgresProcess('postgres: 15/main: parallel worker for PID 300', 'logstream_bench_e2e', titleOf)).toBe('other')
  })

  test('a backend still showing the postmaster command line is not ours yet', () => {
    expect(classifyPostgresProcess('/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main', 'logstream_bench_e2e', titleOf)).toBe('other')
  })
})
