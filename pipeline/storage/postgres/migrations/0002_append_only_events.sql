-- The chain of custody cannot be rewritten: a trigger refuses UPDATE, DELETE and TRUNCATE on events for everyone
-- (the table's owner included), and the roles workers log in with get INSERT and SELECT on it only.

CREATE FUNCTION clipwatch_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION clipwatch_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION clipwatch_events_append_only();

REVOKE ALL ON events FROM PUBLIC;

-- clipwatch_writer: what workers and the web app need. Grant it to a login role:
--   CREATE ROLE worker LOGIN PASSWORD '…' IN ROLE clipwatch_writer;
-- Creating a role needs CREATEROLE; without it the grants are left to the administrator (a NOTICE says so).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        CREATE ROLE clipwatch_writer NOLOGIN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE ON sources, videos, media_files, metadata_versions, keyframes, transcripts,
        segments, tags, stage_runs, meta TO clipwatch_writer;
    GRANT SELECT, INSERT ON events TO clipwatch_writer;
    GRANT SELECT ON schema_migrations TO clipwatch_writer;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO clipwatch_writer;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: no CREATEROLE privilege; create the clipwatch_writer role and its grants as an administrator';
END $$;
