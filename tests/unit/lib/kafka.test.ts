import { describe, expect, test } from 'bun:test'
import { describeKafkaError, findKafkaError, isTopicAlreadyExists, topicReplication } from '../../../src/lib/kafka.ts'

/** Shaped like @platformatic/kafka's errors: MultipleErrors nest ResponseErrors nest ProtocolErrors. */
const protocol = Object.assign(new Error('The topic already exists.'), { apiId: 'TOPIC_ALREADY_EXISTS' })
const nested = Object.assign(new Error('Received response with error while executing API CreateTopics(v7)'), {
  errors: [Object.assign(new Error('Received response with error'), { errors: [protocol] })],
})
const multiple = Object.assign(new Error('Multiple errors'), { errors: [nested, Object.assign(new Error('ECONNREFUSED 127.0.0.1:1'), { errors: [] })] })

describe('kafka errors', () => {
  test('recognises "topic already exists" however deeply it is nested', async () => {
    const protocol = Object.assign(new Error('exists'), { apiId: 'TOPIC_ALREADY_EXISTS' })
    const nested = Object.assign(new Error('multiple'), { errors: [Object.assign(new Error('response'), { errors: [protocol] })] })
    expect(isTopicAlreadyExists(nested)).toBe(true)
    expect(isTopicAlreadyExists(new Error('other'))).toBe(false)
  })

  test('findKafkaError returns the first matching error, the outer one first', () => {
    expect(findKafkaError(multiple, (item) => item.message.startsWith('Received')) as Error | undefined).toBe(nested)
    expect(findKafkaError(multiple, (item) => item.apiId === 'TOPIC_ALREADY_EXISTS') as Error | undefined).toBe(protocol)
    expect(findKafkaError('not an error', () => true)).toBeUndefined()
  })

  test('describeKafkaError names the innermost causes, not the wrappers', () => {
    expect(describeKafkaError(multiple)).toBe('The topic already exists.; ECONNREFUSED 127.0.0.1:1')
    expect(describeKafkaError(new Error('plain'))).toBe('plain')
    expect(describeKafkaError('text')).toBe('text')
  })
})

describe('topicReplication', () => {
  test('three brokers or more: 3 copies, 2 of them in sync before a write is acknowledged', () => {
    expect(topicReplication(3)).toEqual({ factor: 3, minInsyncReplicas: 2 })
    expect(topicReplication(5)).toEqual({ factor: 3, minInsyncReplicas: 2 })
  })

  test("fewer brokers: the broker's default factor (-1), as with one broker before clusters", () => {
    expect(topicReplication(1)).toEqual({ factor: -1, minInsyncReplicas: 1 })
    expect(topicReplication(2)).toEqual({ factor: -1, minInsyncReplicas: 1 })
  })

  test('KAFKA_REPLICATION_FACTOR decides whatever the cluster has now; min ISR 2 from 3 copies', () => {
    expect(topicReplication(2, 3)).toEqual({ factor: 3, minInsyncReplicas: 2 })
    expect(topicReplication(3, 1)).toEqual({ factor: 1, minInsyncReplicas: 1 })
    expect(topicReplication(5, 2)).toEqual({ factor: 2, minInsyncReplicas: 1 })
    expect(topicReplication(5, 5)).toEqual({ factor: 5, minInsyncReplicas: 2 })
  })
})
