-- clipwatch database schema (SQLite). Open it in any SQLite tool or Datasette.
-- Times are UTC ISO-8601 strings; paths are relative to the archive root.

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'unknown',      -- video | playlist | channel | file | unknown
    title TEXT,
    watched INTEGER NOT NULL DEFAULT 0,        -- 1: re-listed by the monitor flow
    added_at TEXT NOT NULL,
    last_listed_at TEXT,
    last_list_error TEXT
);

CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,                        -- extractor-platformid-hash6, stable across runs
    extractor TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    webpage_url TEXT NOT NULL,
    source_url TEXT NOT NULL,
    source_id INTEGER REFERENCES sources(id),
    title TEXT,
    description TEXT,
    channel TEXT,
    channel_id TEXT,
    channel_url TEXT,
    uploader TEXT,
    upload_date TEXT,                           -- YYYY-MM-DD as the platform states it
    duration REAL,
    categories TEXT,                            -- JSON list from the platform
    platform_tags TEXT,                         -- JSON list from the platform
    language TEXT,                              -- detected spoken language
    status TEXT NOT NULL DEFAULT 'available',   -- available | removed | unknown
    status_kind TEXT,                           -- removed-by-platform | removed-by-uploader | private | unavailable-unknown
    status_reason TEXT,                         -- the platform's words, verbatim
    status_changed_at TEXT,
    last_checked_at TEXT,
    failed_checks INTEGER NOT NULL DEFAULT 0,
    first_failed_at TEXT,
    media_sha256 TEXT,                          -- current original file
    folder TEXT,                                -- per-video folder, relative to archive root
    archived_at TEXT NOT NULL,
    UNIQUE (extractor, platform_id, webpage_url)
);
CREATE INDEX IF NOT EXISTS videos_channel ON videos(channel);
CREATE INDEX IF NOT EXISTS videos_upload_date ON videos(upload_date);

-- One row per file: the bytes, named by their SHA-256 (a file published on two pages is one row).
CREATE TABLE IF NOT EXISTS media_files (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,                         -- media/ab/<sha256>.<ext>: the name is the content address
    size INTEGER NOT NULL,
    container TEXT,
    video_codec TEXT,
    audio_codec TEXT,
    width INTEGER,
    height INTEGER,
    duration REAL,
    fetched_at TEXT NOT NULL                    -- the first fetch of these bytes
);

-- One row per video's fetch of a file: its own provenance (the same bytes fetched from two pages are two rows).
CREATE TABLE IF NOT EXISTS media_fetches (
    id INTEGER PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos(id),
    sha256 TEXT NOT NULL REFERENCES media_files(sha256),
    format_id TEXT,
    source_url TEXT,                            -- what the user asked for
    final_url TEXT,                             -- the media URL actually fetched
    http_status INTEGER,
    http_headers TEXT,                          -- JSON: Content-Type, Content-Length, Last-Modified, ETag
    fetch_started_at TEXT,
    fetched_at TEXT NOT NULL,
    fetcher TEXT NOT NULL,                      -- e.g. yt-dlp, local-file
    fetcher_version TEXT,
    clipwatch_version TEXT,
    UNIQUE (video_id, sha256)
);
CREATE INDEX IF NOT EXISTS media_fetches_sha256 ON media_fetches(sha256);

-- A video's original as it was fetched for that video: the file joined with that video's fetch of it
-- (the columns of the media_files table before schema version 2).
CREATE VIEW IF NOT EXISTS video_media AS
    SELECT f.sha256, l.video_id, f.path, f.size, f.container, f.video_codec, f.audio_codec, f.width, f.height,
           f.duration, l.format_id, l.source_url, l.final_url, l.http_status, l.http_headers, l.fetch_started_at,
           l.fetched_at, l.fetcher, l.fetcher_version, l.clipwatch_version
    FROM media_fetches l JOIN media_files f ON f.sha256 = l.sha256;

-- Chain of custody. Append-only and hash-chained: each event carries the hash of the event before it
-- (prev_hash; 64 zeros for the first) and its own hash = SHA-256(prev_hash "\n" its content as canonical JSON),
-- so a rewritten, inserted or deleted event breaks the chain (`clipwatch verify` walks it). The triggers
-- refuse UPDATE, DELETE, REPLACE and any INSERT that does not extend the chain.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT,
    source_id INTEGER,
    media_sha256 TEXT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,   -- fetched | metadata-changed | verified | corrupt | missing-file | removed | reappeared | exported | skipped | failed | swept | upgraded | timestamped
    detail TEXT,          -- JSON
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS events_video ON events(video_id, at);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
-- REPLACE deletes the old row without firing the DELETE trigger; refuse it (and any out-of-order insert) here.
CREATE TRIGGER IF NOT EXISTS events_chain_insert BEFORE INSERT ON events
WHEN (NEW.id <> -1 AND NEW.id <= COALESCE((SELECT max(id) FROM events), 0))  -- -1: the id is yet to be chosen
  OR NEW.hash IS NULL
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM events ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
  OR NEW.at < COALESCE((SELECT at FROM events ORDER BY id DESC LIMIT 1), '')
