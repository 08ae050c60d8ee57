"""The storage seams: where originals and derivatives live (BlobStore), where the catalogue lives (Catalogue).

Each backend is a small class behind one of these protocols, registered by URL scheme, as auto-archiver does with
its storages: ``file`` (a local folder, the default) for blobs and ``sqlite`` (one file, the default) for the
catalogue. Adding a backend is one module plus one line in ``BLOB_STORES`` or ``CATALOGUES``; callers use
``open_blob_store(url)`` and ``open_catalogue(url)`` and never name a backend class.

All SQL lives under ``pipeline/storage/``: the rest of the library talks to the catalogue through its methods.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pipeline.config import Settings
from pipeline.registry import Registry


@runtime_checkable
class BlobStore(Protocol):
    """Originals, content-addressed (``media/ab/<sha256>.<ext>``), and per-video derivative folders.

    Paths handed in and out are relative to the store's root (``media/…``, ``videos/<id>/…``) so the catalogue
    never holds an absolute path and an archive can move.
    """

    root: Path

    def store_media(self, src: Path, ext: str, move: bool = False) -> Any: ...  # -> StoredFile(sha256, size, path)

    def abspath(self, rel: str | Path) -> Path: ...

    def relpath(self, path: Path) -> str: ...

    def video_dir(self, video_id: str) -> Path: ...

    def copy_into(self, src: Path, dest: Path) -> None: ...

    def exists(self, rel: str | Path) -> bool: ...

    def open(self, rel: str | Path) -> BinaryIO: ...


@runtime_checkable
class Catalogue(Protocol):
    """The catalogue: sources, videos, media files, events (the chain of custody), derivatives, tags, stage runs.

    The SQLite class (``pipeline.storage.sqlite.catalogue.Store``) is the reference; its public methods are the
    contract. Listed here are the ones every stage and reader relies on.
    """

    def transaction(self) -> AbstractContextManager[Any]: ...

    def close(self) -> None: ...

    def upsert_source(self, url: str, kind: str = "unknown", title: str | None = None,
                      watched: bool | None = None) -> int: ...

    def get_video(self, video_id: str) -> Any: ...

    def find_video(self, video_id: str) -> Any: ...

    def upsert_video(self, rec: Any, folder: str) -> bool: ...

    def add_media_file(self, rec: Any) -> None: ...

    def media_file(self, sha256: str) -> Any: ...

    def add_event(self, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                  media_sha256: str | None = None, detail: dict[str, Any] | None = None) -> None: ...

    def events(self, video_id: str | None = None) -> list[Any]: ...

    def replace_keyframes(self, video_id: str, media_sha256: str, keyframes: Iterable[Any], detector: str,
                          tool_version: str) -> None: ...

    def replace_transcript(self, video_id: str, media_sha256: str, kind: str, transcript: Any,
                           path: str | None) -> int: ...

    def replace_tags(self, video_id: str, tags: Iterable[Any], model_version: str) -> None: ...

    def mark_stage(self, video_id: str, stage: str, key: str, detail: dict[str, Any] | None = None) -> None: ...

    def stage_done(self, video_id: str, stage: str, key: str) -> bool: ...

    # The search's SQL for this database: a module with the functions of ``pipeline.storage.sqlite.search``
    # (match_of, match_ids, count_matches, segment_rows, paired_lines, mention_counts, channels, …), so that
    # ``pipeline.search`` (full text, trends, browse, semantic filters) runs one code path on every backend.
    @property
    def search_sql(self) -> Any: ...

    # The archive's data folder this catalogue serves (vector index files, the default archive root).
    data_dir: Any


# scheme -> "module:Class"; imported on first use so an optional backend's dependencies stay optional.
BLOB_STORES: Registry[Callable[..., BlobStore]] = Registry("storage scheme", {
    "file": "pipeline.storage.files:Archive",
    "s3": "pipeline.storage.s3:S3Store",
})
CATALOGUES: Registry[Any] = Registry("database scheme", {
    "sqlite": "pipeline.storage.sqlite.catalogue:Store",
    "postgresql": "pipeline.storage.postgres.catalogue:PostgresCatalogue",
    "postgres": "pipeline.storage.postgres.catalogue:PostgresCatalogue",
})


def scheme_of(url: str | Path) -> tuple[str, str]:
    """('file', '/abs/path') for a plain path, else (scheme, url)."""
    text = str(url)
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # a path (a Windows drive letter is not a scheme)
        return "file", text
    if parts.scheme in ("file", "sqlite"):
        return parts.scheme, parts.path
    return parts.scheme, text


def open_blob_store(url: str | Path, **options: Any) -> BlobStore:
    """The blob store at ``url``; ``options`` (e.g. ``cache_dir``) go to a remote backend, a folder needs none."""
    scheme, where = scheme_of(url)
    if scheme == "file":
        return BLOB_STORES.load(scheme)(Path(where))
    return BLOB_STORES.load(scheme)(where, **options)


def open_catalogue(url: str | Path) -> Catalogue:
    scheme, where = scheme_of(url)
    if scheme == "file":
        scheme = "sqlite"
    return CATALOGUES.load(scheme)(Path(where) if scheme == "sqlite" else where)


def iter_backends() -> Iterator[tuple[str, str, str]]:
    """(kind, scheme, target) for every registered backend: used by the registry contract tests."""
    for scheme in BLOB_STORES:
        yield "blob", scheme, BLOB_STORES.target(scheme)
    for scheme in CATALOGUES:
        yield "catalogue", scheme, CATALOGUES.target(scheme)


def catalogue_for(settings: Settings, reading: bool = False) -> Catalogue:
    """The catalogue the settings name: clipwatch.db in the data folder, or CLIPWATCH_DATABASE_URL's database.

    Arguments:
        settings: where the archive is (``data_dir``) and which database serves it (``database_url``).
        reading: for a command that only reads: a clipwatch.db that cannot be written opens read-only.

    Returns:
        An open catalogue (a context manager: ``with catalogue_for(s) as store``).
    """
    if reading and not settings.database_url:
        settings.check_data_dir()
        return CATALOGUES.load("sqlite").for_reading(settings.db_path)
    cat = open_catalogue(settings.database_url or settings.db_path)
    if getattr(cat, "data_dir", None) is None:  # a database server: tell it which archive folder it serves
        cat.data_dir = settings.data_dir
    return cat


def blob_store_for(settings: Settings) -> BlobStore:
    """Where originals live: the archive folder, or the object store CLIPWATCH_STORAGE_URL names.

    Arguments:
        settings: the data folder (``archive_dir``, the S3 cache under it) and ``storage_url``.

    Returns:
        The blob store.
    """
    if not settings.storage_url:
        return open_blob_store(settings.archive_dir)
    return open_blob_store(settings.storage_url, cache_dir=settings.data_dir / "s3-cache")
