"""The search's SQL: full-text lookups, hit rows, filters, trends and the browse lists (issue 10: SQL lives here).

Indexes (schema.sql): ``norm_fts`` (words of trusted lines), ``norm_doubt_fts`` (words of lines flagged as
possible hallucinations), ``norm_trigram`` (substrings, for Korean/CJK), ``hangul_bigrams`` (1–2 character
Korean/CJK queries). All hold the normalised shadow text (``segment_norm``); the query language and the
normalisation live in ``pipeline/search/``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

# The index names and filters belong to the search contract (``pipeline.storage.searchindex``): FTS5 tables here.
from pipeline.storage.searchindex import (  # noqa: F401  (re-exported)
    BIGRAM,
    DOUBT,
    RECENT_VIDEOS_SQL,
    REMOVED_VIDEOS_SQL,
    TABLES,
    TAG_ROWS_SQL,
    TRIGRAM,
    WORD,
    Filters,
    order_by,
)


def rebuild_search_index(db: sqlite3.Connection) -> None:
    """Recompute the shadow text and every search index from ``segments`` (after a normalisation change)."""
    db.execute("DELETE FROM segment_norm")
    db.execute("INSERT INTO segment_norm(id, text) SELECT id, clipwatch_shadow(text) FROM segments")
    for t in TABLES:
        db.execute(f"INSERT INTO {t}({t}) VALUES ('delete-all')")
    db.execute(f"INSERT INTO {WORD}(rowid, text) SELECT n.id, n.text FROM segment_norm n JOIN segments s ON s.id = n.id WHERE s.flags = ''")
    db.execute(f"INSERT INTO {DOUBT}(rowid, text) SELECT n.id, n.text FROM segment_norm n JOIN segments s ON s.id = n.id WHERE s.flags != ''")
    db.execute(f"INSERT INTO {TRIGRAM}(rowid, text) SELECT id, text FROM segment_norm")
    db.execute(f"INSERT INTO {BIGRAM}(rowid, grams) SELECT id, g FROM (SELECT id, clipwatch_bigrams(text) AS g FROM segment_norm) WHERE g != ''")


def optimize_search_index(db: sqlite3.Connection) -> None:
    """Merge FTS5's index segments (what a nightly job or a bulk import does)."""
    for t in TABLES:
        db.execute(f"INSERT INTO {t}({t}) VALUES ('optimize')")


# -- filters ------------------------------------------------------------------------

# What a query the full-text engine cannot parse raises (an FTS5 syntax error): the search catches these to retry
# the query as a plain phrase, without knowing which database driver is underneath.
QUERY_SYNTAX_ERRORS: tuple[type[Exception], ...] = (sqlite3.OperationalError,)


def match_of(p: Any) -> str:
    """What ``match_ids`` takes for a plan: its FTS5 expression (PostgreSQL's module reads it into a tsquery)."""
    return p.match


def match_ids(db: sqlite3.Connection, table: str, match: str, filters: Filters, sort: str, offset: int, n: int,
              ranked: bool = True, newest_first: bool = False) -> list[tuple[int, float | None]]:
    """(segment id, bm25 or None) of the segments ``table`` MATCHes, filtered, ordered, one page.

    Unfiltered relevance queries read FTS5 alone; ``ranked=False`` orders by segment id (short Korean queries can
    match most of a catalogue: ranking them all would cost a scan)."""
    conds, args = filters.sql()
    if not conds and sort == "relevance":
        if ranked:
            sql = f"SELECT rowid, rank FROM {table} WHERE {table} MATCH ? ORDER BY rank, rowid LIMIT ? OFFSET ?"
        else:
            sql = f"SELECT rowid, NULL FROM {table} WHERE {table} MATCH ? ORDER BY rowid{' DESC' if newest_first else ''} LIMIT ? OFFSET ?"
        return [(r[0], r[1]) for r in db.execute(sql, (match, n, offset))]
    score = f"bm25({table})" if ranked else "NULL"
    sql = (
        f"SELECT s.id, {score} AS score FROM {table} f JOIN segments s ON s.id = f.rowid "
        "JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
        f"WHERE {table} MATCH ? {''.join(' AND ' + c for c in conds)} "
        f"ORDER BY {order_by(sort, ranked)} LIMIT ? OFFSET ?"
    )
    return [(r[0], r[1]) for r in db.execute(sql, (match, *args, n, offset))]


