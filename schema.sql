-- LogStream storage. Applied at every start; every statement is idempotent, so re-applying is a no-op.
-- Daily partitions are created ahead and dropped after RETENTION_DAYS by src/lib/retention.ts.

CREATE TABLE IF NOT EXISTS logs (
  timestamp       timestamptz NOT NULL,
  service         text        NOT NULL,
  level           text        NOT NULL CHECK (level IN ('TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL')),
  message         text        NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  -- text, not uuid: W3C / OpenTelemetry trace ids are 32 hex digits with no dashes, which uuid rejects.
  trace_id        text,
  span_id         text,
  host            text,
  tags            text[]      NOT NULL DEFAULT '{}',
  ingested_at     timestamptz NOT NULL DEFAULT now(),
  -- Where the row came from in Kafka (logs.raw). The broker assigns (partition, offset) once and
  -- re-delivers a message with the same pair, so this key makes a re-delivered insert a no-op
  -- (INSERT ... ON CONFLICT DO NOTHING) at no cost to the producer. timestamp leads the key because
  -- a partitioned table's unique key must contain the partition key; as a message's timestamp never
  -- changes this is no weaker, and the same index serves "newest first" and time-range scans.
  -- Recreating logs.raw restarts offsets: only a row with the same microsecond, partition and
  -- offset as an older one could then collide.
  kafka_partition integer     NOT NULL,
  kafka_offset    bigint      NOT NULL,
  PRIMARY KEY (timestamp, kafka_partition, kafka_offset)
) PARTITION BY RANGE (timestamp);

-- Rows outside every daily partition (clock skew, backfills, far-future timestamps) land here, never lost.
CREATE TABLE IF NOT EXISTS logs_default PARTITION OF logs DEFAULT;

-- Indexes on the parent cascade to every partition, present and future.
-- The primary key already orders by time, so a separate time index (btree or BRIN) would be redundant.
CREATE INDEX IF NOT EXISTS logs_service_time_idx ON logs (service, timestamp);
CREATE INDEX IF NOT EXISTS logs_level_time_idx ON logs (level, timestamp);
CREATE INDEX IF NOT EXISTS logs_host_time_idx ON logs (host, timestamp);
CREATE INDEX IF NOT EXISTS logs_trace_idx ON logs (trace_id, timestamp) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_tags_idx ON logs USING gin (tags);
CREATE INDEX IF NOT EXISTS logs_metadata_idx ON logs USING gin (metadata jsonb_path_ops);
-- Full-text search on message: a tsvector GIN index with the 'simple' configuration (no stemming,
-- no stop words: log text is identifiers, codes and English fragments alike). Chosen over pg_trgm
-- because it is smaller and cheaper to maintain per insert; it matches whole words, not substrings.
CREATE INDEX IF NOT EXISTS logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message));
