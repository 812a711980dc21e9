-- Read model "feedback" (projections/feedback.ts): a row per FeedbackReceived. Feedback has
-- no id of its own, so rows are appended (the runner's checkpoint makes that exactly once).
INSERT INTO sluice_read_models (projection, relation, kind) VALUES ('feedback', 'feedback', 'table');
INSERT INTO sluice_read_model_settings (relation, chunk_interval, compress_after)
VALUES ('feedback', INTERVAL '7 days', INTERVAL '30 days');

CREATE FUNCTION sluice_rm_feedback(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'feedback_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      prediction_id uuid NOT NULL,
      subject_id    text NOT NULL,
      correct       boolean,
      actual_label  text,
      comment       text,
      given_by      text,
      channel       text NOT NULL,
      occurred_at   timestamptz NOT NULL
    );
    CREATE INDEX %2$I ON %1$I (prediction_id);
    CREATE INDEX %3$I ON %1$I (subject_id, occurred_at DESC);
  $ddl$, t, t || '_prediction_idx', t || '_subject_idx');
  PERFORM sluice_rm_hypertable(t, 'occurred_at');
END $$;

SELECT sluice_rm_feedback(1);
SELECT sluice_rm_swap('feedback', 1);
