import { describe, expect, test } from 'bun:test'
import { hashKey, keyId } from '../../../../src/lib/auth/api-key.ts'
import { createKey, listKeys, liveKeys, revokeKey, setLimits, touchKeys } from '../../../../src/lib/auth/key-store.ts'
import { NotFoundError, QueryInvalidError } from '../../../../src/lib/errors.ts'
import { freshDatabase } from '../../../support/infra.ts'

const { sql } = await freshDatabase({ partitions: false })

const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`

describe('createKey', () => {
  test('stores the SHA-256 of the key, never the key; the record is what liveKeys loads', async () => {
    const name = unique('shipper')
    const { key, record } = await createKey(sql, { name, scope: 'ingest' })
    expect(keyId(key)).toBe(record.id)
    expect(record).toEqual({ id: record.id, name, scope: 'ingest', hash: hashKey(key) })
    const [row] = await sql`select * from api_keys where id = ${record.id}`
    expect(Buffer.from(row!.hash)).toEqual(hashKey(key))
    expect(JSON.stringify(row)).not.toContain(key.slice(17))
    expect((await liveKeys(sql)).find((live) => live.id === record.id)).toEqual(record)
  })

  test('keeps its own limits when given', async () => {
    const { record } = await createKey(sql, { name: unique('limited'), scope: 'read', entriesPerSecond: 5, bytesPerSecond: 5 * 1024 ** 3 })
    expect(record).toMatchObject({ entriesPerSecond: 5, bytesPerSecond: 5 * 1024 ** 3 })
    expect((await liveKeys(sql)).find((live) => live.id === record.id)).toEqual(record)
  })

  test('a name a live key has is refused (QueryInvalidError name), also when two create it at once; after revoke it is free again', async () => {
    const name = unique('twice')
    const results = await Promise.allSettled([createKey(sql, { name, scope: 'ingest' }), createKey(sql, { name, scope: 'read' })])
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1)
    const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toBeInstanceOf(QueryInvalidError)
    expect((refused.reason as QueryInvalidError).parameter).toBe('name')

    await revokeKey(sql, name)
    const again = await createKey(sql, { name, scope: 'admin' })
    expect((await liveKeys(sql)).filter((live) => live.name === name)).toEqual([again.record])
  })

  test('refuses a malformed name, an unknown scope and limits out of range before writing anything', async () => {
    const before = await listKeys(sql)
    const attempts: [Parameters<typeof createKey>[1], string][] = [
      [{ name: '', scope: 'ingest' }, 'name'],
      [{ name: 'has space', scope: 'ingest' }, 'name'],
      [{ name: 'x'.repeat(101), scope: 'ingest' }, 'name'],
      [{ name: unique('scope'), scope: 'write' as never }, 'scope'],
      [{ name: unique('zero'), scope: 'ingest', entriesPerSecond: 0 }, 'entries-per-second'],
      [{ name: unique('frac'), scope: 'ingest', entriesPerSecond: 1.5 }, 'entries-per-second'],
      [{ name: unique('bytes'), scope: 'ingest', bytesPerSecond: 10 }, 'bytes-per-second'],
    ]
    for (const [input, parameter] of attempts) {
      const failure = await createKey(sql, input).catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(QueryInvalidError)
      expect((failure as QueryInvalidError).parameter).toBe(parameter)
    }
    expect(await listKeys(sql)).toEqual(before)
  })
})

describe('listKeys', () => {
  test('shows every key, revoked ones after the live ones, with times and limits but no hash', async () => {
    const live = unique('a-live')
    const gone = unique('a-gone')
    const created = Date.now()
    await createKey(sql, { name: live, scope: 'read', entriesPerSecond: 7 })
    await createKey(sql, { name: gone, scope: 'ingest' })
    await revokeKey(sql, gone)
    const keys = await listKeys(sql)
    const liveInfo = keys.find((key) => key.name === live)!
    const goneInfo = keys.find((key) => key.name === gone)!
    expect(Object.keys(liveInfo).sort()).toEqual(['bytesPerSecond', 'createdAt', 'entriesPerSecond', 'id', 'lastUsedAt', 'name', 'revokedAt', 'scope'])
    expect(liveInfo).toMatchObject({ scope: 'read', entriesPerSecond: 7, bytesPerSecond: null, lastUsedAt: null, revokedAt: null })
    expect(Math.abs(liveInfo.createdAt.getTime() - created)).toBeLessThan(60_000)
    expect(goneInfo.revokedAt).toBeInstanceOf(Date)
    expect(keys.indexOf(goneInfo)).toBeGreaterThan(keys.indexOf(liveInfo))
    expect(keys.findIndex((key) => key.revokedAt !== null)).toBeGreaterThan(keys.findLastIndex((key) => key.revokedAt === null))
  })
})

describe('revokeKey', () => {
  test('takes the key out of liveKeys and keeps its row; revoking again, or an unknown name, is NotFoundError', async () => {
    const name = unique('revoked')
    const { record } = await createKey(sql, { name, scope: 'ingest' })
    const revoked = await revokeKey(sql, name)
    expect(revoked).toMatchObject({ id: record.id, name })
    expect(revoked.revokedAt).toBeInstanceOf(Date)
    expect((await liveKeys(sql)).some((live) => live.id === record.id)).toBe(false)
    expect((await listKeys(sql)).some((key) => key.id === record.id)).toBe(true)
    await expect(revokeKey(sql, name)).rejects.toBeInstanceOf(NotFoundError)
    await expect(revokeKey(sql, unique('never'))).rejects.toBeInstanceOf(NotFoundError)
  })
})

describe('setLimits', () => {
  test('sets one limit and leaves the other; null returns a limit to the default', async () => {
    const name = unique('limits')
    const { record } = await createKey(sql, { name, scope: 'ingest', entriesPerSecond: 10, bytesPerSecond: 4096 })
    expect(await setLimits(sql, name, { entriesPerSecond: 20 })).toMatchObject({ entriesPerSecond: 20, bytesPerSecond: 4096 })
    expect(await setLimits(sql, name, { bytesPerSecond: null })).toMatchObject({ entriesPerSecond: 20, bytesPerSecond: null })
    expect((await liveKeys(sql)).find((live) => live.id === record.id)).toEqual({ ...record, entriesPerSecond: 20, bytesPerSecond: undefined })
    expect('bytesPerSecond' in (await liveKeys(sql)).find((live) => live.id === record.id)!).toBe(false)
  })

  test('an unknown or revoked name is NotFoundError; no limit, or one out of range, is QueryInvalidError', async () => {
    const name = unique('nolimits')
    await createKey(sql, { name, scope: 'ingest' })
    await expect(setLimits(sql, name, {})).rejects.toBeInstanceOf(QueryInvalidError)
    await expect(setLimits(sql, name, { entriesPerSecond: -1 })).rejects.toBeInstanceOf(QueryInvalidError)
    await expect(setLimits(sql, unique('never'), { entriesPerSecond: 1 })).rejects.toBeInstanceOf(NotFoundError)
    await revokeKey(sql, name)
    await expect(setLimits(sql, name, { entriesPerSecond: 1 })).rejects.toBeInstanceOf(NotFoundError)
  })
})

describe('touchKeys', () => {
  test('sets last used on the keys named, and never moves it back', async () => {
    const used = await createKey(sql, { name: unique('used'), scope: 'ingest' })
    const also = await createKey(sql, { name: unique('also'), scope: 'read' })
    const idle = await createKey(sql, { name: unique('idle'), scope: 'read' })
    const at = new Date('2026-01-02T03:04:05.678Z')
    await touchKeys(sql, [used.record.id, also.record.id], at)
    await touchKeys(sql, [used.record.id], new Date('2026-01-01T00:00:00Z'))
    await touchKeys(sql, [], new Date())
    const keys = await listKeys(sql)
    const lastUsed = (id: string) => keys.find((key) => key.id === id)!.lastUsedAt
    expect(lastUsed(used.record.id)).toEqual(at)
    expect(lastUsed(also.record.id)).toEqual(at)
    expect(lastUsed(idle.record.id)).toBeNull()
  })
})
