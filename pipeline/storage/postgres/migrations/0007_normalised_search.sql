-- Issue 13's search on PostgreSQL (as SQLite's segment_norm / norm_fts / norm_doubt_fts / norm_trigram /
-- hangul_bigrams / segment_words): the indexes hold the normalised shadow text made by clipwatch
-- (pipeline/search/normalize.py: numbers, abbreviations, compounds, Korean numerals), lines flagged as possible
-- hallucinations are indexed too (searched after the trusted ones and marked doubtful), and word timings are kept
-- per segment so a hit opens at its first matched word. The Python step that follows this file fills `norm` and
-- re-makes the Hangul bigrams from it for the segments already stored (catalogue.py: rebuild_search_index).

-- The shadow text, NULL where it equals the text (most lines: no number, abbreviation or compound), so the
-- indexes read COALESCE(norm, text) and a bulk load that writes only `text` is still searchable.
ALTER TABLE segments ADD COLUMN norm TEXT;

-- The English tsvector now reads the shadow text ("five" and "5" are one lexeme); generated as before.
DROP INDEX IF EXISTS segments_fts;
ALTER TABLE segments DROP COLUMN fts;
ALTER TABLE segments ADD COLUMN fts tsvector
    GENERATED ALWAYS AS (to_tsvector('clipwatch_english'::regconfig, COALESCE(norm, text))) STORED;

-- Word search: trusted lines and doubtful (flagged) lines in two partial indexes, as SQLite's two FTS5 tables, so
-- that the trusted page never reads the doubtful ones and the doubtful lines cost an index of their own size.
CREATE INDEX segments_fts ON segments USING gin (fts) WHERE flags = '';
CREATE INDEX segments_fts_doubt ON segments USING gin (fts) WHERE flags <> '';
-- Substring search (Korean/CJK) reads every line, flagged or not (as SQLite's norm_trigram and hangul_bigrams).
DROP INDEX IF EXISTS segments_bigrams;
DROP INDEX IF EXISTS segments_trgm;
CREATE INDEX segments_bigrams ON segments USING gin (bigrams);
CREATE INDEX segments_trgm ON segments USING gin ((COALESCE(norm, text)) gin_trgm_ops);

-- Word timings of a segment, compactly: JSON [char offset in text, start ms, end ms, ...] (absolute times), as on
-- SQLite (pipeline.storage.sqlite.catalogue.pack_words).
CREATE TABLE segment_words (
    segment_id BIGINT PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    words TEXT NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clipwatch_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON segment_words TO clipwatch_writer;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'clipwatch: grant segment_words to clipwatch_writer as an administrator';
END $$;
