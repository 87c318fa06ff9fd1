/**
 * A batch given up because the consumer is stopping: nothing of it is committed, so Kafka re-delivers it
 * to whoever reads the partition next. It never leaves the consumer, so it is not one of errors.ts's codes.
 */
export class BatchAbandonedError extends Error {
  readonly code = 'BATCH_ABANDONED'
  constructor(cause?: unknown) {
    super('batch abandoned at shutdown; not committed, will be re-delivered', { cause })
    this.name = 'BatchAbandonedError'
  }
}
