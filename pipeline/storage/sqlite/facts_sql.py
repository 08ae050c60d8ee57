"""The reads (and the one deliberate delete) that ``verify`` and ``clipwatch delete`` need, in SQL both catalogues
run alike through ``store.db`` (``?`` placeholders; PostgreSQL's adapter rewrites them).

Kept apart from ``catalogue.py`` so that the SQLite and PostgreSQL stores share it as it is.
"""

from __future__ import annotations

from typing import Any


def segment_rows(store: Any, transcript_id: int) -> list[Any]:
    """A transcript's lines as stored: idx, start, end, text, flags, in order."""
    return store.db.execute('SELECT idx, start, "end", text, flags FROM segments WHERE transcript_id = ? ORDER BY idx, id',
                            (transcript_id,)).fetchall()


def tag_rows(store: Any, video_id: str) -> list[Any]:
    """Every tag row of a video (model and human)."""
    return store.db.execute("SELECT category, score, decision, evidence, origin FROM tags WHERE video_id = ? "
                            "ORDER BY origin, category", (video_id,)).fetchall()


def lock_events(store: Any) -> None:
    """Hold the event log's append lock for the rest of the transaction before reading what an event will record:
    on PostgreSQL the advisory lock every appender takes (so a digest read here cannot be overtaken by another
    machine's newer one); SQLite's BEGIN IMMEDIATE already serialises writers."""
    if getattr(store, "backend", "sqlite") == "postgresql":
        from pipeline.storage.postgres.catalogue import EVENTS_LOCK

        store.conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENTS_LOCK,))


def event_by_id(store: Any, event_id: int) -> Any:
    """One event row, or None."""
    return store.db.execute("SELECT id, kind, at, hash FROM events WHERE id = ?", (int(event_id),)).fetchone()


def events_of_kind(store: Any, kind: str) -> list[Any]:
    """Every event of one kind, oldest first."""
    return store.db.execute("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()


def known_video_ids(store: Any) -> list[str]:
    """Every video the catalogue has a row for."""
    return [r["id"] for r in store.db.execute("SELECT id FROM videos ORDER BY id").fetchall()]


def delete_video_rows(store: Any, video_id: str) -> list[str]:
    """Delete a video's catalogue rows (the caller holds the transaction and records why). Files that no other
    video fetched are returned for the caller to remove; the events stay (the log is append-only).

    Arguments: store — the catalogue; video_id — the full id.
    Returns: the relative paths of the originals only this video held."""
    db = store.db
    only = [r["path"] for r in db.execute(
        "SELECT m.path FROM media_files m WHERE m.sha256 IN (SELECT sha256 FROM media_fetches WHERE video_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM media_fetches f WHERE f.sha256 = m.sha256 AND f.video_id != ?)",
        (video_id, video_id)).fetchall()]
    tids = [r["id"] for r in db.execute("SELECT id FROM transcripts WHERE video_id = ?", (video_id,)).fetchall()]
    sids = [r["id"] for t in tids for r in db.execute("SELECT id FROM segments WHERE transcript_id = ?", (t,)).fetchall()]
    present = _tables(store)
    if "segment_words" in present:  # (SQLite's delete trigger clears its search shadows and this table itself)
        for sid in sids:
            db.execute("DELETE FROM segment_words WHERE segment_id = ?", (sid,))
    for tid in tids:
        db.execute("DELETE FROM segments WHERE transcript_id = ?", (tid,))
        if "transcript_segments" in present:
            db.execute("DELETE FROM transcript_segments WHERE transcript_id = ?", (tid,))
    for table in ("transcripts", "keyframes", "tags", "stage_runs", "manifests", "audio_profiles",
                  "audio_fingerprints", "metadata_versions"):
        if table in present:
            db.execute(f"DELETE FROM {table} WHERE video_id = ?", (video_id,))
    if "copy_links" in present:
        db.execute("DELETE FROM copy_links WHERE original_id = ? OR copy_id = ?", (video_id, video_id))
    db.execute("DELETE FROM media_fetches WHERE video_id = ?", (video_id,))
    db.execute("DELETE FROM media_files WHERE NOT EXISTS (SELECT 1 FROM media_fetches f WHERE f.sha256 = media_files.sha256)"
               " AND sha256 NOT IN (SELECT media_sha256 FROM videos WHERE media_sha256 IS NOT NULL AND id != ?)", (video_id,))
    db.execute("DELETE FROM videos WHERE id = ?", (video_id,))
    return only


def _tables(store: Any) -> set[str]:
    if getattr(store, "backend", "sqlite") == "postgresql":
        return {r["tablename"] for r in store.db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
    return {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
