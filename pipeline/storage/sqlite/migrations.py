"""Versioned schema migrations for the SQLite catalogue.

``meta.schema_version`` says which version an archive's database has. A new database is made from ``schema.sql``
(always the latest shape) and stamped ``LATEST``. An older one is upgraded in place, one numbered step at a time,
after a backup copy of the whole database is written beside it (``clipwatch.db.v<N>-<time>.bak``); the steps and
the re-applied ``schema.sql`` run in one transaction, so an upgrade either happens whole or not at all. The upgrade
is recorded as an ``upgraded`` event in the chain of custody.

To change the schema: edit ``schema.sql`` (new tables, indexes and triggers use ``IF NOT EXISTS`` and appear in old
databases when ``schema.sql`` is re-applied after the steps), then append ``N: step_N`` to ``STEPS`` for what
``schema.sql`` cannot do to an existing database (``ALTER TABLE … ADD COLUMN``, moving rows). A step that only adds
tables may be ``lambda db: {}``. Steps receive the connection inside the upgrade's transaction and return a small
dict that goes into the ``upgraded`` event.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import ConfigError
from pipeline.storage import chain

log = logging.getLogger(__name__)


def schema_sql() -> str:
    return resources.files("pipeline.storage.sqlite").joinpath("schema.sql").read_text(encoding="utf-8")


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def step_2(db: sqlite3.Connection) -> dict[str, Any]:
    """One media row per file and one fetch row per video; the events become a hash chain."""
    out: dict[str, Any] = {}
    # media_files (one row per video's first fetch of a file, INSERT OR IGNORE on the hash) -> media_files (one row
    # per file) + media_fetches (one row per video's fetch, with that fetch's provenance).
    if "video_id" in _columns(db, "media_files"):
        db.execute("ALTER TABLE media_files RENAME TO media_files_v1")
        db.execute(_table_sql("media_files"))  # (never executescript here: it would commit the upgrade half done)
        db.execute(_table_sql("media_fetches"))
        db.execute("""INSERT INTO media_files(sha256, path, size, container, video_codec, audio_codec, width, height, duration, fetched_at)
                      SELECT sha256, path, size, container, video_codec, audio_codec, width, height, duration, fetched_at
                      FROM media_files_v1""")
        db.execute("""INSERT INTO media_fetches(video_id, sha256, format_id, source_url, final_url, http_status, http_headers,
                                                fetch_started_at, fetched_at, fetcher, fetcher_version, clipwatch_version)
                      SELECT video_id, sha256, format_id, source_url, final_url, http_status, http_headers,
                             fetch_started_at, fetched_at, fetcher, fetcher_version, clipwatch_version FROM media_files_v1""")
        out["media_files"] = db.execute("SELECT count(*) FROM media_files").fetchone()[0]
        # Videos whose original was a file already catalogued for another video had no row at all: rebuild their
        # fetch from their own `fetched` event, which holds the provenance written at the time.
        recovered = []
        for v in db.execute("""SELECT v.id, v.media_sha256 FROM videos v WHERE v.media_sha256 IS NOT NULL AND NOT EXISTS
                                 (SELECT 1 FROM media_fetches l WHERE l.video_id = v.id AND l.sha256 = v.media_sha256)""").fetchall():
            ev = db.execute("SELECT detail, at FROM events WHERE video_id = ? AND kind = 'fetched' AND media_sha256 = ? ORDER BY id DESC LIMIT 1",
                            (v[0], v[1])).fetchone()
            if ev is None or db.execute("SELECT 1 FROM media_files WHERE sha256 = ?", (v[1],)).fetchone() is None:
                continue
            d = json.loads(ev[0] or "{}")
            db.execute("""INSERT INTO media_fetches(video_id, sha256, format_id, source_url, final_url, http_status, http_headers,
                                                    fetch_started_at, fetched_at, fetcher, fetcher_version, clipwatch_version)
                          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                       (v[0], v[1], d.get("format_id"), d.get("source_url"), d.get("final_url"), d.get("http_status"),
                        json.dumps(d.get("http_headers") or {}), d.get("fetch_started_at"), d.get("fetched_at") or ev[1],
                        d.get("fetcher") or "unknown", d.get("fetcher_version"), d.get("clipwatch_version")))
            recovered.append(v[0])
        out["media_fetches"] = db.execute("SELECT count(*) FROM media_fetches").fetchone()[0]
        out["fetches_recovered_from_events"] = recovered
        db.execute("DROP TABLE media_files_v1")
    # The events get prev_hash / hash, and the existing ones are chained in their order.
    if "hash" not in _columns(db, "events"):
        db.execute("ALTER TABLE events ADD COLUMN prev_hash TEXT")
        db.execute("ALTER TABLE events ADD COLUMN hash TEXT")
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    prev = chain.GENESIS
    n = 0
    for row in db.execute("SELECT * FROM events ORDER BY id").fetchall():
        h = chain.event_hash(prev, row)
        db.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, row["id"]))
        prev, n = h, n + 1
    out["events_chained"] = n
    return out


