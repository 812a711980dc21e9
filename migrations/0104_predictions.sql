-- Read model "predictions" (projections/predictions.ts): a row per PredictionMade, and
-- predictions_1m, per model version and minute: count, confidence and the slowest batch.
-- predictions is the highest-rate table: 1-day chunks, compressed after 7 days segmented by
-- model (queries filter on it), kept as long as the topic (forever) unless drop_after is set.
-- The rollup's refresh window reaches back to the oldest row (refresh_start NULL): with no
-- raw retention nothing can be erased, and a backfill is materialized by the policy itself.
INSERT INTO sluice_read_models (projection, relation, kind, source) VALUES
  ('predictions', 'predictions', 'table', NULL),
  ('predictions', 'predictions_1m', 'rollup', 'predictions');
INSERT INTO sluice_read_model_settings
  (relation, chunk_interval, compress_after, drop_after, refresh_start, refresh_end, refresh_every) VALUES
  ('predictions', INTERVAL '1 day', INTERVAL '7 days', NULL, NULL, NULL, NULL),
  ('predictions_1m', NULL, NULL, NULL, NULL, INTERVAL '2 minutes', INTERVAL '5 minutes');

CREATE FUNCTION sluice_rm_predictions(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'predictions_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      prediction_id uuid NOT NULL,
      subject_id    text NOT NULL,
      model_name    text NOT NULL,
      model_version integer NOT NULL,
      feature_set   text,
      top_label     text NOT NULL,
      confidence    double precision NOT NULL,
      probabilities jsonb NOT NULL,
      latency_ms    double precision NOT NULL,
      batch_size    integer NOT NULL,
      served_by     text NOT NULL,
      occurred_at   timestamptz NOT NULL,
      PRIMARY KEY (prediction_id, occurred_at)
    );
    CREATE INDEX %2$I ON %1$I (subject_id, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (model_name, model_version, occurred_at DESC);
  $ddl$, t, t || '_subject_idx', t || '_model_idx');
  PERFORM sluice_rm_hypertable(t, 'occurred_at', 'model_name');
  PERFORM sluice_rm_rollup('predictions_1m_v' || version, t, 'occurred_at', INTERVAL '1 minute',
    'model_name, model_version',
    'count(*) AS predictions, avg(confidence) AS avg_confidence, sum(confidence) AS sum_confidence, '
    'min(confidence) AS min_confidence, max(latency_ms) AS max_latency_ms');
END $$;

SELECT sluice_rm_predictions(1);
SELECT sluice_rm_swap('predictions', 1);
