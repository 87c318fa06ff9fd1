/**
 * What a topic occupies in a broker's log directory (`<logDir>/<topic>-<partition>/`), read from the files.
 * Two figures, because the active segment's offset and time indexes are preallocated sparse files (10 MiB
 * apparent each): their apparent size says nothing about the disk they use.
 */
import { readdirSync, statSync } from 'node:fs'

export interface TopicBytes {
  partitions: number
  /** Apparent size of the segment files (`*.log`): the record batches as the broker stores them. */
  segmentBytes: number
  /** Blocks allocated to every file of the partition folders (segments, indexes, checkpoints). */
  allocatedBytes: number
}

/** Partition folders of `topic` among `names`: `<topic>-<n>`, not another topic that merely starts with the name. */
export function topicPartitionDirs(names: readonly string[], topic: string): string[] {
  return names.filter((name) => name.startsWith(`${topic}-`) && /^\d+$/.test(name.slice(topic.length + 1)))
}

export function topicDiskBytes(logDir: string, topic: string): TopicBytes {
  const dirs = topicPartitionDirs(readdirSync(logDir), topic)
  let segmentBytes = 0
  let allocatedBytes = 0
  for (const dir of dirs) {
    for (const file of readdirSync(`${logDir}/${dir}`)) {
      const stat = statSync(`${logDir}/${dir}/${file}`)
      if (!stat.isFile()) continue
      if (file.endsWith('.log')) segmentBytes += stat.size
      allocatedBytes += stat.blocks * 512
    }
  }
  return { partitions: dirs.length, segmentBytes, allocatedBytes }
}
