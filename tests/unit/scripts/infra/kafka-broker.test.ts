import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { knownBrokerDirs, localBrokerOptions, serverProperties } from '../../../../scripts/infra/kafka-broker.ts'
import { localKafkaNodes } from '../../../../src/lib/kafka-nodes.ts'

const properties = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  )

describe('serverProperties', () => {
  test('a single node is its own quorum and keeps one copy of the internal topics', () => {
    const props = properties(serverProperties({ dir: '/d/kafka', port: 9092, controllerPort: 9093 }))
    expect(props).toMatchObject({
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.bootstrap.servers': '127.0.0.1:9093',
      listeners: 'PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
      'log.dirs': '/d/kafka/data',
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
    })
    expect(props['controller.quorum.voters']).toBeUndefined()
    expect(props['default.replication.factor']).toBeUndefined()
    expect(props['min.insync.replicas']).toBeUndefined()
  })

  test('each node of three lists every voter and replicates internal topics 3 times with min ISR 2', () => {
    const nodes = localBrokerOptions(localKafkaNodes(3, 9092, 9093), '/d')
    const [first, second, third] = nodes.map((node) => properties(serverProperties(node)))
    for (const props of [first, second, third])
      expect(props).toMatchObject({
        'controller.quorum.voters': '1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097',
        'offsets.topic.replication.factor': '3',
        'transaction.state.log.replication.factor': '3',
        'transaction.state.log.min.isr': '2',
        'share.coordinator.state.topic.replication.factor': '3',
        'share.coordinator.state.topic.min.isr': '2',
        'default.replication.factor': '3',
        'min.insync.replicas': '2',
      })
    expect(second).toMatchObject({
      'node.id': '2',
      listeners: 'PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095',
      'advertised.listeners': 'PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095',
      'log.dirs': '/d/kafka-cluster/node-2/data',
    })
    expect(first?.['controller.quorum.bootstrap.servers']).toBeUndefined()
  })
})

describe('localBrokerOptions', () => {
  test('one node keeps .data/kafka, without voters, as before clusters', () => {
    expect(localBrokerOptions(localKafkaNodes(1, 9092, 9093), '/d')).toEqual([{ dir: '/d/kafka', port: 9092, controllerPort: 9093 }])
  })

  test('three nodes each get a folder under kafka-cluster and the same voters', () => {
    const nodes = localBrokerOptions(localKafkaNodes(3, 9092, 9093), '/d')
    expect(nodes.map((node) => [node.dir, node.nodeId, node.port, node.controllerPort])).toEqual([
      ['/d/kafka-cluster/node-1', 1, 9092, 9093],
      ['/d/kafka-cluster/node-2', 2, 9094, 9095],
      ['/d/kafka-cluster/node-3', 3, 9096, 9097],
    ])
    for (const node of nodes)
      expect(node.voters).toEqual([
        { nodeId: 1, controllerPort: 9093 },
        { nodeId: 2, controllerPort: 9095 },
        { nodeId: 3, controllerPort: 9097 },
      ])
  })
})

describe('knownBrokerDirs', () => {
  test('the single broker folder and every cluster node folder, so infra:down stops both layouts', () => {
    const parent = mkdtempSync(`${tmpdir()}/logstream-dirs-`)
    try {
      expect(knownBrokerDirs(parent)).toEqual([`${parent}/kafka`])
      for (const id of [1, 2, 3]) mkdirSync(`${parent}/kafka-cluster/node-${id}`, { recursive: true })
      expect(knownBrokerDirs(parent)).toEqual([`${parent}/kafka`, ...[1, 2, 3].map((id) => `${parent}/kafka-cluster/node-${id}`)])
    } finally {
      rmSync(parent, { recursive: true, force: true })
    }
  })
})
