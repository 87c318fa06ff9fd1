import { QueryInvalidError } from '../../src/lib/errors.ts'

/** The QueryInvalidError `run` throws (anything else is rethrown; no error at all fails the test). */
export function queryRefusal(run: () => unknown): QueryInvalidError {
  try {
    run()
  } catch (error) {
    if (error instanceof QueryInvalidError) return error
    throw error
  }
  throw new Error('expected a QueryInvalidError')
}
