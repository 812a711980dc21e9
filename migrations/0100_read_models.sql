-- Read models of the catalogue (projections/): what every read model shares.
--
-- Version N of a read model lives in its own relations, <relation>_v<N>, built by the read
-- model's function sluice_rm_<projection>(N) (migrations 0101 and up), which the projection's
-- setup() calls too. Queries, Grafana and the HTTP API use stable views named <relation>;
-- sluice_rm_swap(projection, N) points them at version N in the caller's transaction, so a
-- rebuild is blue/green: build N+1 beside N, catch it up, swap, drop N. See docs/queries.md.
--
-- Both paths expose the same relations and columns. With TimescaleDB, high-rate tables are
-- hypertables (compression and retention per sluice_read_model_settings) and rollups are
-- continuous aggregates; on plain PostgreSQL rollups are views over date_bin.

-- Every relation of every read model, so version-generic tooling (swap, drop, refresh) knows
-- them. kind: 'table' (written by the projection), 'view' (a join over the version's tables),
-- 'rollup' (continuous aggregate or date_bin view over `source`).
CREATE TABLE sluice_read_models (
  projection text NOT NULL,
  relation   text NOT NULL UNIQUE,
  kind       text NOT NULL CHECK (kind IN ('table', 'view', 'rollup')),
  source     text REFERENCES sluice_read_models (relation),
  PRIMARY KEY (projection, relation),
  CHECK ((kind = 'rollup') = (source IS NOT NULL))
);

-- The version each projection's stable views point at.
CREATE TABLE sluice_read_model_live (
  projection text PRIMARY KEY,
  version    integer NOT NULL CHECK (version > 0),
  swapped_at timestamptz NOT NULL DEFAULT now()
);

-- TimescaleDB settings per relation, read when a version is built (plain PostgreSQL ignores
-- them). NULL compress_after / drop_after: no compression / no retention policy; NULL
-- refresh_start: the refresh window reaches back to the oldest row. Changing a row affects the
-- versions built afterwards; docs/queries.md shows how to change a live version.
CREATE TABLE sluice_read_model_settings (
  relation       text PRIMARY KEY REFERENCES sluice_read_models (relation),
  chunk_interval interval,
  compress_after interval,
  drop_after     interval,
  refresh_start  interval,
  refresh_end    interval,
  refresh_every  interval
);

-- The settings of a physical relation (<relation>_v<N>).
CREATE FUNCTION sluice_rm_settings_of(p_physical text) RETURNS sluice_read_model_settings
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s sluice_read_model_settings;
BEGIN
  SELECT * INTO s FROM sluice_read_model_settings WHERE relation = regexp_replace(p_physical, '_v[0-9]+$', '');
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no sluice_read_model_settings row for %', p_physical USING ERRCODE = 'undefined_object';
  END IF;
  RETURN s;
END $$;

-- sluice:if timescaledb >= 2.13
-- TimescaleDB 2.13 or later: by_range(), unique constraints and ON CONFLICT on compressed
-- chunks (2.11), and real-time aggregation chosen explicitly.

-- Makes an empty table a hypertable partitioned on p_time_column, with the time index both paths
-- share, compression (segmented by p_segment_by, newest first) and retention per its settings.
CREATE FUNCTION sluice_rm_hypertable(p_table text, p_time_column text, p_segment_by text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s sluice_read_model_settings := sluice_rm_settings_of(p_table);
BEGIN
  PERFORM create_hypertable(p_table::regclass, by_range(p_time_column::name, s.chunk_interval),
                            create_default_indexes => false);
  EXECUTE format('CREATE INDEX %I ON %I (%I DESC)', p_table || '_time_idx', p_table, p_time_column);
  IF s.compress_after IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L, '
                   'timescaledb.compress_orderby = %L)',
                   p_table, coalesce(p_segment_by, ''), p_time_column || ' DESC');
    PERFORM add_compression_policy(p_table::regclass, compress_after => s.compress_after);
  END IF;
  IF s.drop_after IS NOT NULL THEN
    PERFORM add_retention_policy(p_table::regclass, drop_after => s.drop_after);
  END IF;
END $$;

-- A continuous aggregate of p_source per p_width bucket of p_time_column, grouped by p_group_by.
-- WITH NO DATA: creating it WITH DATA is refused inside a transaction or a function, and the
-- refresh policy materializes it in the background; materialized_only = false (real-time
-- aggregation) adds the rows not materialized yet, so it answers like the plain view at once.
CREATE FUNCTION sluice_rm_rollup(p_rollup text, p_source text, p_time_column text, p_width interval,
                                 p_group_by text, p_aggregates text, p_where text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s sluice_read_model_settings := sluice_rm_settings_of(p_rollup);
BEGIN
  EXECUTE format('CREATE MATERIALIZED VIEW %I '
                 'WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS '
                 'SELECT time_bucket(INTERVAL %L, %I) AS bucket, %s, %s FROM %I%s '
                 'GROUP BY bucket, %s WITH NO DATA',
                 p_rollup, p_width, p_time_column, p_group_by, p_aggregates, p_source,
                 CASE WHEN p_where IS NULL THEN '' ELSE ' WHERE ' || p_where END, p_group_by);
  PERFORM add_continuous_aggregate_policy(p_rollup::regclass, start_offset => s.refresh_start,
                                          end_offset => s.refresh_end, schedule_interval => s.refresh_every);
  IF s.drop_after IS NOT NULL THEN
    PERFORM add_retention_policy(p_rollup::regclass, drop_after => s.drop_after);
  END IF;
END $$;

CREATE FUNCTION sluice_rm_drop_rollup(p_rollup text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %I', p_rollup);
END $$;

-- Materializes version p_version's rollups after a rebuild or backfill has caught up. Needed
-- because the refresh policy only looks back refresh_start, and rows older than the last
-- materialized bucket are read from the materialization only: without this, history older than
-- refresh_start would be missing from the rollup. The window starts where the source keeps all
-- its rows (now() - the source's drop_after), so buckets whose raw rows retention dropped are
-- never erased, and ends where the policy's does (now() - refresh_end), leaving the buckets
-- still being written to real-time aggregation.
-- A procedure, CALLed outside a transaction block: refresh_continuous_aggregate commits.
CREATE PROCEDURE sluice_rm_refresh(p_projection text, p_version integer)
LANGUAGE plpgsql AS $$
DECLARE
  rollups text[];
  starts timestamptz[];
  ends timestamptz[];
BEGIN
  -- Collected before refreshing: a loop over a query would hold its cursor across the commits.
  SELECT array_agg(r.relation || '_v' || p_version ORDER BY r.relation),
         array_agg(now() - src.drop_after ORDER BY r.relation),
         array_agg(now() - own.refresh_end ORDER BY r.relation)
    INTO rollups, starts, ends
    FROM sluice_read_models r
    JOIN sluice_read_model_settings own ON own.relation = r.relation
    LEFT JOIN sluice_read_model_settings src ON src.relation = r.source
   WHERE r.projection = p_projection AND r.kind = 'rollup';
  FOR i IN 1 .. coalesce(array_length(rollups, 1), 0) LOOP
    CALL refresh_continuous_aggregate(rollups[i]::regclass, starts[i], ends[i]);
  END LOOP;
END $$;
-- sluice:elif timescaledb
DO $$
BEGIN
  RAISE EXCEPTION 'Sluice read models need TimescaleDB 2.13 or later'
    USING HINT = 'ALTER EXTENSION timescaledb UPDATE, or migrate a database without TimescaleDB';
END $$;
-- sluice:else
-- Plain PostgreSQL: tables stay plain and rollups are computed on read.

-- Only the time index, so both paths have the same indexes.
CREATE FUNCTION sluice_rm_hypertable(p_table text, p_time_column text, p_segment_by text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE INDEX %I ON %I (%I DESC)', p_table || '_time_idx', p_table, p_time_column);
END $$;

-- The rollup as a view over date_bin (its 1-minute buckets are time_bucket's), with an index
-- on (group columns, bucket): a filter on the view's grouping columns is pushed into its WHERE,
-- where that expression index serves `group = $1 AND bucket >= $2`.
CREATE FUNCTION sluice_rm_rollup(p_rollup text, p_source text, p_time_column text, p_width interval,
                                 p_group_by text, p_aggregates text, p_where text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  bucket text := format('date_bin(INTERVAL %L, %I, TIMESTAMPTZ %L)', p_width, p_time_column,
                        '2000-01-01 00:00:00+00');
BEGIN
  EXECUTE format('CREATE VIEW %I AS SELECT %s AS bucket, %s, %s FROM %I%s GROUP BY bucket, %s',
                 p_rollup, bucket, p_group_by, p_aggregates, p_source,
                 CASE WHEN p_where IS NULL THEN '' ELSE ' WHERE ' || p_where END, p_group_by);
  EXECUTE format('CREATE INDEX %I ON %I (%s, %s)', p_rollup || '_bucket_idx', p_source, p_group_by, bucket);
END $$;

CREATE FUNCTION sluice_rm_drop_rollup(p_rollup text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DROP VIEW IF EXISTS %I', p_rollup);
END $$;

-- Nothing to materialize: rollups are computed on read.
CREATE PROCEDURE sluice_rm_refresh(p_projection text, p_version integer)
LANGUAGE plpgsql AS $$
BEGIN
  NULL;
END $$;
-- sluice:end

-- Points every stable view of p_projection at version p_version, in the caller's transaction:
-- readers see all of a projection's views switch at once. Refuses a version not fully built.
CREATE FUNCTION sluice_rm_swap(p_projection text, p_version integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  missing text;
BEGIN
  PERFORM 1 FROM sluice_read_models WHERE projection = p_projection;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown read model "%"', p_projection USING ERRCODE = 'undefined_object';
  END IF;
  SELECT string_agg(relation || '_v' || p_version, ', ' ORDER BY relation) INTO missing
    FROM sluice_read_models
   WHERE projection = p_projection AND to_regclass(quote_ident(relation || '_v' || p_version)) IS NULL;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'read model "%" version % is not built (missing %)', p_projection, p_version, missing
      USING ERRCODE = 'undefined_table',
            HINT = format('SELECT sluice_rm_%s(%s) builds it', p_projection, p_version);
  END IF;
  FOR r IN SELECT relation FROM sluice_read_models WHERE projection = p_projection ORDER BY relation LOOP
    BEGIN
      EXECUTE format('CREATE OR REPLACE VIEW %I AS SELECT * FROM %I', r.relation, r.relation || '_v' || p_version);
    EXCEPTION WHEN invalid_table_definition THEN
      -- The version dropped, renamed or retyped a column, which CREATE OR REPLACE refuses. No
      -- CASCADE: a view someone built on this one makes the swap fail rather than vanish.
      EXECUTE format('DROP VIEW %I', r.relation);
      EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I', r.relation, r.relation || '_v' || p_version);
    END;
  END LOOP;
  INSERT INTO sluice_read_model_live (projection, version) VALUES (p_projection, p_version)
  ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version, swapped_at = now();
END $$;

-- Drops version p_version of p_projection (not the live one) and its projection checkpoints, so
-- a later run of that version starts from the earliest offsets into fresh tables.
CREATE FUNCTION sluice_rm_drop(p_projection text, p_version integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF EXISTS (SELECT 1 FROM sluice_read_model_live WHERE projection = p_projection AND version = p_version) THEN
    RAISE EXCEPTION 'read model "%" version % is live; swap to another version first', p_projection, p_version
      USING ERRCODE = 'object_in_use';
  END IF;
  -- Views and rollups before the tables they read. No CASCADE, as in sluice_rm_swap.
  FOR r IN SELECT relation || '_v' || p_version AS physical, kind FROM sluice_read_models
            WHERE projection = p_projection
            ORDER BY kind = 'table', relation LOOP
    IF r.kind = 'rollup' THEN
      PERFORM sluice_rm_drop_rollup(r.physical);
    ELSIF r.kind = 'view' THEN
      EXECUTE format('DROP VIEW IF EXISTS %I', r.physical);
    ELSE
      EXECUTE format('DROP TABLE IF EXISTS %I', r.physical);
    END IF;
  END LOOP;
  IF to_regclass('sluice_projection_checkpoints') IS NOT NULL THEN
    DELETE FROM sluice_projection_checkpoints WHERE projection = p_projection AND version = p_version;
  END IF;
END $$;
