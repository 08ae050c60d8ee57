"""The SQLite catalogue: one file, WAL mode, schema in ``schema.sql``.

The database holds the catalogue and the chain of custody; media and derivatives
live in the archive folder and are referenced by relative path. Every write that
belongs together runs in one transaction, so a crash never leaves a video half
indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from pipeline.errors import ClipwatchError, ConfigError, NotFoundError
from pipeline.storage.sqlite import chain, migrations
from pipeline.search import normalize

# What the search indexes hold (normalize.VERSION) and how: a change rebuilds them when a catalogue is opened.
SEARCH_INDEX_VERSION = f"{normalize.VERSION}.1"

SCHEMA_VERSION = migrations.LATEST


class ReadOnlyArchiveError(ClipwatchError):
    """A write was asked of an archive opened read-only."""


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def make_video_id(extractor: str, platform_id: str, webpage_url: str) -> str:
    """Readable and stable: the platform's id plus a short hash of where it came from.

    yt-dlp's generic extractor names a direct file by its stem, so clip.mp4 and
    clip.webm share an id; the hash of extractor + id + URL keeps them apart.
    """
    digest = hashlib.sha1(f"{extractor}\n{platform_id}\n{webpage_url}".encode()).hexdigest()[:6]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", platform_id).strip("_")[:40] or "video"
    ext = re.sub(r"[^a-z0-9]+", "", extractor.lower())[:16] or "src"
    return f"{ext}-{slug}-{digest}"


def to_signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def to_unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass
class VideoRecord:
    id: str
    extractor: str
    platform_id: str
    webpage_url: str
    source_url: str
    title: str | None = None
    description: str | None = None
    channel: str | None = None
    channel_id: str | None = None
    channel_url: str | None = None
    uploader: str | None = None
    upload_date: str | None = None
    duration: float | None = None
    categories: list[str] = field(default_factory=list)
    platform_tags: list[str] = field(default_factory=list)
    source_id: int | None = None


@dataclass
class MediaRecord:
    sha256: str
    video_id: str
    path: str
    size: int
    fetched_at: str
    fetcher: str
    fetcher_version: str | None = None
    clipwatch_version: str | None = None
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    format_id: str | None = None
    source_url: str | None = None
    final_url: str | None = None
    http_status: int | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    fetch_started_at: str | None = None


class Store:
    """A connection to the catalogue. Use as a context manager or call close().

    ``readonly=True`` opens the file for reading only and never writes (no migration, no WAL switch): a copy of an
    archive on read-only media can be listed, searched, verified, served and exported. ``Store.for_reading(path)``
    chooses: read-only when the database or its folder cannot be written, else a normal (migrating) open.
    """

    def __init__(self, db_path: Path, readonly: bool = False):
        self.path = Path(db_path)
        self.readonly = readonly
        self.upgraded: dict[str, Any] | None = None
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
    def data_dir(self) -> Path:
        """The archive folder this catalogue stands in (vector index files, the default archive root)."""
        return self.path.parent

    @property
    def search_sql(self) -> Any:
        """The search's SQL for this database (``pipeline.storage.sqlite.search``; PostgreSQL has its own module with
        the same functions), so ``pipeline.search`` runs one code path on either."""
        from pipeline.storage.sqlite import search

        return search

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
        from pipeline.storage.sqlite.search import rebuild_search_index

        with self.transaction():
            rebuild_search_index(self.db)
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('search_index_version', ?)", (SEARCH_INDEX_VERSION,))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._writable()
        if self.db.in_transaction:  # nested: join the outer transaction
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- sources -----------------------------------------------------------
    def upsert_source(self, url: str, kind: str = "unknown", title: str | None = None, watched: bool | None = None) -> int:
        with self.transaction():
            row = self.db.execute("SELECT id FROM sources WHERE url = ?", (url,)).fetchone()
            if row is None:
                cur = self.db.execute(
                    "INSERT INTO sources(url, kind, title, watched, added_at) VALUES (?, ?, ?, ?, ?)",
                    (url, kind, title, int(bool(watched)), utcnow()),
                )
                return int(cur.lastrowid)
            sets, args = ["kind = CASE WHEN ? != 'unknown' THEN ? ELSE kind END", "title = COALESCE(?, title)"], [kind, kind, title]
            if watched is not None:
                sets.append("watched = ?")
                args.append(int(watched))
            self.db.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*args, row["id"]))
            return int(row["id"])

    # -- videos ------------------------------------------------------------
    def get_video(self, video_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        if row is None:
            # Accept an unambiguous prefix, as git does for commits.
            rows = self.db.execute("SELECT * FROM videos WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (_like_prefix(video_id),)).fetchall()
            if len(rows) == 1:
                return rows[0]
            raise NotFoundError(f"no archived video with id {video_id!r}; `clipwatch list` shows the ids")
        return row

    def find_video(self, video_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()

    def video_by_sha256(self, sha256: str) -> sqlite3.Row | None:
        """The first video that fetched this file (``videos_holding`` gives them all)."""
        return self.db.execute(
            "SELECT v.* FROM videos v JOIN media_fetches l ON l.video_id = v.id WHERE l.sha256 = ? ORDER BY l.id LIMIT 1", (sha256,)
        ).fetchone()

    def videos_holding(self, sha256: str) -> list[str]:
        """Every video whose original is this file (the same bytes published on several pages)."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT video_id FROM media_fetches WHERE sha256 = ? ORDER BY video_id", (sha256,))]

    def upsert_video(self, rec: VideoRecord, folder: str) -> bool:
        """Insert or refresh a video's metadata. Returns True when the metadata changed."""
        d = asdict(rec)
        d["categories"] = json.dumps(rec.categories, ensure_ascii=False)
        d["platform_tags"] = json.dumps(rec.platform_tags, ensure_ascii=False)
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

    def set_video_fields(self, video_id: str, **fields: Any) -> None:
        if not fields:
            return
        with self.transaction():
            self.db.execute(
                f"UPDATE videos SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", (*fields.values(), video_id)
            )

    def add_metadata_version(self, video_id: str, title: str | None, description: str | None, platform_tags: list[str],
                             info_json_path: str | None, seen_at: str | None = None) -> None:
        """Add a metadata version — unless it says exactly what the latest one says (a version is a change)."""
        with self.transaction():
            last = self.db.execute("SELECT title, description, platform_tags FROM metadata_versions WHERE video_id = ? "
                                   "ORDER BY id DESC LIMIT 1", (video_id,)).fetchone()
            if last is not None and (last["title"], last["description"], last["platform_tags"]) == (
                    title, description, json.dumps(platform_tags, ensure_ascii=False)):
                return
            self.db.execute(
                "INSERT INTO metadata_versions(video_id, seen_at, title, description, platform_tags, info_json_path) VALUES (?, ?, ?, ?, ?, ?)",
                (video_id, seen_at or utcnow(), title, description, json.dumps(platform_tags, ensure_ascii=False), info_json_path),
            )

    def metadata_versions(self, video_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM metadata_versions WHERE video_id = ? ORDER BY id", (video_id,)).fetchall()

    def list_videos(self, limit: int = 1000) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM videos ORDER BY COALESCE(upload_date, '') DESC, archived_at DESC LIMIT ?", (limit,)
        ).fetchall()

    def video_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM videos").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.db.execute("SELECT status, COUNT(*) AS n FROM videos GROUP BY status")}

    def suspect_count(self) -> int:
        """Videos whose last check failed but whose removal is not confirmed yet."""
        return int(self.db.execute("SELECT COUNT(*) FROM videos WHERE failed_checks > 0 AND status != 'removed'").fetchone()[0])

    def filter_options(self) -> dict[str, list[str]]:
        """The values a search form offers: channels, tag categories, spoken languages."""
        return {
            "channels": [r[0] for r in self.db.execute(
                "SELECT DISTINCT channel FROM videos WHERE channel IS NOT NULL ORDER BY channel COLLATE NOCASE")],
            "categories": [r[0] for r in self.db.execute("SELECT DISTINCT category FROM tags ORDER BY category")],
            "languages": [r[0] for r in self.db.execute(
                "SELECT DISTINCT language FROM videos WHERE language IS NOT NULL ORDER BY language")],
        }


    def all_videos(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM videos").fetchall()

    def video_ids(self, order: str = "archived") -> list[str]:
        """Every video id, in archiving order (``archived``) or upload order (``upload``)."""
        by = {"archived": "archived_at, id", "upload": "upload_date, id"}[order]
        return [r[0] for r in self.db.execute(f"SELECT id FROM videos ORDER BY {by}")]

    def checkable_video_ids(self) -> list[str]:
        """Every video that has a page to re-check (not a local file), by id."""
        return [r[0] for r in self.db.execute("SELECT id FROM videos WHERE extractor != 'local' ORDER BY id")]

    def video_ids_by_channel(self, channel: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT id FROM videos WHERE lower(channel) = lower(?) OR channel_id = ? OR channel_url = ? OR lower(uploader) = lower(?)"
            " ORDER BY upload_date, id", (channel, channel, channel, channel))]

    def video_ids_by_title(self, text: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM videos WHERE title LIKE ? ORDER BY upload_date, id", (f"%{text}%",))]

    def video_urls(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT webpage_url FROM videos")}

    # -- sources and their monitoring state ----------------------------------
    def source(self, source_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()

    def watched_source_rows(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM sources WHERE watched = 1 ORDER BY id").fetchall()

    def watched_sources_with_state(self) -> list[sqlite3.Row]:
        return self.db.execute(
            """SELECT s.*, c.status AS status, c.status_kind, c.status_reason, c.failed_checks,
                      (SELECT COUNT(*) FROM videos v WHERE v.source_id = s.id) AS videos
               FROM sources s LEFT JOIN source_checks c ON c.source_id = s.id WHERE s.watched = 1 ORDER BY s.id"""
        ).fetchall()

    def source_check(self, source_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM source_checks WHERE source_id = ?", (source_id,)).fetchone()

    def set_source_list_error(self, source_id: int, error: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE sources SET last_list_error = ? WHERE id = ?", (error, source_id))

    def source_listed(self, source_id: int, at: str, title: str | None) -> None:
        """A watched source listed fine: clear its failures (and a removal)."""
        with self.transaction():
            self.db.execute("UPDATE sources SET last_listed_at = ?, last_list_error = NULL, title = COALESCE(?, title) WHERE id = ?",
                            (at, title, source_id))
            self.db.execute(
                "INSERT INTO source_checks(source_id, status, failed_checks, last_checked_at, status_changed_at) VALUES (?, 'available', 0, ?, ?)"
                " ON CONFLICT(source_id) DO UPDATE SET failed_checks = 0, first_failed_at = NULL, last_checked_at = excluded.last_checked_at,"
                " status_changed_at = CASE WHEN source_checks.status = 'removed' THEN excluded.status_changed_at"
                " ELSE source_checks.status_changed_at END,"
                " status = 'available', status_kind = NULL, status_reason = NULL",
                (source_id, at, at))

    def source_checked(self, source_id: int, at: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE source_checks SET last_checked_at = ? WHERE source_id = ?", (at, source_id))

    def source_failed(self, source_id: int, failed: int, first_failed_at: str, at: str,
                      removed: tuple[str, str] | None = None) -> None:
        """Count a failed listing; ``removed=(kind, reason)`` records the source as removed."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO source_checks(source_id, status, failed_checks, first_failed_at, last_checked_at) VALUES (?, 'available', ?, ?, ?)"
                " ON CONFLICT(source_id) DO UPDATE SET failed_checks = excluded.failed_checks, first_failed_at = excluded.first_failed_at,"
                " last_checked_at = excluded.last_checked_at",
                (source_id, failed, first_failed_at, at))
            if removed:
                self.db.execute("UPDATE source_checks SET status = 'removed', status_kind = ?, status_reason = ?, status_changed_at = ?"
                                " WHERE source_id = ?", (removed[0], removed[1], at, source_id))

    # -- media -------------------------------------------------------------
    def add_media_file(self, rec: MediaRecord) -> None:
        """Catalogue a video's fetch of a file: the file once (by SHA-256), the fetch once per video."""
        with self.transaction():
            # (ON CONFLICT … DO NOTHING rather than INSERT OR IGNORE: PostgreSQL runs this method too)
            self.db.execute(
                "INSERT INTO media_files(sha256, path, size, container, video_codec, audio_codec, width, height, duration, fetched_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                (rec.sha256, rec.path, rec.size, rec.container, rec.video_codec, rec.audio_codec, rec.width, rec.height,
                 rec.duration, rec.fetched_at))
            self.db.execute(
                "INSERT INTO media_fetches(video_id, sha256, format_id, source_url, final_url, http_status, http_headers,"
                " fetch_started_at, fetched_at, fetcher, fetcher_version, clipwatch_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (video_id, sha256) DO NOTHING",
                (rec.video_id, rec.sha256, rec.format_id, rec.source_url, rec.final_url, rec.http_status,
                 json.dumps(rec.http_headers), rec.fetch_started_at, rec.fetched_at, rec.fetcher, rec.fetcher_version,
                 rec.clipwatch_version))
            self.db.execute("UPDATE videos SET media_sha256 = ? WHERE id = ?", (rec.sha256, rec.video_id))

    def media_file(self, sha256: str, video_id: str | None = None) -> sqlite3.Row | None:
        """The file joined with a video's fetch of it (``video_id``'s own provenance; the first fetch when None)."""
        if video_id is not None:
            return self.db.execute("SELECT * FROM video_media WHERE sha256 = ? AND video_id = ? ORDER BY fetched_at LIMIT 1",
                                   (sha256, video_id)).fetchone()
        return self.db.execute("SELECT * FROM video_media WHERE sha256 = ? ORDER BY fetched_at LIMIT 1", (sha256,)).fetchone()

    def video_media(self, video_id: str) -> sqlite3.Row | None:
        """A video's current original, with that video's own fetch provenance."""
        v = self.find_video(video_id)
        return self.media_file(v["media_sha256"], v["id"]) if v is not None and v["media_sha256"] else None

    def media_for_video(self, video_id: str) -> list[sqlite3.Row]:
        """Every original a video has had (one row per fetch), oldest first."""
        return self.db.execute("SELECT * FROM video_media WHERE video_id = ? ORDER BY fetched_at", (video_id,)).fetchall()

    def media_rows(self) -> list[sqlite3.Row]:
        """Every file in the catalogue, one row each."""
        return self.db.execute("SELECT * FROM media_files ORDER BY sha256").fetchall()

    # -- events ------------------------------------------------------------
    def add_event(self, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                  media_sha256: str | None = None, detail: dict[str, Any] | None = None) -> int:
        """Append one event to the hash-chained log (see ``chain``); returns its id."""
        with self.transaction():
            return chain.append_event(self.db, kind, video_id=video_id, source_id=source_id, media_sha256=media_sha256,
                                      detail=detail, at=utcnow())

    def chain_report(self) -> chain.ChainReport:
        """Walk the event chain: the first broken link, the head (id, hash) to keep elsewhere."""
        return chain.walk(self.db)

    def chain_head(self) -> tuple[int, str, str]:
        return chain.head(self.db)

    def manifest_record(self, video_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM manifests WHERE video_id = ?", (video_id,)).fetchone()

    def set_manifest_record(self, video_id: str, path: str, sha256: str, files: int) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO manifests(video_id, path, sha256, files, recorded_at) VALUES (?, ?, ?, ?, ?)"
                            " ON CONFLICT (video_id) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256,"
                            " files = excluded.files, recorded_at = excluded.recorded_at",
                            (video_id, path, sha256, files, utcnow()))

    def last_event(self, video_id: str, kind: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM events WHERE video_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                               (video_id, kind)).fetchone()

    def fetched_events(self, video_id: str, sha256: str) -> list[sqlite3.Row]:
        """The `fetched` events that recorded this video getting this file."""
        return self.db.execute("SELECT * FROM events WHERE video_id = ? AND kind = 'fetched' AND media_sha256 = ? ORDER BY id",
                               (video_id, sha256)).fetchall()

    def events_of_kinds(self, kinds: Iterable[str], limit: int = 1000) -> list[sqlite3.Row]:
        """The latest events of these kinds, newest first (host outages, retractions: few, read by kind)."""
        kinds = list(kinds)
        marks = ", ".join("?" for _ in kinds)
        return self.db.execute(f"SELECT * FROM events WHERE kind IN ({marks}) ORDER BY id DESC LIMIT ?",
                               (*kinds, int(limit))).fetchall()

    def events(self, video_id: str | None = None) -> list[sqlite3.Row]:
        if video_id is None:
            return self.db.execute("SELECT * FROM events ORDER BY id").fetchall()
        return self.db.execute("SELECT * FROM events WHERE video_id = ? ORDER BY id", (video_id,)).fetchall()

    # -- derivatives -------------------------------------------------------
    def replace_keyframes(self, video_id: str, media_sha256: str, keyframes: Iterable[Any], detector: str, tool_version: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM keyframes WHERE video_id = ?", (video_id,))
            self.db.executemany(
                "INSERT INTO keyframes(video_id, media_sha256, shot_index, shot_start, shot_end, time, path, phash, detector, tool_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (video_id, media_sha256, k.shot_index, k.shot_start, k.shot_end, k.time, k.path, to_signed64(k.phash), detector, tool_version)
                    for k in keyframes
                ],
            )

    def keyframe_hashes(self) -> list[sqlite3.Row]:
        """(video_id, time, phash, shot_start, shot_end) of every keyframe: the rows a re-upload index is built from."""
        return self.db.execute("SELECT video_id, time, phash, shot_start, shot_end FROM keyframes").fetchall()

    def keyframes(self, video_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM keyframes WHERE video_id = ? ORDER BY time", (video_id,)).fetchall()

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
            tid = int(cur.lastrowid)
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

    def transcript_rows(self, video_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM transcripts WHERE video_id = ? ORDER BY kind", (video_id,)).fetchall()

    def segments(self, video_id: str, kind: str = "original") -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT s.* FROM segments s JOIN transcripts t ON t.id = s.transcript_id WHERE s.video_id = ? AND t.kind = ? ORDER BY s.start",
            (video_id, kind),
        ).fetchall()

    def replace_tags(self, video_id: str, tags: Iterable[Any], model_version: str) -> None:
        """Replace the model's tags; human corrections (origin='human') are kept."""
        with self.transaction():
            self.db.execute("DELETE FROM tags WHERE video_id = ? AND origin = 'model'", (video_id,))
            self.db.executemany(
                "INSERT INTO tags(video_id, category, score, decision, evidence, origin, model_version, created_at) VALUES (?, ?, ?, ?, ?, 'model', ?, ?)",
                [(video_id, t.category, float(t.score), int(t.decision), json.dumps(list(t.evidence), ensure_ascii=False), model_version, utcnow()) for t in tags],
            )

    def replace_audio_profile(self, video_id: str, media_sha256: str, profile: Any, path: str | None) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO audio_profiles(video_id, media_sha256, model_version, duration, speech, music, silence,"
                " path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (video_id) DO UPDATE SET"
                " media_sha256 = excluded.media_sha256, model_version = excluded.model_version, duration = excluded.duration,"
                " speech = excluded.speech, music = excluded.music, silence = excluded.silence, path = excluded.path,"
                " created_at = excluded.created_at",
                (video_id, media_sha256, getattr(profile, "version", "") or profile.model_version, profile.duration, profile.speech, profile.music,
                 profile.silence, path, utcnow()),
            )

    def audio_profile_row(self, video_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM audio_profiles WHERE video_id = ?", (video_id,)).fetchone()

    def set_human_tag(self, video_id: str, category: str, value: bool, evidence: list[str]) -> None:
        """A person's decision for one category (origin 'human'): replaces an earlier one, never the model's."""
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO tags(video_id, category, score, decision, evidence, origin, model_version, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'human', 'human', ?)",
                (video_id, category, 1.0 if value else 0.0, int(bool(value)), json.dumps(evidence, ensure_ascii=False), utcnow()),
            )

    def clear_human_tag(self, video_id: str, category: str) -> bool:
        with self.transaction():
            cur = self.db.execute("DELETE FROM tags WHERE video_id = ? AND category = ? AND origin = 'human'", (video_id, category))
        return cur.rowcount > 0

    def mark_stage(self, video_id: str, stage: str, key: str, detail: dict[str, Any] | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO stage_runs(video_id, stage, key, finished_at, detail) VALUES (?, ?, ?, ?, ?)",
                (video_id, stage, key, utcnow(), json.dumps(detail or {}, ensure_ascii=False)),
            )

    def stage_done(self, video_id: str, stage: str, key: str) -> bool:
        return stage_done(self, video_id, stage, key)

    def tags(self, video_id: str) -> list[sqlite3.Row]:
        """Effective tags: a human correction wins over the model for its category."""
        return self.db.execute(
            """SELECT * FROM tags t WHERE video_id = ? AND (origin = 'human' OR NOT EXISTS
                 (SELECT 1 FROM tags h WHERE h.video_id = t.video_id AND h.category = t.category AND h.origin = 'human'))
               ORDER BY score DESC""",
            (video_id,),
        ).fetchall()


def pack_words(text: str, words: Iterable[Any]) -> str:
    """Word timings as stored: JSON ``[offset, start_ms, end_ms, ...]``, offset = where the word begins in ``text``.

    Whisper's words carry their own spacing (" nuclear"); each is found in the stored (stripped) line in order, so
    the search can tell which word of the line a match is and take its start as the hit's time.
    """
    flat: list[int] = []
    pos = 0
    for w in words:
        token = (getattr(w, "word", None) or "").strip()
        if not token:
            continue
        at = text.find(token, pos)
        if at < 0:  # the engine normalised the text differently: keep the order, point at the last position
            at = min(pos, len(text))
        else:
            pos = at + len(token)
        flat += [at, int(round(float(w.start) * 1000)), int(round(float(w.end) * 1000))]
    return json.dumps(flat, separators=(",", ":"))


def unpack_words(value: str | None) -> list[tuple[int, float, float]]:
    """(character offset, start s, end s) per word, from ``pack_words``."""
    if not value:
        return []
    try:
        flat = json.loads(value)
    except ValueError:
        return []
    return [(int(flat[i]), flat[i + 1] / 1000.0, flat[i + 2] / 1000.0) for i in range(0, len(flat) - 2, 3)]


def tag_dicts(rows: Iterable[sqlite3.Row]) -> list[dict[str, Any]]:
    """Tag rows as plain data (the shape of `show --json` and `tags show --json`)."""
    return [{"category": t["category"], "score": round(t["score"], 4), "decision": bool(t["decision"]), "origin": t["origin"],
             "evidence": json.loads(t["evidence"]), "model_version": t["model_version"], "created_at": t["created_at"]}
            for t in rows]


def stage_done(store: "Store", video_id: str, stage: str, key: str) -> bool:
    row = store.db.execute("SELECT key FROM stage_runs WHERE video_id = ? AND stage = ?", (video_id, stage)).fetchone()
    return row is not None and row["key"] == key


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


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
