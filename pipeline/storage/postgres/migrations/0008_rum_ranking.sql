-- Ranked search that stays fast at millions of segments: RUM indexes (https://github.com/postgrespro/rum; Debian
-- postgresql-NN-rum) keep each word's positions in the index, so `ORDER BY fts <=> query LIMIT n` comes out of the
-- index best first instead of ts_rank_cd reading every matching row from the table.
-- Optional: where the extension is not installed or may not be created (a managed PostgreSQL without it, a role
-- that may not CREATE EXTENSION), nothing is created and search ranks every match with ts_rank_cd as before
-- (correct, slower for common words); the catalogue logs a warning that says how to add it later.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') THEN
        RAISE NOTICE 'RUM extension not available: search ranks every match with ts_rank_cd';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS rum;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'may not create the RUM extension (%): search ranks every match with ts_rank_cd', SQLERRM;
        RETURN;
    END;
    CREATE INDEX IF NOT EXISTS segments_fts_rum ON segments USING rum (fts rum_tsvector_ops) WHERE flags = '';
END
$$;