def term_docs(db: sqlite3.Connection, term: str) -> int:
    """Lines of the word index holding ``term`` (an index form, e.g. "nuclear", "5")."""
    row = db.execute("SELECT doc FROM norm_vocab WHERE term = ?", (term,)).fetchone()
    return int(row[0]) if row else 0


def count_matches(db: sqlite3.Connection, table: str, match: str, filters: Filters) -> int:
    conds, args = filters.sql()
    if not conds:
        return db.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (match,)).fetchone()[0]
    sql = (f"SELECT count(*) FROM {table} f JOIN segments s ON s.id = f.rowid JOIN transcripts t ON t.id = s.transcript_id "
           f"JOIN videos v ON v.id = s.video_id WHERE {table} MATCH ? {''.join(' AND ' + c for c in conds)}")
    return db.execute(sql, (match, *args)).fetchone()[0]


def filter_ids(db: sqlite3.Connection, filters: Filters, ids: list[int]) -> set[int]:
    """The segments among ``ids`` that still exist and pass the filters."""
    conds, args = filters.sql()
    out: set[int] = set()
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        sql = ("SELECT s.id FROM segments s JOIN transcripts t ON t.id = s.transcript_id JOIN videos v ON v.id = s.video_id "
               f"WHERE s.id IN ({','.join('?' * len(chunk))}){''.join(' AND ' + c for c in conds)}")
        out.update(r[0] for r in db.execute(sql, (*chunk, *args)))
    return out


# -- hit rows -------------------------------------------------------------------------

