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
  -- The row's identity by content when its sender gave the timestamp (src/lib/content-key.ts); NULL otherwise.
  content_key     bigint,
  PRIMARY KEY (timestamp, kafka_partition, kafka_offset)
) PARTITION BY RANGE (timestamp);
-- Databases created before content_key.
ALTER TABLE logs ADD COLUMN IF NOT EXISTS content_key bigint;

-- Rows outside every daily partition (clock skew, backfills, far-future timestamps) land here, never lost.
CREATE TABLE IF NOT EXISTS logs_default PARTITION OF logs DEFAULT;

-- Indexes on the parent cascade to every partition, present and future.
-- Every index is paid for on each insert, so each one here serves a query-API filter (src/lib/log-search.ts)
-- the primary key cannot. Inserting 100k generated rows (INSERT ... SELECT, 3 interleaved runs, 2 shared
-- cores): primary key alone 0.25-0.42 s, this set 2.6-3.1 s, the previous seven indexes 2.5-3.6 s; the
-- full-text GIN index is most of the cost, and what ingest would gain first by dropping `q`. Sizes in bytes per row, measured on 1M generated rows (bench/query.bench.ts;
-- heap alone ~322): the key-only btrees below are small because PostgreSQL deduplicates equal keys,
-- which a (column, timestamp) btree defeats (host 41 -> 7, level 32 -> 7, trace_id 55 -> 14).
-- The primary key (timestamp, kafka_partition, kafka_offset) already orders by time (41): it serves
-- newest first, time ranges, cursors, and filters dense enough that a backward scan meets `limit`
-- matches quickly (level=INFO, a common host or tag); a separate time index would be redundant.
-- service + time range is the most common query: (service, timestamp) reads it in order, no sort (38).
CREATE INDEX IF NOT EXISTS logs_service_time_idx ON logs (service, timestamp);
-- Rare levels (FATAL, ERROR) and rare hosts, where a backward primary-key scan would read far (7 each).
CREATE INDEX IF NOT EXISTS logs_level_idx ON logs (level);
CREATE INDEX IF NOT EXISTS logs_host_idx ON logs (host);
-- Trace look-up: a handful of rows per trace, sorted after the look-up (14). NULL (no trace) is not indexed.
CREATE INDEX IF NOT EXISTS logs_trace_id_idx ON logs (trace_id) WHERE trace_id IS NOT NULL;
-- GIN indexes take new rows into a pending list and merge it into the index in bulk. A 16 MB list (4 times
-- the default) measured +27 % on COPY of 150k rows into this table (23.7k -> 30k rows/s; 64 MB: 31-34k,
-- fastupdate off: 16.8k); it stays small enough that searches scanning the unmerged list remain fast.
-- tags @> '{...}' (6: few distinct tags give long, compressed posting lists).
CREATE INDEX IF NOT EXISTS logs_tags_idx ON logs USING gin (tags) WITH (gin_pending_list_limit = 16384);
-- Full-text search on message (q): a tsvector GIN index with the 'simple' configuration (no stemming,
-- no stop words: log text is identifiers, codes and English fragments alike); queries must use the same
-- expression, to_tsvector('simple', message). Chosen over pg_trgm by measurement (200k generated
-- messages, 2 cores shared with a load): GIN tsvector 70 B/row and 6.0 s to insert the 200k rows into a
-- table with only that index, GIN gin_trgm_ops 107 B/row and 10.9 s (no index: 0.24 s); on 1M rows
-- "latest 100 matching" took 1-7 ms for rare words with either, 20-51 ms (tsvector) vs 3-8 ms (trigram
-- ILIKE) for a phrase in 12 % of rows. Both are well inside the 200 ms target; tsvector costs ingest
-- less and needs no extension. It matches whole words, not substrings.
CREATE INDEX IF NOT EXISTS logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message)) WITH (gin_pending_list_limit = 16384);
-- Attribute filters (attr.<path>=value, =*: metadata @> … and @? …, src/lib/log-search.ts). jsonb_path_ops
-- answers containment and jsonpath existence and is the smaller GIN opclass for jsonb; its cost on COPY
-- is measured in README (Query API, attribute filters).
CREATE INDEX IF NOT EXISTS logs_metadata_idx ON logs USING gin (metadata jsonb_path_ops) WITH (gin_pending_list_limit = 16384);
-- A resent entry is a no-op, as a re-delivered message is: a client retrying after a lost answer, a timeout or
-- an UNAVAILABLE whose batch Kafka wrote after all produces a second message with the same content, which this
-- key skips (the writers' ON CONFLICT DO NOTHING names no constraint, so it covers both keys). Only rows whose
-- sender gave the timestamp have a key; rows timestamped by the server stay unique per message and cost the
-- index nothing. Its cost on COPY and in bytes per row is measured in README (Consumer, "Resent entries").
CREATE UNIQUE INDEX IF NOT EXISTS logs_content_key_idx ON logs (timestamp, content_key) WHERE content_key IS NOT NULL;
-- Superseded definitions, dropped from databases created before: the (column, timestamp) forms above were
-- 4-5 times larger.
DROP INDEX IF EXISTS logs_level_time_idx;
DROP INDEX IF EXISTS logs_host_time_idx;
DROP INDEX IF EXISTS logs_trace_idx;

-- Log counts per minute, service, level and host: /histogram and /facets read whole minutes here instead of
-- counting rows (src/lib/query/log-counts.ts). host '' stands for "no host" (NULL or '' in logs), which both
-- endpoints already report as one value. Kept by the statement triggers below, in the same transaction as the
-- rows, from the rows each statement actually changed: a re-delivered row that ON CONFLICT DO NOTHING skips
-- is not in the transition table, so it is not counted again, and every write path (the consumer's bulk and
-- row-by-row inserts, COPY, fixtures) counts alike. Retention removes the minutes it empties
-- (src/lib/retention.ts): dropping a partition or deleting from logs_default fires no trigger on logs.
-- Whenever logs has no counting trigger yet (a new database, one created before this table, or logs dropped
-- and created again, which leaves log_counts behind), the counts are rebuilt from the rows stored, with
-- writers held off (the lock, until commit) so that no row lands between that count and the trigger.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'logs'::regclass AND tgname = 'logs_counted_insert') THEN
    LOCK TABLE logs IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE IF NOT EXISTS log_counts (
      minute  timestamptz NOT NULL,
      service text        NOT NULL,
      level   text        NOT NULL,
      host    text        NOT NULL DEFAULT '',
      n       bigint      NOT NULL,
      PRIMARY KEY (minute, service, level, host)
    );
    TRUNCATE log_counts;
    INSERT INTO log_counts (minute, service, level, host, n)
    SELECT date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00'), service, level, coalesce(host, ''), count(*)
    FROM logs GROUP BY 1, 2, 3, 4;
  END IF;
