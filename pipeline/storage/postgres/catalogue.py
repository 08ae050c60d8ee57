"""The catalogue on PostgreSQL (``CLIPWATCH_DATABASE_URL=postgresql://user:password@host:5432/db``), psycopg 3.

The same tables, columns and meaning as the SQLite catalogue (``pipeline/storage/sqlite/``), and the same public
methods as its ``Store``, so stages, flows and readers use either. What PostgreSQL adds: several machines write at
once (no single-writer lock), versioned migrations applied under an advisory lock (two workers starting together
do not race), the events table append-only in the database (a trigger for everyone, INSERT/SELECT-only grants for
the ``clipwatch_writer`` role), and search indexes for English (tsvector) and Korean (Hangul bigrams + pg_trgm).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import asdict
from importlib import resources
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from pipeline.errors import ConfigError, NotFoundError, StorageError
from pipeline.storage.postgres import hangul
from pipeline.storage.sqlite.catalogue import MediaRecord, VideoRecord, _like_prefix, to_signed64, utcnow

MIGRATION_LOCK = 0x636C6970  # "clip": pg_advisory_xact_lock key for migrations


class Row(dict):
    """A row that reads like sqlite3.Row: by column name and by position."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


def _row_factory(cursor: Any):
    names = [d.name for d in cursor.description] if cursor.description else []

    def make(values: Any) -> Row:
        return Row(zip(names, values))

    return make


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the database URL"
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_QMARK = re.compile(r"""('(?:[^']|'')*')|(\?)""")