def _table_sql(name: str) -> str:
    """The CREATE TABLE statement of ``name`` in schema.sql (so a step builds the table as a new database has it)."""
    sql = schema_sql()
    start = sql.index(f"CREATE TABLE IF NOT EXISTS {name} (")
    return sql[start:sql.index(");", start) + 2] + "\n"


def step_3(db: sqlite3.Connection) -> dict[str, Any]:
    """Search (issue 13): the normalised shadow text and its indexes (word, doubtful, trigram, Hangul bigrams),
    word timings, transcript id ranges. schema.sql, re-applied after this step, drops the old raw-text indexes and
    creates the new tables; the catalogue fills them when it is opened (meta.search_index_version)."""
    return {"search_index": "replaced: filled from the segments when the catalogue is opened"}


# version -> the step that upgrades a database from version-1 to version. Append only.
STEPS: dict[int, Callable[[sqlite3.Connection], dict[str, Any]]] = {
    2: step_2,
    3: step_3,
    # who speaks (issue 24): speaker_turns, voices, voice_names are new tables, made by schema.sql.
    4: lambda db: {"speakers": "new tables speaker_turns, voices, voice_names"},
    # recorded live streams (issue 25): stream_segments is a new table, made by schema.sql.
    5: lambda db: {"stream_segments": "new table stream_segments"},
    # programmes (issue 25): programmes and idents are new tables, made by schema.sql.
    6: lambda db: {"programmes": "new tables programmes, idents"},
}
LATEST = max(STEPS)


def current_version(db: sqlite3.Connection) -> int | None:
    """The database's schema version; None for a new (empty) database."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        has_videos = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'videos'").fetchone()
        return 1 if has_videos else None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 1


def backup(db: sqlite3.Connection, db_path: Path, version: int) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = db_path.with_name(f"{db_path.name}.v{version}-{stamp}.bak")
    n = 1
    while dest.exists():
        dest = db_path.with_name(f"{db_path.name}.v{version}-{stamp}-{n}.bak")
        n += 1
    target = sqlite3.connect(str(dest))
    try:
        db.backup(target)
    finally:
        target.close()
    return dest


def migrate(db: sqlite3.Connection, db_path: Path, now: Callable[[], str]) -> dict[str, Any] | None:
    """Create or upgrade the schema. Returns what an upgrade did (None when nothing was upgraded)."""
    version = current_version(db)
    if version == LATEST:
        return None
    if version is None:  # a new database: the latest schema as it is
        db.executescript("BEGIN IMMEDIATE;" + schema_sql()
                         + f"INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '{LATEST}');COMMIT;")
        return None
    if version > LATEST:
        raise ConfigError(f"{db_path} was written by a newer clipwatch (schema version {version}, this one knows {LATEST}); "
                          "upgrade clipwatch to open it")
    saved = backup(db, db_path, version)
    log.warning("upgrading %s from schema version %d to %d (backup: %s)", db_path, version, LATEST, saved.name)
    done: dict[str, Any] = {"from": version, "to": LATEST, "backup": saved.name, "steps": {}}
    db.execute("PRAGMA foreign_keys=OFF")  # tables are renamed and rebuilt; checked again below
    db.execute("BEGIN IMMEDIATE")
    try:
        for n in range(version + 1, LATEST + 1):
            done["steps"][n] = STEPS[n](db)
        for stmt in _statements(schema_sql()):
            db.execute(stmt)
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(LATEST),))
        bad = db.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise sqlite3.IntegrityError(f"foreign keys broken by the upgrade: {[tuple(b) for b in bad][:5]}")
        append_event(db, "upgraded", detail=done, at=now())
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA foreign_keys=ON")
    return done


def event_head(db: sqlite3.Connection) -> tuple[int, str, str]:
    """(id, hash, at) of the newest event; (0, GENESIS, '') for an empty log."""
    row = db.execute("SELECT id, hash, at FROM events ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1] or chain.GENESIS, row[2]) if row else (0, chain.GENESIS, "")


def append_event(db: sqlite3.Connection, kind: str, *, at: str, **fields: Any) -> int:
    """Append one event to the chain (the caller holds BEGIN IMMEDIATE); AUTOINCREMENT gives its id, so ids deleted
    from the end of the log are never issued again and their deletion stays visible. Returns the id."""
    ev = chain.new_event(event_head(db), kind, at=at, **fields)
    cur = db.execute("INSERT INTO events(video_id, source_id, media_sha256, at, kind, detail, prev_hash, hash)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (ev["video_id"], ev["source_id"], ev["media_sha256"], ev["at"], ev["kind"], ev["detail"],
                      ev["prev_hash"], ev["hash"]))
    return int(cur.lastrowid or 0)


def _statements(sql: str) -> list[str]:
    """schema.sql split into statements (triggers hold ';' inside BEGIN … END)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buf.strip():
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [s for s in out if s and s != ";"]
