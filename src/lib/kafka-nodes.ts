/**
 * The local Kafka cluster `infra:up` starts: KAFKA_LOCAL_BROKERS KRaft nodes in combined mode (broker and
 * controller in one JVM) on 127.0.0.1. Node n listens two ports above node n-1, so the default three
 * are 9092/9093, 9094/9095 and 9096/9097 and the first node keeps the single broker's ports.
 */
export interface LocalKafkaNode {
  /** KRaft node.id, from 1. */
  nodeId: number
  port: number
  controllerPort: number
}

export function localKafkaNodes(count: number, port: number, controllerPort: number): LocalKafkaNode[] {
  return Array.from({ length: count }, (_, index) => ({ nodeId: index + 1, port: port + 2 * index, controllerPort: controllerPort + 2 * index }))
}

/** The ports `nodes` would use twice, or beyond 65535: empty when the layout can start. */
export function portProblems(nodes: readonly LocalKafkaNode[]): string[] {
  const problems: string[] = []
  const seen = new Set<number>()
  for (const node of nodes) {
    for (const port of [node.port, node.controllerPort]) {
      if (port > 65_535) problems.push(`node ${node.nodeId} would listen on ${port}, above 65535`)
      else if (seen.has(port)) problems.push(`node ${node.nodeId} would reuse port ${port}`)
      seen.add(port)
    }
  }
  return problems
}