def qmark_to_format(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (outside string literals; literal % doubled)."""
    out = []
    pos = 0
    for m in _QMARK.finditer(sql):
        out.append(sql[pos:m.start()].replace("%", "%%"))
        out.append(m.group(1).replace("%", "%%") if m.group(1) else "%s")
        pos = m.end()
    out.append(sql[pos:].replace("%", "%%"))
    return "".join(out)


class _CompatDB:
    """``store.db`` for code written against sqlite3: ``execute(sql, params)`` with ``?`` placeholders.

    Portable SELECTs (most of the readers outside storage/) run unchanged; SQLite-only SQL raises as PostgreSQL
    would. New code should call catalogue methods instead.
    """

    def __init__(self, catalogue: "PostgresCatalogue"):
        self._c = catalogue

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self._c.conn.execute(qmark_to_format(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._c.conn.cursor() as cur:
            cur.executemany(qmark_to_format(sql), [tuple(r) for r in rows])

    @property
    def in_transaction(self) -> bool:
        return self._c._depth > 0


class PostgresCatalogue:
    """A connection to the PostgreSQL catalogue. Use as a context manager or call close()."""

    backend = "postgresql"

    def __init__(self, url: str, *, connect_timeout: int = 10, migrate: bool = True):
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the scale extra is missing
            raise ConfigError("the PostgreSQL catalogue needs psycopg: pip install 'clipwatch[scale]'") from exc
        self.url = str(url)
        self.path = None  # no file: readers that default to "beside the database" must be given a folder
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=connect_timeout,
                                        row_factory=_row_factory, application_name="clipwatch")
        except psycopg.OperationalError as exc:
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
            raise StorageError(f"cannot connect to PostgreSQL at {redact(self.url)}: {reason}; check "
                               "CLIPWATCH_DATABASE_URL (host, port, database, user, password) and that the server "
                               "is running") from None
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"bad database URL {redact(self.url)}: {exc}") from None
        self._depth = 0
        self.db = _CompatDB(self)
        if migrate:
            self.migrate()

    # -- schema ----------------------------------------------------------------------
    @staticmethod
    def migrations() -> list[tuple[int, str, str]]:
        """(version, name, sql) of every packaged migration, in order."""
        folder = resources.files("pipeline.storage.postgres").joinpath("migrations")
        out = []
        for entry in folder.iterdir():
            m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
            if m:
                out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
        return sorted(out)

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").fetchone()
        if not row["present"]:
            return 0
        return int(self.conn.execute("SELECT COALESCE(max(version), 0) AS v FROM schema_migrations").fetchone()["v"])

    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, each in its own transaction; returns the versions applied."""
        import psycopg

        applied: list[int] = []
        latest = max(v for v, _, _ in self.migrations())
        if self.schema_version() >= latest:
            return applied  # the usual case: nothing to lock, nothing to create (a worker role may not CREATE)
        try:
            with self.conn.transaction():
                # One migrator at a time across every machine; the others wait, then find nothing to do.
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                  "name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                done = {r["version"] for r in self.conn.execute("SELECT version FROM schema_migrations")}
                for version, name, sql in self.migrations():
                    if version in done:
                        continue
                    self.conn.execute(sql)
                    self.conn.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (%s, %s, %s)",
                                      (version, name, utcnow()))
                    applied.append(version)
                if applied:
                    self.conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s) ON CONFLICT (key) "
                                      "DO UPDATE SET value = EXCLUDED.value", (str(max(applied)),))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StorageError(f"PostgreSQL at {redact(self.url)} refused to create the catalogue ({exc}); connect "
                               "once as the database owner to apply the migrations") from None
        return applied

    # -- connection --------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "PostgresCatalogue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction; nested calls join the outer one (as the SQLite Store does)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.conn.transaction():
                yield self.db
        finally:
            self._depth = 0

    def _one(self, sql: str, params: tuple = ()) -> Row | None:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    # -- sources ---------------------------------------------------------------------------
    def upsert_source(self, url: str, kind: str = "unknown", title: str | None = None,
                      watched: bool | None = None) -> int:
        with self.transaction():
            row = self._one("SELECT id FROM sources WHERE url = %s FOR UPDATE", (url,))
            if row is None:
                row = self._one(
                    "INSERT INTO sources(url, kind, title, watched, added_at) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (url) DO UPDATE SET url = EXCLUDED.url RETURNING id",
                    (url, kind, title, int(bool(watched)), utcnow()))
                return int(row["id"])
            sets = ["kind = CASE WHEN %s != 'unknown' THEN %s ELSE kind END", "title = COALESCE(%s, title)"]
            args: list[Any] = [kind, kind, title]
            if watched is not None:
                sets.append("watched = %s")
                args.append(int(watched))
            self.conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = %s", (*args, row["id"]))
            return int(row["id"])

    # -- videos ------------------------------------------------------------------------------
    def get_video(self, video_id: str) -> Row:
        row = self.find_video(video_id)
        if row is None:
            rows = self._all("SELECT * FROM videos WHERE id LIKE %s ESCAPE '\\' LIMIT 2", (_like_prefix(video_id),))
            if len(rows) == 1:
                return rows[0]
            raise NotFoundError(f"no archived video with id {video_id!r}; `clipwatch list` shows the ids")
        return row

    def find_video(self, video_id: str) -> Row | None:
        return self._one("SELECT * FROM videos WHERE id = %s", (video_id,))

    def video_by_sha256(self, sha256: str) -> Row | None:
        return self._one("SELECT v.* FROM videos v JOIN media_files m ON m.video_id = v.id WHERE m.sha256 = %s "
                         "LIMIT 1", (sha256,))

    def upsert_video(self, rec: VideoRecord, folder: str) -> bool:
        d = asdict(rec)
        d["categories"] = json.dumps(rec.categories, ensure_ascii=False)
        d["platform_tags"] = json.dumps(rec.platform_tags, ensure_ascii=False)
        with self.transaction():
            # Two machines may archive the same video at once: the insert that loses the race becomes an update.
            cols = [*d.keys(), "folder", "archived_at"]
            inserted = self._one(f"INSERT INTO videos({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
                                 "ON CONFLICT DO NOTHING RETURNING id", (*d.values(), folder, utcnow()))
            if inserted is not None:
                return True
            old = self._one("SELECT * FROM videos WHERE id = %s FOR UPDATE", (rec.id,))
            if old is None:  # the conflict was on (extractor, platform_id, webpage_url) under another id
                raise StorageError(f"video {rec.id}: another row already holds {rec.extractor} {rec.platform_id} "
                                   f"{rec.webpage_url}")
            changed = any(old[k] != d[k] for k in ("title", "description", "platform_tags"))
            keys = [k for k in d if k != "id"]
            self.conn.execute(f"UPDATE videos SET {', '.join(f'{k} = COALESCE(%s, {k})' for k in keys)} WHERE id = %s",
                              (*(d[k] for k in keys), rec.id))
            return changed

    def set_video_fields(self, video_id: str, **fields: Any) -> None:
        if not fields:
            return
        for k in fields:
            if not re.fullmatch(r"[a-z_]+", k):
                raise ValueError(f"bad column name {k!r}")
        with self.transaction():
            self.conn.execute(f"UPDATE videos SET {', '.join(f'{k} = %s' for k in fields)} WHERE id = %s",
                              (*fields.values(), video_id))

    def add_metadata_version(self, video_id: str, title: str | None, description: str | None,
                             platform_tags: list[str], info_json_path: str | None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO metadata_versions(video_id, seen_at, title, description, platform_tags, info_json_path) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (video_id, utcnow(), title, description, json.dumps(platform_tags, ensure_ascii=False), info_json_path))

    def list_videos(self, limit: int = 1000) -> list[Row]:
        return self._all("SELECT * FROM videos ORDER BY COALESCE(upload_date, '') DESC, archived_at DESC LIMIT %s",
                         (limit,))

    def video_count(self) -> int:
        return int(self._one("SELECT count(*) AS n FROM videos")["n"])

    def status_counts(self) -> dict[str, int]:
        return {r["status"]: int(r["n"]) for r in self._all("SELECT status, count(*) AS n FROM videos GROUP BY status")}

    def suspect_count(self) -> int:
        """Videos whose last check failed but whose removal is not confirmed yet."""
        return int(self._one("SELECT count(*) AS n FROM videos WHERE failed_checks > 0 AND status != 'removed'")["n"])

    def filter_options(self) -> dict[str, list[str]]:
        """The values a search form offers: channels, tag categories, spoken languages."""
        return {
            "channels": [r["channel"] for r in self._all(
                "SELECT channel FROM videos WHERE channel IS NOT NULL GROUP BY channel ORDER BY lower(channel), channel")],
            "categories": [r["category"] for r in self._all("SELECT DISTINCT category FROM tags ORDER BY category")],
            "languages": [r["language"] for r in self._all(
                "SELECT DISTINCT language FROM videos WHERE language IS NOT NULL ORDER BY language")],
        }

    # -- media -----------------------------------------------------------------------------------
    def add_media_file(self, rec: MediaRecord) -> None:
        d = asdict(rec)
        d["http_headers"] = json.dumps(rec.http_headers)
        with self.transaction():
            self.conn.execute(f"INSERT INTO media_files({', '.join(d)}) VALUES ({', '.join(['%s'] * len(d))}) "
                              "ON CONFLICT (sha256) DO NOTHING", tuple(d.values()))
            self.conn.execute("UPDATE videos SET media_sha256 = %s WHERE id = %s", (rec.sha256, rec.video_id))

    def media_file(self, sha256: str) -> Row | None:
        return self._one("SELECT * FROM media_files WHERE sha256 = %s", (sha256,))

    # -- events ------------------------------------------------------------------------------------
    def add_event(self, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                  media_sha256: str | None = None, detail: dict[str, Any] | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO events(video_id, source_id, media_sha256, at, kind, detail) VALUES (%s, %s, %s, %s, %s, %s)",
                (video_id, source_id, media_sha256, utcnow(), kind, json.dumps(detail or {}, ensure_ascii=False)))

    def events(self, video_id: str | None = None) -> list[Row]:
        if video_id is None:
            return self._all("SELECT * FROM events ORDER BY id")
        return self._all("SELECT * FROM events WHERE video_id = %s ORDER BY id", (video_id,))

    # -- derivatives ------------------------------------------------------------------------------
    def replace_keyframes(self, video_id: str, media_sha256: str, keyframes: Iterable[Any], detector: str,
                          tool_version: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM keyframes WHERE video_id = %s", (video_id,))
            rows = [(video_id, media_sha256, k.shot_index, k.shot_start, k.shot_end, k.time, k.path,
                     to_signed64(k.phash), detector, tool_version) for k in keyframes]
            if rows:
                with self.conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO keyframes(video_id, media_sha256, shot_index, shot_start, shot_end, time, path, "
                        "phash, detector, tool_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)

    def keyframe_hashes(self) -> list[Row]:
        """(video_id, time, phash, shot_start, shot_end) of every keyframe: the rows a re-upload index is built from."""
        return self._all("SELECT video_id, time, phash, shot_start, shot_end FROM keyframes")

    def keyframes(self, video_id: str) -> list[Row]:
        return self._all("SELECT * FROM keyframes WHERE video_id = %s ORDER BY time", (video_id,))

    def replace_transcript(self, video_id: str, media_sha256: str, kind: str, transcript: Any,
                           path: str | None) -> int:
        """Store a transcript and its segments with their search vectors (English tsvector, Hangul bigrams)."""
        with self.transaction():
            self.conn.execute("DELETE FROM transcripts WHERE video_id = %s AND kind = %s", (video_id, kind))
            tid = int(self._one(
                "INSERT INTO transcripts(video_id, media_sha256, kind, language, language_probability, model, engine, "
                "engine_version, duration, created_at, path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                (video_id, media_sha256, kind, transcript.language, transcript.language_probability, transcript.model,
                 transcript.engine, transcript.engine_version, transcript.duration, utcnow(), path))["id"])
            rows = []
            for i, s in enumerate(transcript.segments):
                text = s.text.strip()
                rows.append((tid, video_id, i, s.start, s.end, text, s.avg_logprob, s.no_speech_prob,
                             s.compression_ratio, ",".join(s.flags), hangul.tsvector_literal(text)))
            if rows:
                self.insert_segments(rows)
            if kind == "original" and transcript.language:
                self.conn.execute("UPDATE videos SET language = %s WHERE id = %s", (transcript.language, video_id))
            return tid

    def insert_segments(self, rows: list[tuple]) -> None:
        """Bulk insert (transcript_id, video_id, idx, start, end, text, avg_logprob, no_speech_prob,
        compression_ratio, flags, bigrams_literal) rows through COPY."""
        with self.conn.cursor() as cur:
            with cur.copy('COPY segments(transcript_id, video_id, idx, start, "end", text, avg_logprob, '
                          "no_speech_prob, compression_ratio, flags, bigrams) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)

    def transcript_rows(self, video_id: str) -> list[Row]:
        return self._all("SELECT * FROM transcripts WHERE video_id = %s ORDER BY kind", (video_id,))

    def segments(self, video_id: str, kind: str = "original") -> list[Row]:
        return self._all(
            "SELECT s.id, s.transcript_id, s.video_id, s.idx, s.start, s.\"end\", s.text, s.avg_logprob, "
            "s.no_speech_prob, s.compression_ratio, s.flags FROM segments s JOIN transcripts t ON t.id = s.transcript_id "
            "WHERE s.video_id = %s AND t.kind = %s ORDER BY s.start", (video_id, kind))

    def replace_tags(self, video_id: str, tags: Iterable[Any], model_version: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM tags WHERE video_id = %s AND origin = 'model'", (video_id,))
            rows = [(video_id, t.category, float(t.score), int(t.decision),
                     json.dumps(list(t.evidence), ensure_ascii=False), model_version, utcnow()) for t in tags]
            if rows:
                with self.conn.cursor() as cur:
                    cur.executemany("INSERT INTO tags(video_id, category, score, decision, evidence, origin, "
                                    "model_version, created_at) VALUES (%s, %s, %s, %s, %s, 'model', %s, %s)", rows)

    def replace_audio_profile(self, video_id: str, media_sha256: str, profile: Any, path: str | None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO audio_profiles(video_id, media_sha256, model_version, duration, speech, music, silence, "
                "path, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (video_id) DO UPDATE SET "
                "media_sha256 = EXCLUDED.media_sha256, model_version = EXCLUDED.model_version, "
                "duration = EXCLUDED.duration, speech = EXCLUDED.speech, music = EXCLUDED.music, "
                "silence = EXCLUDED.silence, path = EXCLUDED.path, created_at = EXCLUDED.created_at",
                (video_id, media_sha256, profile.model_version, profile.duration, profile.speech, profile.music,
                 profile.silence, path, utcnow()))

    def audio_profile_row(self, video_id: str) -> Row | None:
        return self._one("SELECT * FROM audio_profiles WHERE video_id = %s", (video_id,))

    def set_human_tag(self, video_id: str, category: str, value: bool, evidence: list[str]) -> None:
        """A person's decision for one category (origin 'human'): replaces an earlier one, never the model's."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO tags(video_id, category, score, decision, evidence, origin, model_version, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 'human', 'human', %s) ON CONFLICT (video_id, category, origin) DO UPDATE "
                "SET score = EXCLUDED.score, decision = EXCLUDED.decision, evidence = EXCLUDED.evidence, "
                "created_at = EXCLUDED.created_at",
                (video_id, category, 1.0 if value else 0.0, int(bool(value)), json.dumps(evidence, ensure_ascii=False),
                 utcnow()))

    def clear_human_tag(self, video_id: str, category: str) -> bool:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM tags WHERE video_id = %s AND category = %s AND origin = 'human'",
                                    (video_id, category))
        return cur.rowcount > 0

    def mark_stage(self, video_id: str, stage: str, key: str, detail: dict[str, Any] | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO stage_runs(video_id, stage, key, finished_at, detail) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (video_id, stage) DO UPDATE SET key = EXCLUDED.key, finished_at = EXCLUDED.finished_at, "
                "detail = EXCLUDED.detail",
                (video_id, stage, key, utcnow(), json.dumps(detail or {}, ensure_ascii=False)))

    def stage_done(self, video_id: str, stage: str, key: str) -> bool:
        row = self._one("SELECT key FROM stage_runs WHERE video_id = %s AND stage = %s", (video_id, stage))
        return row is not None and row["key"] == key

    def tags(self, video_id: str) -> list[Row]:
        return self._all(
            """SELECT * FROM tags t WHERE video_id = %s AND (origin = 'human' OR NOT EXISTS
                 (SELECT 1 FROM tags h WHERE h.video_id = t.video_id AND h.category = t.category AND h.origin = 'human'))
               ORDER BY score DESC""", (video_id,))

    # -- search ---------------------------------------------------------------------------------------
    def search_engine(self, query: Any, *, archive_dir: Any = None) -> Any:
        """`clipwatch search` on PostgreSQL: same query language, same results (pipeline.search.fulltext hook)."""
        from pipeline.storage.postgres.search import search

        return search(self, query, archive_dir=archive_dir)
