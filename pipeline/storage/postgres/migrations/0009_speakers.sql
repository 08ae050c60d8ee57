-- Who speaks (issue 24), as in schema.sql: speaker turns per video, one voice (centroid embedding, float32
-- little-endian) per speaker, and the names people give voices (kept apart: the stage never overwrites them).
CREATE TABLE speaker_turns (
    video_id TEXT NOT NULL REFERENCES videos(id),
    idx INTEGER NOT NULL,
    start DOUBLE PRECISION NOT NULL,
    stop DOUBLE PRECISION NOT NULL,
    speaker TEXT NOT NULL,
    PRIMARY KEY (video_id, idx)
);
CREATE TABLE voices (
    video_id TEXT NOT NULL REFERENCES videos(id),
    speaker TEXT NOT NULL,
    seconds DOUBLE PRECISION NOT NULL,
    embedding BYTEA NOT NULL,
    encoder TEXT NOT NULL,
    media_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (video_id, speaker)
);
CREATE TABLE voice_names (
    video_id TEXT NOT NULL REFERENCES videos(id),
    speaker TEXT NOT NULL,
    name TEXT NOT NULL,
    embedding BYTEA,
    named_at TEXT NOT NULL,
    PRIMARY KEY (video_id, speaker)
);
CREATE INDEX voice_names_name ON voice_names (name);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON speaker_turns, voices, voice_names TO clipwatch_writer;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: grant speaker_turns, voices, voice_names to clipwatch_writer as an administrator';
END $$;
