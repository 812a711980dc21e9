-- Read model "uploads" (projections/uploads.ts): one row per UploadReceived, by reference to
-- the blob store. A hypertable on occurred_at: uploads arrive at a moderate, steady rate.
INSERT INTO sluice_read_models (projection, relation, kind) VALUES ('uploads', 'uploads', 'table');
INSERT INTO sluice_read_model_settings (relation, chunk_interval, compress_after)
VALUES ('uploads', INTERVAL '7 days', INTERVAL '30 days');

CREATE FUNCTION sluice_rm_uploads(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'uploads_v' || version;
BEGIN
  -- A version is built in one transaction: its first table existing means all of it does.
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      upload_id    uuid NOT NULL,
      subject_id   text NOT NULL,
      sha256       text NOT NULL,
      content_type text NOT NULL,
      size_bytes   bigint NOT NULL,
      blob_uri     text NOT NULL,
      filename     text,
      uploader     text,
      channel      text NOT NULL,
      metadata     jsonb NOT NULL,
      occurred_at  timestamptz NOT NULL,
      -- The time column is part of every unique key: a hypertable requires it.
      PRIMARY KEY (upload_id, occurred_at)
    );
    CREATE INDEX %2$I ON %1$I (subject_id, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (sha256);
  $ddl$, t, t || '_subject_idx', t || '_sha256_idx');
  PERFORM sluice_rm_hypertable(t, 'occurred_at');
END $$;

SELECT sluice_rm_uploads(1);
SELECT sluice_rm_swap('uploads', 1);