BEGIN SELECT RAISE(ABORT, 'events are append-only and hash-chained'); END;

CREATE TABLE IF NOT EXISTS metadata_versions (
    id INTEGER PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos(id),
    seen_at TEXT NOT NULL,
    title TEXT,
    description TEXT,
    platform_tags TEXT,
    info_json_path TEXT
);

CREATE TABLE IF NOT EXISTS keyframes (
    id INTEGER PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    shot_index INTEGER NOT NULL,
    shot_start REAL NOT NULL,
    shot_end REAL NOT NULL,
    time REAL NOT NULL,
    path TEXT NOT NULL,
    phash INTEGER NOT NULL,                     -- 64-bit perceptual hash, stored signed
    detector TEXT NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keyframes_video ON keyframes(video_id, time);

CREATE TABLE IF NOT EXISTS transcripts (
    id INTEGER PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,                         -- original | translation
    language TEXT,
    language_probability REAL,
    model TEXT NOT NULL,
    engine TEXT NOT NULL,
    engine_version TEXT,
    duration REAL,
    created_at TEXT NOT NULL,
    path TEXT,
    UNIQUE (video_id, kind)
);

CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    video_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    avg_logprob REAL,
    no_speech_prob REAL,
    compression_ratio REAL,
    flags TEXT NOT NULL DEFAULT ''              -- e.g. 'hallucination', 'music'; flagged segments are not indexed
);
CREATE INDEX IF NOT EXISTS segments_video ON segments(video_id, start);

CREATE TABLE IF NOT EXISTS tags (
    video_id TEXT NOT NULL REFERENCES videos(id),
    category TEXT NOT NULL,                     -- news | music | propaganda
    score REAL NOT NULL,                        -- [0, 1]
    decision INTEGER NOT NULL,                  -- 1 when score >= the category's threshold
    evidence TEXT NOT NULL,                     -- JSON list of strings
    origin TEXT NOT NULL DEFAULT 'model',       -- model | human (human corrections are never overwritten)
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (video_id, category, origin)
);

-- Finished work per video and stage, keyed by the media's SHA-256, the stage's
-- version and its parameters: a re-run with the same key skips the stage.
CREATE TABLE IF NOT EXISTS stage_runs (
    video_id TEXT NOT NULL REFERENCES videos(id),
    stage TEXT NOT NULL,                        -- keyframes | audio | transcribe | tag
    key TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    detail TEXT,                                -- JSON summary (counts, language, timings)
    PRIMARY KEY (video_id, stage)
);

-- Monitoring state for watched sources (a channel can disappear as a video can).
CREATE TABLE IF NOT EXISTS source_checks (
    source_id INTEGER PRIMARY KEY REFERENCES sources(id),
    status TEXT NOT NULL DEFAULT 'available',   -- available | removed
    status_kind TEXT,
    status_reason TEXT,
    status_changed_at TEXT,
    failed_checks INTEGER NOT NULL DEFAULT 0,
    first_failed_at TEXT,
    last_checked_at TEXT
);

-- Each video's manifest (videos/<id>/manifest.json: every derivative with its SHA-256): the SHA-256 of the
-- manifest file as clipwatch last wrote it. `verify` holds the file against it, and the files against the file;
-- each `verified` event carries it, so the chain witnesses the manifest as it stood at every verification.
CREATE TABLE IF NOT EXISTS manifests (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    path TEXT NOT NULL,                         -- relative to the archive root
    sha256 TEXT NOT NULL,
    files INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
);

-- The audio profile of a video's original (speech / music / silence per second), computed once per media file
-- and read by the transcript flags and the tagger; the per-second spans are in the JSON file at `path`.
CREATE TABLE IF NOT EXISTS audio_profiles (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    model_version TEXT NOT NULL,
    duration REAL NOT NULL,
    speech REAL NOT NULL,                       -- shares of the duration, 0..1
    music REAL NOT NULL,
    silence REAL NOT NULL,
    path TEXT,                                  -- audio_profile.json, relative to the archive root
    created_at TEXT NOT NULL
);

