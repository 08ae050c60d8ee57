-- Copies (issue 15), as in schema.sql: one Chromaprint fingerprint per video and the copy links found at ingest
-- (original time = copy time * speed + offset). "offset" is a reserved word in PostgreSQL: quoted in SQL.
CREATE TABLE audio_fingerprints (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    items BYTEA NOT NULL,
    duration DOUBLE PRECISION NOT NULL,
    tool TEXT NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE copy_links (
    original_id TEXT NOT NULL REFERENCES videos(id),
    copy_id TEXT NOT NULL REFERENCES videos(id),
    "offset" DOUBLE PRECISION NOT NULL,
    speed DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    coverage DOUBLE PRECISION NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    method TEXT NOT NULL,
    matched_seconds DOUBLE PRECISION,
    detail TEXT,
    method_version TEXT NOT NULL,
    found_at TEXT NOT NULL,
    PRIMARY KEY (original_id, copy_id)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON audio_fingerprints, copy_links TO clipwatch_writer;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: grant audio_fingerprints, copy_links to clipwatch_writer as an administrator';
END $$;
