"""The catalogue on PostgreSQL (``CLIPWATCH_DATABASE_URL=postgresql://user:password@host:5432/db``), psycopg 3.

The same tables, columns and meaning as the SQLite catalogue (``pipeline/storage/sqlite/``): the PostgreSQL dialect of
``pipeline.storage.catalogue.SQLCatalogue``, whose portable SQL both run, so stages, flows and readers use either
through the ``Catalogue`` contract. What PostgreSQL adds: several machines write at
once (no single-writer lock), versioned migrations applied under an advisory lock (two workers starting together
do not race), the events table append-only in the database (a trigger for everyone, INSERT/SELECT-only grants for
the ``clipwatch_writer`` role), and search indexes for English (tsvector) and Korean (Hangul bigrams + pg_trgm).
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from pipeline.domain import VideoRecord, pack_words, utcnow
from pipeline.errors import ConfigError, StorageError
from pipeline.storage import chain
from pipeline.storage.base import SearchIndex
from pipeline.storage.catalogue import SEARCH_INDEX_VERSION, SQLCatalogue, upsert_video_values
from pipeline.storage.postgres import hangul, search
from pipeline.storage.searchindex import SQLSearchIndex
from pipeline.text import normalize

MIGRATION_LOCK = 0x636C6970  # "clip": pg_advisory_xact_lock key for migrations
EVENTS_LOCK = 0x63686E  # "chn": held while an event is appended, so the chain has one writer at a time
# The triggers that keep the events append-only and chained (0002, 0005): `verify` reports a missing one.
EVENT_TRIGGERS = ("events_no_update", "events_no_truncate", "events_chain_insert")
RUM_MIGRATION = 8  # the optional RUM indexes for ranked search (migrations/0008_rum_ranking.sql)

log = logging.getLogger(__name__)


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


class PostgresCatalogue(SQLCatalogue):
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
        self.readonly = False  # a database server: access is the role's privileges, not the file's mode
        self.upgraded: dict[str, Any] | None = None
        # The archive folder beside this catalogue (vector index files, the default archive root): the database
        # has no file to stand beside, so storage.base.catalogue_for(settings) tells it; None when opened on its own.
        self.data_dir: Path | None = None
        if migrate:
            self.migrate()
            self._rebuild_search_index_if_stale()

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

    def _chain_existing_events(self) -> dict[str, Any]:
        """Migration 0005: number the events 1…n in their order and chain them (as SQLite's step 2 does)."""
        self.conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
        self.conn.execute("UPDATE events SET id = -r.n FROM (SELECT id, row_number() OVER (ORDER BY id) AS n "
                          "FROM events) r WHERE events.id = r.id")
        self.conn.execute("UPDATE events SET id = -id")
        prev, n = chain.GENESIS, 0
        for row in self._all("SELECT * FROM events ORDER BY id"):
            h = chain.event_hash(prev, row)
            self.conn.execute("UPDATE events SET prev_hash = %s, hash = %s WHERE id = %s", (prev, h, row["id"]))
            prev, n = h, n + 1
        self.conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update")
        self.conn.execute("INSERT INTO meta(key, value) VALUES ('events_issued', %s) ON CONFLICT (key) "
                          "DO UPDATE SET value = EXCLUDED.value", (str(n),))
        return {"events_chained": n, "media_fetches": int(self._one("SELECT count(*) AS n FROM media_fetches")["n"])}

    def rebuild_search_index(self) -> dict[str, Any]:
        """Recompute every segment's shadow text and Hangul bigrams (migration 0007, or a normalisation change:
        ``normalize.VERSION``), in batches; the English tsvector follows (a generated column)."""
        n = changed = 0
        last = 0
        while True:
            rows = self._all("SELECT id, text, norm FROM segments WHERE id > %s ORDER BY id LIMIT 5000", (last,))
            if not rows:
                break
            updates = []
            for r in rows:
                norm, grams = shadow_columns(r["text"])
                updates.append((norm, grams, r["id"]))
                changed += norm != r["norm"]
            with self.conn.cursor() as cur:
                cur.executemany("UPDATE segments SET norm = %s, bigrams = %s::tsvector WHERE id = %s", updates)
            n += len(rows)
            last = rows[-1]["id"]
        self.conn.execute("INSERT INTO meta(key, value) VALUES ('search_index_version', %s) ON CONFLICT (key) "
                          "DO UPDATE SET value = EXCLUDED.value", (SEARCH_INDEX_VERSION,))
        return {"segments": n, "normalised": changed}

    def _rebuild_search_index_if_stale(self) -> None:
        if self.schema_version() < 7:  # the shadow text came with migration 0007
            return
        version = "SELECT value FROM meta WHERE key = 'search_index_version'"
        row = self._one(version)
        if row is not None and row["value"] == SEARCH_INDEX_VERSION:
            return
        with self.transaction():
            # one rebuilder across every machine (as for migrations); the others wait, then find it done
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            row = self._one(version)
            if row is None or row["value"] != SEARCH_INDEX_VERSION:
                self.rebuild_search_index()

    # version -> what a migration needs besides its SQL (run right after it, in the same transaction)
    STEPS = {5: _chain_existing_events, 7: rebuild_search_index}

    def schema_version(self) -> int:
        row = self._one("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        if not row["present"]:
            return 0
        return int(self._one("SELECT COALESCE(max(version), 0) AS v FROM schema_migrations")["v"])

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
                before = max(done, default=0)
                steps: dict[int, Any] = {}
                for version, name, sql in self.migrations():
                    if version in done:
                        continue
                    self.conn.execute(sql)
                    if version in self.STEPS:
                        steps[version] = self.STEPS[version](self)
                    self.conn.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (%s, %s, %s)",
                                      (version, name, utcnow()))
                    applied.append(version)
                if applied:
                    self.conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s) ON CONFLICT (key) "
                                      "DO UPDATE SET value = EXCLUDED.value", (str(max(applied)),))
                if before and applied:  # an existing catalogue was upgraded (not by a machine that got here first)
                    self.upgraded = {"from": before, "to": max(applied), "steps": steps}
                    self._append_event("upgraded", detail=self.upgraded)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StorageError(f"PostgreSQL at {redact(self.url)} refused to create the catalogue ({exc}); connect "
                               "once as the database owner to apply the migrations") from None
        if RUM_MIGRATION in applied and not self._one("SELECT to_regclass('segments_fts_rum') IS NOT NULL AS r")["r"]:
            log.warning("PostgreSQL at %s has no RUM extension: search works but ranks every match with ts_rank_cd, "
                        "slow for words in many lines beyond a few million segments. To rank inside the index, install "
                        "it on the server (Debian: postgresql-NN-rum) and run, as a superuser: CREATE EXTENSION rum; "
                        "CREATE INDEX segments_fts_rum ON segments USING rum (fts rum_tsvector_ops) WHERE flags = ''",
                        redact(self.url))
        return applied

    # -- connection --------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "PostgresCatalogue":
        return self

    def _writable(self) -> None:
        """Writes are refused by the server's privileges, not here (see migration 0002)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction; nested calls join the outer one (as the SQLite Store does)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.conn.transaction():
                yield
        finally:
            self._depth = 0

    # -- the dialect -------------------------------------------------------------------------------------------------
    P = "%s"
    LIKE_CI = "ILIKE"  # as SQLite's LIKE, ignore case
    FOR_UPDATE = " FOR UPDATE"
    EVENT_TRIGGERS = EVENT_TRIGGERS

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, tuple(params))

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])

    def _insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._one(sql + " RETURNING id", tuple(params))["id"])

    def _table_names(self) -> set[str]:
        return {r["tablename"] for r in self._all("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}

    def _lock_events(self) -> None:
        # Every machine appends to one chain: one appender at a time, until its transaction ends.
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENTS_LOCK,))

    def _insert_event(self, ev: dict[str, Any]) -> int:
        # The id comes from the chain (the previous id + 1), not a sequence: the chain trigger checks it
        self.conn.execute("INSERT INTO events(id, video_id, source_id, media_sha256, at, kind, detail, prev_hash, hash)"
                          " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                          (ev["id"], ev["video_id"], ev["source_id"], ev["media_sha256"], ev["at"], ev["kind"],
                           ev["detail"], ev["prev_hash"], ev["hash"]))
        return int(ev["id"])

    def _events_issued(self) -> int | None:
        row = self._one("SELECT value FROM meta WHERE key = 'events_issued'")
        return int(row["value"]) if row else None

    def _event_triggers(self) -> set[str]:
        """The enabled triggers on events (a disabled one protects nothing)."""
        return {r["tgname"] for r in self._all(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal AND tgenabled <> 'D'")}

    # -- videos ------------------------------------------------------------------------------
    def upsert_video(self, rec: VideoRecord, folder: str) -> bool:
        d = upsert_video_values(rec)
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

    def filter_options(self) -> dict[str, list[str]]:
        """The values a search form offers: channels, tag categories, spoken languages."""
        return {
            "channels": [r["channel"] for r in self._all(
                "SELECT channel FROM videos WHERE channel IS NOT NULL GROUP BY channel ORDER BY lower(channel), channel")],
            "categories": [r["category"] for r in self._all("SELECT DISTINCT category FROM tags ORDER BY category")],
            "languages": [r["language"] for r in self._all(
                "SELECT DISTINCT language FROM videos WHERE language IS NOT NULL ORDER BY language")],
        }

    # -- derivatives ------------------------------------------------------------------------------
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
                norm, grams = shadow_columns(text)
                rows.append((tid, video_id, i, s.start, s.end, text, s.avg_logprob, s.no_speech_prob,
                             s.compression_ratio, ",".join(s.flags), grams, norm))
            if rows:
                self.insert_segments(rows)
            timed = [(i, s) for i, s in enumerate(transcript.segments) if getattr(s, "words", None)]
            if timed:
                ids = {r["idx"]: r["id"] for r in self._all("SELECT idx, id FROM segments WHERE transcript_id = %s",
                                                             (tid,))}
                with self.conn.cursor() as cur:
                    cur.executemany("INSERT INTO segment_words(segment_id, words) VALUES (%s, %s)",
                                    [(ids[i], pack_words(s.text.strip(), s.words)) for i, s in timed if i in ids])
            if kind == "original" and transcript.language:
                self.conn.execute("UPDATE videos SET language = %s WHERE id = %s", (transcript.language, video_id))
            return tid

    def insert_segments(self, rows: list[tuple]) -> None:
        """Bulk insert (transcript_id, video_id, idx, start, end, text, avg_logprob, no_speech_prob,
        compression_ratio, flags, bigrams_literal, norm) rows through COPY (``shadow_columns`` makes the last two)."""
        with self.conn.cursor() as cur:
            with cur.copy('COPY segments(transcript_id, video_id, idx, start, "end", text, avg_logprob, '
                          "no_speech_prob, compression_ratio, flags, bigrams, norm) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)

    # -- search ---------------------------------------------------------------------------------------
    @property
    def search_index(self) -> SearchIndex:
        """Search on PostgreSQL's indexes (``pipeline.storage.postgres.search``: tsvector, Hangul bigrams, pg_trgm),
        with the same methods and rows as SQLite's FTS5, so ``pipeline.search`` runs one code path on either."""
        return SQLSearchIndex(search, self.conn)


def shadow_columns(text: str) -> tuple[str | None, str]:
    """(norm, bigrams literal) of a line: the shadow text (None when it is the text itself) and its Hangul bigrams."""
    norm = normalize.shadow(text)
    return (None if norm == text else norm), hangul.tsvector_literal(norm)