-- Copies (issue 15). One Chromaprint fingerprint per video (raw items, little-endian
-- uint32, 0 where the audio is silent), and the copy links found at ingest: the
-- original is the earlier upload (else the earlier archived); original time =
-- copy time * speed + offset.
CREATE TABLE IF NOT EXISTS audio_fingerprints (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    media_sha256 TEXT NOT NULL,
    items BLOB NOT NULL,
    duration REAL NOT NULL,
    tool TEXT NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS copy_links (
    original_id TEXT NOT NULL REFERENCES videos(id),
    copy_id TEXT NOT NULL REFERENCES videos(id),
    offset REAL NOT NULL,
    speed REAL NOT NULL DEFAULT 1.0,
    coverage REAL NOT NULL,                     -- share of the original found in the copy
    confidence REAL NOT NULL,
    method TEXT NOT NULL,                       -- keyframes | audio | both
    matched_seconds REAL,
    detail TEXT,                                -- JSON: the evidence
    method_version TEXT NOT NULL,
    found_at TEXT NOT NULL,
    PRIMARY KEY (original_id, copy_id)
);
CREATE INDEX IF NOT EXISTS copy_links_copy ON copy_links(copy_id);

-- Search (issue 13). The indexes hold a normalised shadow of each line (pipeline/search/normalize.py: numbers,
-- abbreviations, compounds, Korean numerals), computed by the clipwatch_shadow() and clipwatch_bigrams() SQL
-- functions that Store registers on its connection; users see segments.text. Flagged (doubtful) segments are
-- indexed too, in their own word index, so a search finds them after the trusted lines and marks them.
-- The earlier indexes over the raw text are replaced.
DROP TRIGGER IF EXISTS segments_ai;
DROP TRIGGER IF EXISTS segments_au;
DROP TRIGGER IF EXISTS segments_ad;
DROP TABLE IF EXISTS segments_fts;
DROP TABLE IF EXISTS segments_trigram;

CREATE TABLE IF NOT EXISTS segment_norm (id INTEGER PRIMARY KEY, text TEXT NOT NULL);  -- id = segments.id
-- prefix indexes: a `nucl*` query reads one list instead of merging every term that starts so
CREATE VIRTUAL TABLE IF NOT EXISTS norm_fts USING fts5(
    text, content='segment_norm', content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3 4'
);
CREATE VIRTUAL TABLE IF NOT EXISTS norm_doubt_fts USING fts5(
    text, content='segment_norm', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS norm_trigram USING fts5(
    text, content='segment_norm', content_rowid='id', tokenize='trigram'
);
-- Two-character pieces of Korean/CJK words (and their last character), for 1-2 syllable queries.
CREATE VIRTUAL TABLE IF NOT EXISTS hangul_bigrams USING fts5(
    grams, content='', prefix='1', tokenize='unicode61 remove_diacritics 0'
);
-- Word timings of a segment, compactly: JSON [char offset in text, start ms, end ms, ...] (absolute times).
CREATE TABLE IF NOT EXISTS segment_words (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    words TEXT NOT NULL
);

CREATE TRIGGER IF NOT EXISTS segments_search_ai AFTER INSERT ON segments BEGIN
    INSERT INTO segment_norm(id, text) VALUES (new.id, clipwatch_shadow(new.text));
    INSERT INTO norm_fts(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id AND new.flags = '';
    INSERT INTO norm_doubt_fts(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id AND new.flags != '';
    INSERT INTO norm_trigram(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id;
    INSERT INTO hangul_bigrams(rowid, grams) SELECT id, g FROM (SELECT id, clipwatch_bigrams(text) AS g FROM segment_norm WHERE id = new.id) WHERE g != '';
END;
CREATE TRIGGER IF NOT EXISTS segments_search_ad AFTER DELETE ON segments BEGIN
    INSERT INTO norm_fts(norm_fts, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id AND old.flags = '';
    INSERT INTO norm_doubt_fts(norm_doubt_fts, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id AND old.flags != '';
    INSERT INTO norm_trigram(norm_trigram, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id;
    INSERT INTO hangul_bigrams(hangul_bigrams, rowid, grams) SELECT 'delete', id, g FROM (SELECT id, clipwatch_bigrams(text) AS g FROM segment_norm WHERE id = old.id) WHERE g != '';
    DELETE FROM segment_norm WHERE id = old.id;
    DELETE FROM segment_words WHERE segment_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS segments_search_au AFTER UPDATE OF text, flags ON segments BEGIN
    INSERT INTO norm_fts(norm_fts, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id AND old.flags = '';
    INSERT INTO norm_doubt_fts(norm_doubt_fts, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id AND old.flags != '';
    INSERT INTO norm_trigram(norm_trigram, rowid, text) SELECT 'delete', id, text FROM segment_norm WHERE id = old.id;
    INSERT INTO hangul_bigrams(hangul_bigrams, rowid, grams) SELECT 'delete', id, g FROM (SELECT id, clipwatch_bigrams(text) AS g FROM segment_norm WHERE id = old.id) WHERE g != '';
    INSERT OR REPLACE INTO segment_norm(id, text) VALUES (new.id, clipwatch_shadow(new.text));
    INSERT INTO norm_fts(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id AND new.flags = '';
    INSERT INTO norm_doubt_fts(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id AND new.flags != '';
    INSERT INTO norm_trigram(rowid, text) SELECT id, text FROM segment_norm WHERE id = new.id;
    INSERT INTO hangul_bigrams(rowid, grams) SELECT id, g FROM (SELECT id, clipwatch_bigrams(text) AS g FROM segment_norm WHERE id = new.id) WHERE g != '';
END;

-- The id range of each transcript's lines (replace_transcript inserts them in one statement, so they are one run):
-- the trend counts map full-text rowids to transcripts by binary search instead of joining every hit.
CREATE TABLE IF NOT EXISTS transcript_segments (
    transcript_id INTEGER PRIMARY KEY REFERENCES transcripts(id) ON DELETE CASCADE,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL
);

-- How many trusted lines hold each term (read by the search to avoid ranking a very common word's every line).
CREATE VIRTUAL TABLE IF NOT EXISTS norm_vocab USING fts5vocab(norm_fts, 'row');

-- Who speaks (issue 24). Speaker turns per video (S1, S2, … in order of first appearance), one voice per speaker
-- (its centroid embedding: float32, L2-normalised, little-endian) and the names people give voices: a human label
-- is kept apart from the stage's rows, so that re-running the stage never overwrites it (the stage moves a name to
-- the new speaker closest to the voice it was given to, whose embedding is kept with the name).
CREATE TABLE IF NOT EXISTS speaker_turns (
    video_id TEXT NOT NULL REFERENCES videos(id),
    idx INTEGER NOT NULL,                       -- the turn's number in the video, in time order
    start REAL NOT NULL,
    stop REAL NOT NULL,
    speaker TEXT NOT NULL,
    PRIMARY KEY (video_id, idx)
);
CREATE TABLE IF NOT EXISTS voices (
    video_id TEXT NOT NULL REFERENCES videos(id),
    speaker TEXT NOT NULL,
    seconds REAL NOT NULL,                      -- speech the voice rests on
    embedding BLOB NOT NULL,
    encoder TEXT NOT NULL,                      -- the encoder's version: voices of different encoders never compare
    media_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (video_id, speaker)
);
CREATE TABLE IF NOT EXISTS voice_names (
    video_id TEXT NOT NULL REFERENCES videos(id),
    speaker TEXT NOT NULL,
    name TEXT NOT NULL,
    embedding BLOB,                             -- the voice as it was when named
    named_at TEXT NOT NULL,
    PRIMARY KEY (video_id, speaker)
);
CREATE INDEX IF NOT EXISTS voice_names_name ON voice_names(name);

-- Recorded live streams (issue 25): one row per segment the recorder archived (the segment is a video of its own).
-- Air time is ISO 8601 UTC with milliseconds and a Z (strings that sort as times), from the stream's own clock
-- (EXT-X-PROGRAM-DATE-TIME, air_clock 'stream') or the receiver's ('receiver'). (`segments` holds transcript lines.)
CREATE TABLE IF NOT EXISTS stream_segments (
    video_id TEXT PRIMARY KEY REFERENCES videos(id),
    channel TEXT NOT NULL,                      -- `clipwatch record URL --channel ID` (default: a slug of the host)
    stream_url TEXT,
    seq INTEGER,                                -- the segment's number in its recording
    air_start TEXT,
    air_end TEXT,
    air_clock TEXT CHECK (air_clock IN ('stream', 'receiver'))
);
CREATE INDEX IF NOT EXISTS stream_segments_air ON stream_segments(channel, air_start);

-- Programmes of recorded channels (issue 25): found between junctions (black, bars, idents, silences, logo changes)
-- over stream_segments; air times as there; evidence (the junctions' cues) and video_ids (the segments) JSON text.
CREATE TABLE IF NOT EXISTS programmes (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    air_start TEXT NOT NULL,
    air_end TEXT NOT NULL,
    title TEXT,
    title_source TEXT CHECK (title_source IN ('screen', 'speech')),  -- where the title was read; NULL: none
    evidence TEXT NOT NULL DEFAULT '{}',
    video_ids TEXT NOT NULL DEFAULT '[]',
    found_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS programmes_air ON programmes(channel, air_start);
-- Idents the user marked once (`clipwatch programmes ident add`): their Chromaprint items, little-endian uint32.
CREATE TABLE IF NOT EXISTS idents (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    duration REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idents_channel ON idents(channel);
