-- The audio profile of a video's original (speech / music / silence shares), as audio_profiles in schema.sql.
CREATE TABLE audio_profiles (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    model_version TEXT NOT NULL,
    duration DOUBLE PRECISION NOT NULL,
    speech DOUBLE PRECISION NOT NULL,
    music DOUBLE PRECISION NOT NULL,
    silence DOUBLE PRECISION NOT NULL,
    path TEXT,
    created_at TEXT NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON audio_profiles TO clipwatch_writer;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: grant audio_profiles to clipwatch_writer as an administrator';
END $$;
