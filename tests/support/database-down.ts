import { connect } from '../../src/lib/db.ts'
import { createQueryApp } from '../../src/lib/query-app.ts'

/** What the query API answers on `path` when its database cannot be reached (nothing listens on port 1). */
export async function answerWithDatabaseDown(path: string): Promise<{ status: number; error: string }> {
  const down = connect('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeout: 2 })
  try {
    const response = await createQueryApp({ sql: down }).handle(new Request(`http://localhost${path}`))
    return { status: response.status, error: ((await response.json()) as { error: string }).error }
  } finally {
    await down.end()
  }
}
