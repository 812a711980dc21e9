-- Read model "labels" (projections/labels.ts): every LabelAssigned in label_history, and the
-- latest label per subject (the catalogue's rule: the latest label of a subject wins, in log
-- order) in labels. Plain tables: labels come from people and rules, at a low rate.
INSERT INTO sluice_read_models (projection, relation, kind) VALUES
  ('labels', 'labels', 'table'),
  ('labels', 'label_history', 'table');

CREATE FUNCTION sluice_rm_labels(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  cur text := 'labels_v' || version;
  hist text := 'label_history_v' || version;
BEGIN
  IF to_regclass(cur) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      subject_id  text PRIMARY KEY,
      label       text NOT NULL,
      upload_id   uuid,
      labeler     text,
      source      text NOT NULL,
      confidence  double precision,
      labelled_at timestamptz NOT NULL
    );
    CREATE INDEX %2$I ON %1$I (label);
    CREATE TABLE %3$I (
      subject_id  text NOT NULL,
      label       text NOT NULL,
      upload_id   uuid,
      labeler     text,
      source      text NOT NULL,
      confidence  double precision,
      occurred_at timestamptz NOT NULL
    );
    CREATE INDEX %4$I ON %3$I (subject_id, occurred_at DESC);
    CREATE INDEX %5$I ON %3$I (labeler, occurred_at DESC);
    CREATE INDEX %6$I ON %3$I (occurred_at DESC);
  $ddl$, cur, cur || '_label_idx', hist, hist || '_subject_idx', hist || '_labeler_idx', hist || '_time_idx');
END $$;

SELECT sluice_rm_labels(1);
SELECT sluice_rm_swap('labels', 1);
