import { generateKey, type KeyRecord, type Scope } from '../../src/lib/auth/api-key.ts'

/** A new key and the record a service would hold for it (no database). */
export function testKey(name: string, scope: Scope): { key: string; record: KeyRecord } {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name, scope, hash } }
}

/** What `run` throws; fails the test when it throws nothing. */
export function refusal(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected a refusal')
}
