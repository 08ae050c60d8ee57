-- Recorded live streams (issue 25), as in schema.sql: one row per segment the recorder archived (a video of its
-- own), with its air time (ISO 8601 UTC with milliseconds and a Z) and which clock gave it. The table is named
-- stream_segments because `segments` already holds transcript lines.
CREATE TABLE stream_segments (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    channel TEXT NOT NULL,
    stream_url TEXT,
    seq INTEGER,
    air_start TEXT,
    air_end TEXT,
    air_clock TEXT CHECK (air_clock IN ('stream', 'receiver'))
);
CREATE INDEX stream_segments_air ON stream_segments (channel, air_start);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON stream_segments TO clipwatch_writer;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: grant stream_segments to clipwatch_writer as an administrator';
END $$;
