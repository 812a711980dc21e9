-- Read model "accuracy" (projections/accuracy.ts): a row per PredictionScored in
-- prediction_scores, and accuracy_1m: per model version and minute of scoring (occurred_at,
-- the event time of the ground truth, as the pipeline's windowed accuracy uses), how many
-- predictions were scored, how many were right, the accuracy and the mean confidence.
INSERT INTO sluice_read_models (projection, relation, kind, source) VALUES
  ('accuracy', 'prediction_scores', 'table', NULL),
  ('accuracy', 'accuracy_1m', 'rollup', 'prediction_scores');
INSERT INTO sluice_read_model_settings
  (relation, chunk_interval, compress_after, drop_after, refresh_start, refresh_end, refresh_every) VALUES
  ('prediction_scores', INTERVAL '7 days', INTERVAL '30 days', NULL, NULL, NULL, NULL),
  ('accuracy_1m', NULL, NULL, NULL, NULL, INTERVAL '2 minutes', INTERVAL '5 minutes');

CREATE FUNCTION sluice_rm_accuracy(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'prediction_scores_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      prediction_id   uuid NOT NULL,
      subject_id      text NOT NULL,
      model_name      text NOT NULL,
      model_version   integer NOT NULL,
      predicted_label text NOT NULL,
      actual_label    text NOT NULL,
      correct         boolean NOT NULL,
      confidence      double precision NOT NULL,
      ground_truth    text NOT NULL,
      predicted_at    timestamptz NOT NULL,
      occurred_at     timestamptz NOT NULL,
      -- A prediction may be scored by feedback and by a label; a redelivered score is one row.
      PRIMARY KEY (prediction_id, ground_truth, occurred_at)
    );
    CREATE INDEX %2$I ON %1$I (model_name, model_version, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (subject_id, occurred_at DESC);
  $ddl$, t, t || '_model_idx', t || '_subject_idx');
  PERFORM sluice_rm_hypertable(t, 'occurred_at', 'model_name, model_version');
  PERFORM sluice_rm_rollup('accuracy_1m_v' || version, t, 'occurred_at', INTERVAL '1 minute',
    'model_name, model_version',
    'count(*) AS scored, count(*) FILTER (WHERE correct) AS correct, '
    '(count(*) FILTER (WHERE correct))::double precision / count(*) AS accuracy, '
    'avg(confidence) AS avg_confidence');
END $$;

SELECT sluice_rm_accuracy(1);
SELECT sluice_rm_swap('accuracy', 1);