END $$;

-- Adds the rows a statement inserted to their groups' counts (UPDATE and DELETE, rare and administrative,
-- move or remove them). Keys are upserted in sorted order, so two writers updating the same keys lock them in
-- the same order and cannot deadlock each other. date_bin, not date_trunc: date_trunc('minute', timestamptz)
-- depends on the session's time zone. A group whose count falls to 0 keeps its row; readers skip it.
CREATE OR REPLACE FUNCTION log_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO log_counts AS c (minute, service, level, host, n)
    SELECT date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00'), service, level, coalesce(host, ''), count(*)
    FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (minute, service, level, host) DO UPDATE SET n = c.n + excluded.n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO log_counts AS c (minute, service, level, host, n)
    SELECT minute, service, level, host, sum(n) FROM (
      SELECT date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00') AS minute, service, level, coalesce(host, '') AS host, -1 AS n FROM old_rows
      UNION ALL
      SELECT date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00'), service, level, coalesce(host, ''), 1 FROM new_rows
    ) d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (minute, service, level, host) DO UPDATE SET n = c.n + excluded.n;
  ELSE
    INSERT INTO log_counts AS c (minute, service, level, host, n)
    SELECT date_bin('1 minute', timestamp, '2000-01-01 00:00:00+00'), service, level, coalesce(host, ''), -count(*)
    FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (minute, service, level, host) DO UPDATE SET n = c.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER logs_counted_insert AFTER INSERT ON logs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION log_counts_add();
CREATE OR REPLACE TRIGGER logs_counted_update AFTER UPDATE ON logs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION log_counts_add();
CREATE OR REPLACE TRIGGER logs_counted_delete AFTER DELETE ON logs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION log_counts_add();
CREATE OR REPLACE FUNCTION log_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE log_counts;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER logs_counted_truncate AFTER TRUNCATE ON logs FOR EACH STATEMENT EXECUTE FUNCTION log_counts_clear();

-- API keys (src/lib/auth/, `bun run keys`). Only a key's SHA-256 is stored: the key itself is printed once by
-- `keys create` and cannot be recovered. id is the key's public part (lsk_<id>_…), so a presented key finds its
-- row without a scan; every service holds the live rows in memory and reloads them every AUTH_REFRESH_MS.
-- Revoking sets revoked_at and keeps the row, so `keys list` still shows who had access until when, and an id is
-- never handed out twice. Names are unique among live keys only (the partial index below): `keys revoke NAME`
-- then `keys create --name NAME` replaces a key under the same name. Limits NULL: the services' defaults
-- (AUTH_ENTRIES_PER_SECOND, AUTH_BYTES_PER_SECOND); bigint for bytes, which may exceed 2 GiB/s.
-- last_used_at is written by the services in batches (about every 30 s), so it is accurate to that.
CREATE TABLE IF NOT EXISTS api_keys (
  id                 text        PRIMARY KEY,
  name               text        NOT NULL CHECK (name <> ''),
  scope              text        NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
  hash               bytea       NOT NULL CHECK (octet_length(hash) = 32),
  entries_per_second integer     CHECK (entries_per_second > 0),
  bytes_per_second   bigint      CHECK (bytes_per_second > 0),
  created_at         timestamptz NOT NULL DEFAULT now(),
  last_used_at       timestamptz,
  revoked_at         timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name_idx ON api_keys (name) WHERE revoked_at IS NULL;
