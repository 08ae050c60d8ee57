"""`clipwatch migrate --to postgresql://… [--storage s3://…]`: copy an embedded archive (SQLite + files) into
PostgreSQL and, optionally, an S3-compatible store.

Resumable: rows keep their ids and are inserted with ``ON CONFLICT DO NOTHING`` in batches that commit on their
own, and objects are content-addressed and skipped when the store already holds the same bytes, so a run that was
killed is simply run again. Originals are uploaded (and verified against their SHA-256) before any row that points
at them is copied, so the new catalogue never names an object that is not there. At the end every table's row
count, every original's SHA-256 (as the object store reports or re-reads it) and a digest of the transcript text
are compared between the two sides; a "migrated" event records the figures in the new chain of custody.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import ClipwatchError, ConfigError, StorageError
from pipeline.storage.postgres.catalogue import shadow_columns

# Copy order follows the foreign keys. (table, primary-key columns, conflict target)
TABLES: list[tuple[str, tuple[str, ...]]] = [
    ("sources", ("id",)),
    ("videos", ("id",)),
    ("media_files", ("sha256",)),
    ("media_fetches", ("id",)),
    ("audio_profiles", ("video_id",)),
    ("metadata_versions", ("id",)),
    ("keyframes", ("id",)),
    ("transcripts", ("id",)),
    ("segments", ("id",)),
    ("segment_words", ("segment_id",)),
    ("tags", ("video_id", "category", "origin")),
    ("stage_runs", ("video_id", "stage")),
    ("source_checks", ("source_id",)),
    ("manifests", ("video_id",)),
    ("audio_fingerprints", ("video_id",)),
    ("copy_links", ("original_id", "copy_id")),
    ("speaker_turns", ("video_id", "idx")),
    ("voices", ("video_id", "speaker")),
    ("voice_names", ("video_id", "speaker")),
    ("stream_segments", ("video_id",)),
    ("programmes", ("id",)),
    ("idents", ("id",)),
    ("events", ("id",)),  # with their prev_hash and hash: the chain arrives as it was, and walks the same
]
IDENTITY_TABLES = ("sources", "media_fetches", "metadata_versions", "keyframes", "transcripts", "segments",
                   "programmes", "idents")
BATCH = 2000

Progress = Callable[[str, int, int], None]  # what (table or "objects"), done, total


class MigrationError(ClipwatchError):
    """The copy does not match its source (counts, hashes): nothing was deleted, run the migration again."""


@dataclass
class MigrateResult:
    rows: dict[str, int] = field(default_factory=dict)        # source rows per table (all present in the target)
    copied: dict[str, int] = field(default_factory=dict)      # rows inserted by this run (0 for a finished one)
    objects: int = 0                                          # originals and side files now in the object store
    uploaded: int = 0                                         # of which this run uploaded
    bytes_uploaded: int = 0
    text_digest: str = ""                                     # SHA-256 over every segment's id and text

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "copied": self.copied, "objects": self.objects, "uploaded": self.uploaded,
                "bytes_uploaded": self.bytes_uploaded, "text_digest": self.text_digest}


def _columns(src: Any, table: str) -> list[str]:
    return [r[1] for r in src.db.execute(f"PRAGMA table_info({table})")]


def _quote(col: str) -> str:
    return f'"{col}"'


def _copy_objects(src_root: Path, media_rows: list[Any], blobs: Any, result: MigrateResult, progress: Progress | None) -> None:
    """Originals (content-addressed, verified on upload) and the per-video folders' files."""
    side_files = [p for p in sorted((src_root / "videos").rglob("*")) if p.is_file() and not p.name.startswith(".")] \
        if (src_root / "videos").is_dir() else []
    total = len(media_rows) + len(side_files)
    done = 0
    for m in media_rows:
        local = src_root / m["path"]
        if not local.is_file():
            raise MigrationError(f"{m['path']}: the original is missing from {src_root}; run `clipwatch verify --all` "
                                 "and restore it before migrating")
        info = blobs.head(m["path"])
        if info is None or info.size != m["size"] or info.sha256 != m["sha256"]:
            stored = blobs.store_media(local, Path(m["path"]).suffix.lstrip("."))
            if stored.sha256 != m["sha256"] or stored.path != m["path"]:
                raise MigrationError(f"{m['path']}: the file now hashes to {stored.sha256[:16]}…, not the recorded "
                                     f"{m['sha256'][:16]}…; run `clipwatch verify` before migrating")
            result.uploaded += 1
            result.bytes_uploaded += stored.size
        done += 1
        if progress:
            progress("objects", done, total)
    for p in side_files:
        rel = p.relative_to(src_root).as_posix()
        info = blobs.head(rel)
        if info is None or info.size != p.stat().st_size:
            blobs.put_file(p, rel)
            result.uploaded += 1
            result.bytes_uploaded += p.stat().st_size
        done += 1
        if progress:
            progress("objects", done, total)
    result.objects = total


