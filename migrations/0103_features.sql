-- Read model "features" (projections/features.ts): what was computed, not the tensors. A row
-- per FeaturesComputed in feature_vectors (a hypertable: one per input, so high-rate; kept 30
-- days, the topic itself only 7), and per feature set, version and input kind a summary in
-- feature_sets (counts and first/last seen folded by the projection).
INSERT INTO sluice_read_models (projection, relation, kind) VALUES
  ('features', 'feature_vectors', 'table'),
  ('features', 'feature_sets', 'table');
INSERT INTO sluice_read_model_settings (relation, chunk_interval, drop_after)
VALUES ('feature_vectors', INTERVAL '1 day', INTERVAL '30 days');

CREATE FUNCTION sluice_rm_features(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  vec text := 'feature_vectors_v' || version;
  sets text := 'feature_sets_v' || version;
BEGIN
  IF to_regclass(vec) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      subject_id          text NOT NULL,
      source_kind         text NOT NULL,
      source_id           text NOT NULL,
      feature_set         text NOT NULL,
      feature_set_version integer NOT NULL,
      shape               jsonb NOT NULL,
      element_count       bigint NOT NULL,
      storage             text NOT NULL CHECK (storage IN ('INLINE', 'BLOB')),
      blob_uri            text,
      size_bytes          bigint,
      occurred_at         timestamptz NOT NULL
    );
    CREATE INDEX %2$I ON %1$I (subject_id, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (feature_set, feature_set_version, occurred_at DESC);
    CREATE TABLE %4$I (
      feature_set         text NOT NULL,
      feature_set_version integer NOT NULL,
      source_kind         text NOT NULL,
      vectors             bigint NOT NULL,
      first_at            timestamptz NOT NULL,
      last_at             timestamptz NOT NULL,
      shape               jsonb NOT NULL,
      columns             jsonb NOT NULL,
      preprocessing       jsonb NOT NULL,
      PRIMARY KEY (feature_set, feature_set_version, source_kind)
    );
  $ddl$, vec, vec || '_subject_idx', vec || '_set_idx', sets);
  PERFORM sluice_rm_hypertable(vec, 'occurred_at', 'feature_set');
END $$;

SELECT sluice_rm_features(1);
SELECT sluice_rm_swap('features', 1);
