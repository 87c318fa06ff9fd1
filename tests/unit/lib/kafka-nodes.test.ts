import { describe, expect, test } from 'bun:test'
import { localKafkaNodes, portProblems } from '../../../src/lib/kafka-nodes.ts'

describe('localKafkaNodes', () => {
  test('one node keeps the single broker ports', () => {
    expect(localKafkaNodes(1, 9092, 9093)).toEqual([{ nodeId: 1, port: 9092, controllerPort: 9093 }])
  })

  test('three nodes listen two ports apart: brokers 9092, 9094, 9096, controllers 9093, 9095, 9097', () => {
    expect(localKafkaNodes(3, 9092, 9093)).toEqual([
      { nodeId: 1, port: 9092, controllerPort: 9093 },
      { nodeId: 2, port: 9094, controllerPort: 9095 },
      { nodeId: 3, port: 9096, controllerPort: 9097 },
    ])
  })

  test('overridden base ports move every node', () => {
    expect(localKafkaNodes(3, 19092, 29092).map((node) => [node.port, node.controllerPort])).toEqual([
      [19092, 29092],
      [19094, 29094],
      [19096, 29096],
    ])
  })
})

describe('portProblems', () => {
  test('the default layouts have none', () => {
    expect(portProblems(localKafkaNodes(1, 9092, 9093))).toEqual([])
    expect(portProblems(localKafkaNodes(3, 9092, 9093))).toEqual([])
  })

  test('a controller port on another node broker port is named', () => {
    expect(portProblems(localKafkaNodes(3, 9092, 9094))).toEqual(['node 2 would reuse port 9094', 'node 3 would reuse port 9096'])
  })

  test('a node past 65535 is named', () => {
    expect(portProblems(localKafkaNodes(3, 65532, 65533))).toEqual(['node 3 would listen on 65536, above 65535', 'node 3 would listen on 65537, above 65535'])
  })
})