def _copy_table(src: Any, dest: Any, table: str, key: tuple[str, ...], progress: Progress | None) -> tuple[int, int]:
    cols = _columns(src, table)
    target = {r["column_name"] for r in dest.conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
        (table,))}
    lacking = [c for c in cols if c not in target]
    if lacking:
        raise MigrationError(f"the PostgreSQL catalogue's {table} table lacks {', '.join(lacking)} (a newer SQLite "
                             "schema): upgrade clipwatch where the migration runs, then run it again")
    total = int(src.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    # the search columns SQLite keeps in its FTS5 tables: the shadow text and its Hangul bigrams (migration 0007)
    dest_cols = cols + (["bigrams", "norm"] if table == "segments" else [])
    sql = (f"INSERT INTO {table} ({', '.join(map(_quote, dest_cols))}) "
           f"VALUES ({', '.join(['%s'] * len(dest_cols))}) ON CONFLICT ({', '.join(map(_quote, key))}) DO NOTHING")
    copied = done = 0
    order = ", ".join(key)
    last: tuple | None = None
    if table == "events":
        # The chain trigger refuses an id that is already there (before ON CONFLICT is reached): resume after the
        # newest event the target holds. Appended in id order, each copied event extends the chain it came from.
        held = int(dest.conn.execute("SELECT COALESCE(max(id), 0) AS n FROM events").fetchone()["n"])
        if held:
            last = (held,)
            done = int(src.db.execute("SELECT count(*) FROM events WHERE id <= ?", (held,)).fetchone()[0])
    while True:
        # Keyset pagination: constant cost per batch however big the table.
        if last is None:
            rows = src.db.execute(f"SELECT * FROM {table} ORDER BY {order} LIMIT ?", (BATCH,)).fetchall()
        else:
            cond = f"({', '.join(key)}) > ({', '.join('?' * len(key))})"
            rows = src.db.execute(f"SELECT * FROM {table} WHERE {cond} ORDER BY {order} LIMIT ?", (*last, BATCH)).fetchall()
        if not rows:
            break
        values = []
        for r in rows:
            v = [r[c] for c in cols]
            if table == "segments":
                norm, grams = shadow_columns(r["text"])
                v += [grams, norm]
            values.append(v)
        with dest.conn.transaction():  # each batch commits: a killed run keeps what it copied
            with dest.conn.cursor() as cur:
                cur.executemany(sql + " RETURNING 1", values, returning=True)
                n = 0
                while True:
                    n += len(cur.fetchall())
                    if not cur.nextset():
                        break
                copied += n
        done += len(rows)
        last = tuple(rows[-1][k] for k in key)
        if progress:
            progress(table, done, total)
    if table in IDENTITY_TABLES:
        dest.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                          f"GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), 1))")
    return total, copied


def _text_digest(rows: Any) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r[0]}\t{r[1]}\n".encode())
    return h.hexdigest()


def migrate(src: Any, src_root: Path, dest: Any, blobs: Any | None = None, *,
            progress: Progress | None = None) -> MigrateResult:
    """Copy the SQLite catalogue ``src`` (archive folder ``src_root``) into the PostgreSQL catalogue ``dest`` and,
    when ``blobs`` is given, the files into that object store. Run again after a failure: it resumes."""
    if getattr(dest, "backend", None) != "postgresql":
        raise ConfigError("migrate copies into a PostgreSQL catalogue: --to postgresql://user:password@host/db")
    result = MigrateResult()
    if blobs is not None:
        media_rows = src.db.execute("SELECT sha256, path, size FROM media_files ORDER BY sha256").fetchall()
        _copy_objects(Path(src_root), media_rows, blobs, result, progress)
    for table, key in TABLES:
        result.rows[table], result.copied[table] = _copy_table(src, dest, table, key, progress)

    # Verify: every source row is there (ids preserved), originals hash as recorded, transcript text identical.
    for table, key in TABLES:
        # Events are compared on more than their id: a different event under the same id is not "there".
        key = ("id", "at", "kind") if table == "events" else key
        ids = [tuple(r) for r in src.db.execute(f"SELECT {', '.join(key)} FROM {table}")]
        if not ids:
            continue
        columns = [list(col) for col in zip(*ids)]
        arrays = ", ".join("%s::bigint[]" if isinstance(col[0], int) else "%s::text[]" for col in columns)
        present = dest.conn.execute(
            f"SELECT count(*) AS n FROM {table} WHERE ({', '.join(map(_quote, key))}) IN "
            f"(SELECT * FROM unnest({arrays}) AS u({', '.join(map(_quote, key))}))", tuple(columns)).fetchone()["n"]
        if present != len(ids):
            raise MigrationError(f"{table}: {present} of {len(ids)} rows are in the target after the copy; run the "
                                 "migration again")
    for m in src.db.execute("SELECT sha256, path FROM media_files"):
        row = dest._one("SELECT path FROM media_files WHERE sha256 = %s", (m["sha256"],))
        if row is None or row["path"] != m["path"]:
            raise MigrationError(f"media {m['sha256'][:16]}…: missing or moved in the target catalogue")
        if blobs is not None:
            info = blobs.head(m["path"])
            if info is None or info.sha256 != m["sha256"]:
                raise MigrationError(f"{m['path']}: not in the object store under its SHA-256; run the migration again")
    src_digest = _text_digest(src.db.execute("SELECT id, text FROM segments ORDER BY id"))
    dest_digest = _text_digest((r["id"], r["text"]) for r in dest.conn.execute(
        "SELECT id, text FROM segments WHERE id = ANY(%s) ORDER BY id",
        ([r[0] for r in src.db.execute("SELECT id FROM segments")],)))
    if src_digest != dest_digest:
        raise MigrationError("transcript text differs between the source and the target; run the migration again")
    result.text_digest = src_digest
    if any(result.copied.values()) or result.uploaded:
        dest.add_event("migrated", detail={"from": str(getattr(src, "path", "")), "rows": result.rows,
                                           "objects": result.objects, "uploaded": result.uploaded,
                                           "text_sha256": src_digest})
    return result


__all__ = ["migrate", "MigrateResult", "MigrationError", "StorageError"]
