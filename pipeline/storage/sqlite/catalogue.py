"""The SQLite catalogue: one file, WAL mode, schema in ``schema.sql`` — the SQLite dialect of ``SQLCatalogue``.

The database holds the catalogue and the chain of custody; media and derivatives
live in the archive folder and are referenced by relative path. Every write that
belongs together runs in one transaction, so a crash never leaves a video half
indexed. The portable SQL is in ``pipeline.storage.catalogue``; here is what SQLite does its own way: the file and
its read-only opening, BEGIN IMMEDIATE as the single writer's lock, AUTOINCREMENT numbering the events, FTS5 kept
by triggers (``search_index``), and the writes that differ (transcripts, a video's upsert, case-folded ordering).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline.domain import (
    MediaRecord,
    VideoRecord,
    make_video_id,
    pack_words,
    tag_dicts,
    to_signed64,
    to_unsigned64,
    unpack_words,
    utcnow,
)
from pipeline.errors import ClipwatchError, ConfigError, NotFoundError
from pipeline.storage.base import SearchIndex
from pipeline.storage.catalogue import SEARCH_INDEX_VERSION, SQLCatalogue, upsert_video_values
from pipeline.storage.searchindex import SQLSearchIndex
from pipeline.storage.sqlite import migrations, search
from pipeline.text import normalize

# The domain records were defined here before ``pipeline.domain``; still importable from here for code not yet
# moved (new code imports ``pipeline.domain``).
__all__ = ["Store", "ReadOnlyArchiveError", "SEARCH_INDEX_VERSION", "SCHEMA_VERSION", "MediaRecord", "VideoRecord",
           "make_video_id", "pack_words", "tag_dicts", "to_signed64", "to_unsigned64", "unpack_words", "utcnow"]

SCHEMA_VERSION = migrations.LATEST

# The triggers that keep the events append-only and chained (schema.sql).
EVENT_TRIGGERS = ("events_no_update", "events_no_delete", "events_chain_insert")


class ReadOnlyArchiveError(ClipwatchError):
    """A write was asked of an archive opened read-only."""


class Store(SQLCatalogue):
    """A connection to the catalogue. Use as a context manager or call close().

    ``readonly=True`` opens the file for reading only and never writes (no migration, no WAL switch): a copy of an
    archive on read-only media can be listed, searched, verified, served and exported. ``Store.for_reading(path)``
    chooses: read-only when the database or its folder cannot be written, else a normal (migrating) open.
    """

    def __init__(self, db_path: Path, readonly: bool = False):
        self.path = Path(db_path)
        self.readonly = readonly
        self.upgraded: dict[str, Any] | None = None
        # The archive folder this catalogue stands in (vector index files, the default archive root).
        self.data_dir: Path | None = self.path.parent
        if readonly:
            self.db = _connect_readonly(self.path)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create the archive folder {self.path.parent}: {exc.strerror or exc}; "
                                  "pass --data-dir a folder you can write") from exc
            try:
                self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
                self.db.row_factory = sqlite3.Row
                self.db.execute("PRAGMA busy_timeout=30000")
                self.db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"{self.path} cannot be opened as a clipwatch catalogue ({exc}); "
                                  "check --data-dir / CLIPWATCH_DATA") from exc
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=30000")
        # The search triggers call these (see schema.sql); a tool that writes segments must register them too.
        self.db.create_function("clipwatch_shadow", 1, normalize.shadow, deterministic=True)
        self.db.create_function("clipwatch_bigrams", 1, normalize.bigrams, deterministic=True)
        if readonly:
            version = migrations.current_version(self.db)
            if version != migrations.LATEST:
                self.db.close()
                raise ConfigError(
                    f"{self.path} is read-only here and was written by {'an older' if (version or 0) < migrations.LATEST else 'a newer'} "
                    f"clipwatch (schema version {version}, this one reads {migrations.LATEST}); open it once where it can be "
                    "written to upgrade it (a backup copy is made first), or use the matching clipwatch version")
        else:
            self.upgraded = migrations.migrate(self.db, self.path, utcnow)
            self._rebuild_search_index_if_stale()

    @property
    def search_index(self) -> SearchIndex:
        """FTS5 over the shadow text (``pipeline.storage.sqlite.search``), kept by triggers on ``segments``."""
        return SQLSearchIndex(search, self.db)

    @classmethod
    def for_reading(cls, db_path: Path) -> "Store":
        """Open for a command that only reads: read-only when the archive cannot be written."""
        path = Path(db_path)
        if not path.exists():
            if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
                raise NotFoundError(f"no clipwatch catalogue at {path}; check --data-dir / CLIPWATCH_DATA")
            return cls(path)
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        return cls(path, readonly=not writable)

    def _writable(self) -> None:
        if self.readonly:
            raise ReadOnlyArchiveError(f"{self.path} is opened read-only; copy the archive somewhere writable to change it")

    def _rebuild_search_index_if_stale(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'search_index_version'").fetchone()
        if row is not None and row[0] == SEARCH_INDEX_VERSION:
            return
        with self.transaction():
            search.rebuild_search_index(self.db)
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('search_index_version', ?)", (SEARCH_INDEX_VERSION,))

    def close(self) -> None:
        self.db.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file, so the file alone holds everything (before it is
        copied, e.g. onto read-only media)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> "Store":
        return self

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: SQLite's one writer holds the file until COMMIT; nested calls join the outer one."""
        self._writable()
        if self.db.in_transaction:  # nested: join the outer transaction
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- the dialect -------------------------------------------------------------------------------------------
    P = "?"
    LIKE_CI = "LIKE"  # SQLite's LIKE ignores ASCII case
    EVENT_TRIGGERS = EVENT_TRIGGERS

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def _insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.db.execute(sql, params).lastrowid or 0)

    def _lock_events(self) -> None:
        """Nothing more to hold: BEGIN IMMEDIATE already made this the only writer."""

    def _table_names(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _insert_event(self, ev: dict[str, Any]) -> int:
        # AUTOINCREMENT numbers it: ids deleted from the end of the log are never issued again (chain_report sees it)
        return self._insert_id(
            "INSERT INTO events(video_id, source_id, media_sha256, at, kind, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ev["video_id"], ev["source_id"], ev["media_sha256"], ev["at"], ev["kind"], ev["detail"], ev["prev_hash"], ev["hash"]))

    def _events_issued(self) -> int | None:
        seq = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(seq[0]) if seq is not None else None

    def _event_triggers(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")}


    # -- what SQLite writes its own way ----------------------------------------------------------------------------
    def upsert_video(self, rec: VideoRecord, folder: str) -> bool:
        """Insert or refresh a video's metadata. Returns True when the metadata changed."""
        d = upsert_video_values(rec)
        with self.transaction():
            old = self.find_video(rec.id)
            if old is None:
                cols = [*d.keys(), "folder", "archived_at"]
                self.db.execute(
                    f"INSERT INTO videos({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    (*d.values(), folder, utcnow()),
                )
                return True
            changed = any(old[k] != d[k] for k in ("title", "description", "platform_tags"))
            keys = [k for k in d if k != "id"]
            self.db.execute(
                f"UPDATE videos SET {', '.join(f'{k} = COALESCE(?, {k})' for k in keys)} WHERE id = ?",
                (*(d[k] for k in keys), rec.id),
            )
            return changed

    def filter_options(self) -> dict[str, list[str]]:
        """The values a search form offers: channels, tag categories, spoken languages."""
        return {
            "channels": [r[0] for r in self.db.execute(
                "SELECT DISTINCT channel FROM videos WHERE channel IS NOT NULL ORDER BY channel COLLATE NOCASE")],
            "categories": [r[0] for r in self.db.execute("SELECT DISTINCT category FROM tags ORDER BY category")],
            "languages": [r[0] for r in self.db.execute(
                "SELECT DISTINCT language FROM videos WHERE language IS NOT NULL ORDER BY language")],
        }

    def replace_transcript(self, video_id: str, media_sha256: str, kind: str, transcript: Any, path: str | None) -> int:
        """Store a transcript (original or translation) and its segments; FTS follows by trigger."""
        with self.transaction():
            old = self.db.execute("SELECT id FROM transcripts WHERE video_id = ? AND kind = ?", (video_id, kind)).fetchone()
            if old is not None:
                self.db.execute("DELETE FROM segments WHERE transcript_id = ?", (old["id"],))
                self.db.execute("DELETE FROM transcripts WHERE id = ?", (old["id"],))
            cur = self.db.execute(
                "INSERT INTO transcripts(video_id, media_sha256, kind, language, language_probability, model, engine, engine_version, duration, created_at, path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (video_id, media_sha256, kind, transcript.language, transcript.language_probability, transcript.model,
                 transcript.engine, transcript.engine_version, transcript.duration, utcnow(), path),
            )
            tid = int(cur.lastrowid or 0)
            before = self.db.execute("SELECT COALESCE(max(id), 0) FROM segments").fetchone()[0]
            self.db.executemany(
                "INSERT INTO segments(transcript_id, video_id, idx, start, end, text, avg_logprob, no_speech_prob, compression_ratio, flags)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (tid, video_id, i, s.start, s.end, s.text.strip(), s.avg_logprob, s.no_speech_prob, s.compression_ratio, ",".join(s.flags))
                    for i, s in enumerate(transcript.segments)
                ],
            )
            after = self.db.execute("SELECT COALESCE(max(id), 0) FROM segments").fetchone()[0]
            if after > before:
                self.db.execute("INSERT OR REPLACE INTO transcript_segments(transcript_id, first_id, last_id) VALUES (?, ?, ?)",
                                (tid, before + 1, after))
            timed = [(i, s) for i, s in enumerate(transcript.segments) if getattr(s, "words", None)]
            if timed:
                ids = dict(self.db.execute("SELECT idx, id FROM segments WHERE transcript_id = ?", (tid,)).fetchall())
                self.db.executemany(
                    "INSERT OR REPLACE INTO segment_words(segment_id, words) VALUES (?, ?)",
                    [(ids[i], pack_words(s.text.strip(), s.words)) for i, s in timed if i in ids],
                )
            if kind == "original" and transcript.language:
                self.db.execute("UPDATE videos SET language = ? WHERE id = ?", (transcript.language, video_id))
            return tid


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Open without writing anything: ``mode=ro``, and ``immutable=1`` when even the WAL index cannot be created."""
    from urllib.parse import quote

    if not path.is_file():
        raise NotFoundError(f"no clipwatch catalogue at {path}; check --data-dir / CLIPWATCH_DATA")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if not os.access(path.parent, os.W_OK):
        # A WAL database needs its -shm file; on read-only media nobody else can write, so nothing can change.
        uri += "&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} cannot be read as a clipwatch catalogue ({exc})") from exc
    return db