def segment_rows(db: sqlite3.Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
    if not ids:
        return {}
    return {
        r["id"]: r
        for r in db.execute(
            "SELECT s.id, s.video_id, s.start, s.end, s.text, s.flags, t.kind, t.language, w.words FROM segments s "
            "JOIN transcripts t ON t.id = s.transcript_id LEFT JOIN segment_words w ON w.segment_id = s.id "
            f"WHERE s.id IN ({','.join('?' * len(ids))})",
            ids,
        )
    }


def _chunks(values: list[Any], size: int = 900) -> Iterable[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def video_rows(db: Any, video_ids: list[str]) -> dict[str, Any]:
    """The page's videos by id, in one query per 900."""
    out: dict[str, Any] = {}
    for chunk in _chunks(list(dict.fromkeys(video_ids))):
        out.update((r["id"], r) for r in db.execute(f"SELECT * FROM videos WHERE id IN ({','.join('?' * len(chunk))})",
                                                     chunk).fetchall())
    return out


def media_rows(db: Any, sha256s: list[str | None]) -> dict[str, Any]:
    """(path, fetched_at) of the page's originals by SHA-256."""
    out: dict[str, Any] = {}
    for chunk in _chunks([x for x in dict.fromkeys(sha256s) if x]):
        out.update((r["sha256"], r) for r in db.execute(
            f"SELECT sha256, path, fetched_at FROM media_files WHERE sha256 IN ({','.join('?' * len(chunk))})",
            chunk).fetchall())
    return out


# Portable SQL both databases run (PostgreSQL's module fills ``{in_ids}`` / ``{ph}`` with its own forms).
def tag_rows(db: Any, video_ids: list[str]) -> dict[str, list[Any]]:
    """Each video's effective tags (a human correction wins over the model for its category), best score first."""
    out: dict[str, list[Any]] = {v: [] for v in video_ids}
    for chunk in _chunks(list(dict.fromkeys(video_ids))):
        for r in db.execute(TAG_ROWS_SQL.format(in_ids=f"IN ({','.join('?' * len(chunk))})"), chunk).fetchall():
            out[r["video_id"]].append(r)
    return out


def paired_line(db: sqlite3.Connection, video_id: str, kind: str, start: float, end: float) -> str | None:
    row = db.execute(
        "SELECT s.text FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
        "WHERE s.video_id = ? AND t.kind = ? AND s.start < ? AND s.end > ? "
        "ORDER BY abs(s.start - ?) LIMIT 1",
        (video_id, kind, max(end, start + 0.01), start, start),
    ).fetchone()
    return row[0] if row else None


def nearest_keyframe(db: sqlite3.Connection, video_id: str, t: float) -> sqlite3.Row | None:
    return db.execute(
        "SELECT time, path FROM keyframes WHERE video_id = ? "
        "ORDER BY (shot_start <= ? AND ? < shot_end) DESC, abs(time - ?) LIMIT 1",
        (video_id, t, t, t),
    ).fetchone()


def paired_lines(db: sqlite3.Connection, wanted: list[tuple[Any, str, str, float, float]]) -> dict[Any, str | None]:
    """``paired_line`` for a page of hits: (key, video id, kind wanted, start, end) -> {key: text or None}."""
    return {key: paired_line(db, vid, kind, start, end) for key, vid, kind, start, end in wanted}


def nearest_keyframes(db: sqlite3.Connection, wanted: list[tuple[Any, str, float]]) -> dict[Any, Any]:
    """``nearest_keyframe`` for a page of hits: (key, video id, time) -> {key: (time, path) row or None}."""
    return {key: nearest_keyframe(db, vid, t) for key, vid, t in wanted}


def segment_texts(db: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.execute(f"SELECT id, text FROM segments WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall())


def segment_ids(db: sqlite3.Connection) -> list[int]:
    """Every segment, flagged or not (doubtful lines stay findable), in id order."""
    return [r[0] for r in db.execute("SELECT id FROM segments ORDER BY id")]


# -- trends ---------------------------------------------------------------------------

PERIODS = {
    "week": "date(replace(v.upload_date, '/', '-'), '-6 days', 'weekday 1')",   # the Monday of the week
    "month": "substr(v.upload_date, 1, 7)",
    "year": "substr(v.upload_date, 1, 4)",
}


_RANGES: dict[tuple[str, int, int, int], Any] = {}
_TRANSCRIPT_FACTS: dict[tuple, list] = {}
ALL_TRANSCRIPTS_ABOVE = 2000   # transcripts with hits above which trends read every transcript's facts (cached)


def _segment_ranges(db: sqlite3.Connection):
    """(first ids, last ids, transcript ids) of each transcript's segments, sorted, or None when some transcript's
    segment ids are not one contiguous run (then the counting falls back to joins).

    ``replace_transcript`` inserts a transcript's lines in one statement, so their ids are contiguous: mapping an FTS
    rowid to its transcript is then a binary search, not three B-tree lookups. Cached per catalogue state."""
    import numpy as np

    db_file = db.execute("PRAGMA database_list").fetchone()[2] or ":memory:"
    key = (db_file, db.execute("SELECT COALESCE(max(id), 0) FROM segments").fetchone()[0],
           db.execute("SELECT count(*) FROM transcripts").fetchone()[0],
           db.execute("SELECT COALESCE(max(id), 0) FROM transcripts").fetchone()[0])
    if key in _RANGES:
        return _RANGES[key]
    rows = None
    if db.execute("SELECT count(*) FROM transcript_segments").fetchone()[0] == key[2]:
        rows = [(t, a, b, b - a + 1) for t, a, b in db.execute("SELECT transcript_id, first_id, last_id FROM transcript_segments")]
        # a transcript's range must hold only its own lines: check the ends (cheap), trust the middle
        if rows and db.execute(
                "SELECT count(*) FROM transcript_segments r JOIN segments s ON s.id IN (r.first_id, r.last_id) "
                "WHERE s.transcript_id != r.transcript_id").fetchone()[0]:
            rows = None
    if rows is None:  # catalogues written before the table existed, or ranges out of step: compute them (one scan)
        rows = db.execute("SELECT transcript_id, min(id), max(id), count(*) FROM segments GROUP BY transcript_id").fetchall()
    if any(r[2] - r[1] + 1 != r[3] for r in rows):
        out = None
    else:
        arr = np.array([(r[1], r[2], r[0]) for r in rows], dtype=np.int64).reshape(-1, 3)
        arr = arr[np.argsort(arr[:, 0])]
        out = (arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())
    if len(_RANGES) > 8:
        _RANGES.clear()
    _RANGES[key] = out
    return out


def mention_counts(db: sqlite3.Connection, tables: Iterable[tuple[str, str]], by: str, filters: Filters) -> list[dict[str, Any]]:
    """Hits and videos per (period, channel) for each (table, match); period None for videos without a date.

    Fast path: the matching rowids straight from FTS5, mapped to transcripts by id range (numpy), counted per
    transcript; the per-video facts (date, channel, filters) come from one query over the transcripts."""
    import numpy as np

    tables = list(tables)
    ranges = _segment_ranges(db)
    if ranges is None:
        return [dict(r) for r in _mention_counts_sql(db, tables, by, filters)]
    starts, ends, tids = ranges
    parts = []
    for t, m in tables:
        # group_concat: one string from C instead of a Python step per matching row (~2 µs each)
        joined = db.execute(f"SELECT group_concat(rowid) FROM {t} WHERE {t} MATCH ?", (m,)).fetchone()[0]
        if joined:
            parts.append(np.array(joined.split(","), dtype=np.int64))
    # trusted and doubtful lines are disjoint sets of rows: no need to deduplicate
    rowids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if not len(rowids) or not len(starts):
        return []
    pos = np.searchsorted(starts, rowids, side="right") - 1
    ok = (pos >= 0) & (rowids <= ends[np.maximum(pos, 0)])
    per_transcript = np.bincount(pos[ok], minlength=len(starts))
    nz = np.nonzero(per_transcript)[0]
    hit_t = dict(zip(tids[nz].tolist(), per_transcript[nz].tolist()))
    period = PERIODS[by]
    conds, args = filters.sql()
    head = (f"SELECT t.id, t.video_id, CASE WHEN v.upload_date GLOB '[0-9][0-9][0-9][0-9]-*' THEN {period} END AS period, "
            "COALESCE(v.channel, v.uploader, '') AS channel FROM transcripts t JOIN videos v ON v.id = t.video_id")
    if len(hit_t) > ALL_TRANSCRIPTS_ABOVE:  # most of the catalogue: one pass over the transcripts beats thousands of lookups
        # cached until anything in the catalogue changes (data_version: other connections; total_changes: this one)
        key = (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes, id(db), by, tuple(conds), tuple(args))
        rows = _TRANSCRIPT_FACTS.get(key)
        if rows is None:
            rows = db.execute(head + (" WHERE " + " AND ".join(conds) if conds else ""), args).fetchall()
            if len(_TRANSCRIPT_FACTS) > 16:
                _TRANSCRIPT_FACTS.clear()
            _TRANSCRIPT_FACTS[key] = rows
    else:
        ids = list(hit_t)
        rows = []
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            rows += db.execute(head + f" WHERE t.id IN ({','.join('?' * len(chunk))}){''.join(' AND ' + c for c in conds)}",
                               (*chunk, *args)).fetchall()
    out: dict[tuple[Any, str], dict[str, Any]] = {}
    seen_videos: dict[tuple[Any, str], set[str]] = {}
    for tid, vid, per, chan in rows:
        n = hit_t.get(tid)
        if not n:
            continue
        k = (per, chan)
        d = out.get(k)
        if d is None:
            d = out[k] = {"period": per, "channel": chan, "hits": 0, "videos": 0}
            seen_videos[k] = set()
        d["hits"] += n
        seen_videos[k].add(vid)
    for k, d in out.items():
        d["videos"] = len(seen_videos[k])
    return sorted(out.values(), key=lambda d: (d["period"] or "", d["channel"]))


def _mention_counts_sql(db: sqlite3.Connection, tables: list[tuple[str, str]], by: str, filters: Filters) -> list[sqlite3.Row]:
    period = PERIODS[by]
    conds, args = filters.sql()
    parts, all_args = [], []
    for table, match in tables:
        parts.append(
            f"SELECT f.rowid AS id FROM {table} f WHERE {table} MATCH ?"
        )
        all_args.append(match)
    union = " UNION ".join(parts)
    sql = (
        f"SELECT CASE WHEN v.upload_date GLOB '[0-9][0-9][0-9][0-9]-*' THEN {period} END AS period, "
        "COALESCE(v.channel, v.uploader, '') AS channel, count(*) AS hits, count(DISTINCT s.video_id) AS videos "
        f"FROM ({union}) m JOIN segments s ON s.id = m.id JOIN transcripts t ON t.id = s.transcript_id "
        f"JOIN videos v ON v.id = s.video_id {'WHERE ' + ' AND '.join(conds) if conds else ''} "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return db.execute(sql, (*all_args, *args)).fetchall()


# -- browse -----------------------------------------------------------------------------

def channels(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return db.execute(
        """SELECT COALESCE(channel, uploader, '(unknown channel)') AS channel, max(channel_id) AS channel_id,
                  max(channel_url) AS channel_url, count(*) AS videos,
                  min(upload_date) AS first_upload, max(upload_date) AS last_upload,
                  sum(status = 'removed') AS removed, max(archived_at) AS last_archived
           FROM videos GROUP BY 1 ORDER BY videos DESC, channel COLLATE NOCASE"""
    ).fetchall()


def removed_videos(db: sqlite3.Connection, limit: int = 500) -> list[sqlite3.Row]:
    return db.execute(REMOVED_VIDEOS_SQL.format(ph="?"), (limit,)).fetchall()


def recent_videos(db: sqlite3.Connection, limit: int = 100) -> list[sqlite3.Row]:
    return db.execute(RECENT_VIDEOS_SQL.format(ph="?"), (limit,)).fetchall()
