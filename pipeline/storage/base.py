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
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pipeline.config import Settings
from pipeline.domain import MediaRecord, VideoRecord
from pipeline.registry import Registry
from pipeline.storage.chain import ChainReport

if TYPE_CHECKING:  # only for annotations: the contract does not load numpy
    from numpy.typing import NDArray


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
class ObjectStore(BlobStore, Protocol):
    """A blob store kept in an object store (``s3``): what callers use beyond ``BlobStore`` where
    CLIPWATCH_STORAGE_URL names one (the doctor's reachability check, the web's "is the original there" HEAD).
    """

    def check(self) -> None:
        """Raise StorageError unless the bucket exists and answers."""
        ...

    def head(self, rel: str | Path) -> Any:
        """The object's ObjectInfo (key, size, sha256, checksum_sha256), or None when it is not stored."""
        ...


# A catalogue row: sqlite3.Row or PostgreSQL's Row, read by column name (and by position).
Row = Any


@runtime_checkable
class SearchIndex(Protocol):
    """The full-text search over a catalogue's segments, as the catalogue hands it out (``catalogue.search_index``).

    ``pipeline.search`` plans a query once (``pipeline.search.query.plan``) and runs it through these methods, one
    code path on every database: SQLite's FTS5 tables (``pipeline.storage.sqlite.search``) or PostgreSQL's tsvector,
    Hangul bigram and trigram indexes (``pipeline.storage.postgres.search``). ``Filters`` is
    ``pipeline.storage.sqlite.search.Filters`` on both.
    """

    # What a query the engine cannot parse raises: the search retries it as a plain phrase.
    query_syntax_errors: tuple[type[Exception], ...]

    def match_of(self, plan: Any) -> Any:
        """What ``match_ids`` takes for a plan (FTS5's expression, or its reading in PostgreSQL's terms)."""
        ...

    def match_ids(self, table: str, match: Any, filters: Any, sort: str, offset: int, n: int, ranked: bool = True,
                  newest_first: bool = False) -> list[tuple[int, float | None]]:
        """(segment id, score, lower is better, or None) of one page of the lines ``table`` matches."""
        ...

    def count_matches(self, table: str, match: Any, filters: Any) -> int:
        """How many lines of ``table`` match, filtered."""
        ...

    def term_docs(self, term: str) -> int:
        """Lines of the word index holding ``term`` (an estimate where the database only estimates)."""
        ...

    def filter_ids(self, filters: Any, ids: list[int]) -> set[int]:
        """The segments among ``ids`` that still exist and pass the filters."""
        ...

    def segment_rows(self, ids: list[int]) -> dict[int, Row]:
        """Hit rows by segment id: id, video_id, start, end, text, flags, kind, language, words."""
        ...

    def video_rows(self, video_ids: list[str]) -> dict[str, Row]:
        """Video rows by id."""
        ...

    def media_rows(self, sha256s: list[str | None]) -> dict[str, Row]:
        """Media file rows by SHA-256."""
        ...

    def tag_rows(self, video_ids: list[str]) -> dict[str, list[Row]]:
        """Effective tag rows by video id."""
        ...

    def paired_lines(self, wanted: list[tuple[Any, str, str, float, float]]) -> dict[Any, str | None]:
        """(key, video id, kind, start, end) -> the other transcript's line at that time."""
        ...

    def nearest_keyframes(self, wanted: list[tuple[Any, str, float]]) -> dict[Any, Any]:
        """(key, video id, time) -> (time, path) of the keyframe nearest, or None."""
        ...

    def segment_texts(self, ids: list[int]) -> dict[int, str]:
        """Line text by segment id."""
        ...

    def segment_ids(self) -> list[int]:
        """Every segment id, in order."""
        ...

    def mention_counts(self, tables: Iterable[tuple[str, Any]], by: str, filters: Any) -> list[dict[str, Any]]:
        """Hits and videos per (period, channel) for each (table, match)."""
        ...

    def channels(self) -> list[Row]:
        """Channels with their video counts, dates and removals (the browse list)."""
        ...

    def removed_videos(self, limit: int = 500) -> list[Row]:
        """Videos found removed, newest first."""
        ...

    def recent_videos(self, limit: int = 100) -> list[Row]:
        """The latest archived videos."""
        ...


@runtime_checkable
class Catalogue(Protocol):
    """The catalogue: sources, videos, media files, events (the chain of custody), derivatives, tags, speakers,
    stage runs, copies. Every reader and writer outside ``pipeline/storage/`` is typed against this contract.

    ``pipeline.storage.catalogue.SQLCatalogue`` implements it once in portable SQL; SQLite (``Store``) and
    PostgreSQL (``PostgresCatalogue``) are its dialects. Rows are read by column name.
    """

    readonly: bool
    upgraded: dict[str, Any] | None
    # The archive's data folder this catalogue serves (vector index files, the default archive root).
    data_dir: Path | None

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def search_index(self) -> SearchIndex: ...

    # sources and their monitoring state
    def upsert_source(self, url: str, kind: str = "unknown", title: str | None = None,
                      watched: bool | None = None) -> int: ...

    def source(self, source_id: int) -> Row | None: ...

    def watched_source_rows(self) -> list[Row]: ...

    def watched_sources_with_state(self) -> list[Row]: ...

    def source_check(self, source_id: int) -> Row | None: ...

    def set_source_list_error(self, source_id: int, error: str) -> None: ...

    def source_listed(self, source_id: int, at: str, title: str | None) -> None: ...

    def source_checked(self, source_id: int, at: str) -> None: ...

    def source_failed(self, source_id: int, failed: int, first_failed_at: str, at: str,
                      removed: tuple[str, str] | None = None) -> None: ...

    # videos
    def get_video(self, video_id: str) -> Row: ...

    def find_video(self, video_id: str) -> Row | None: ...

    def video_by_sha256(self, sha256: str) -> Row | None: ...

    def videos_holding(self, sha256: str) -> list[str]: ...

    def upsert_video(self, rec: VideoRecord, folder: str) -> bool: ...

    def set_video_fields(self, video_id: str, **fields: Any) -> None: ...

    def add_metadata_version(self, video_id: str, title: str | None, description: str | None,
                             platform_tags: list[str], info_json_path: str | None,
                             seen_at: str | None = None) -> None: ...

    def metadata_versions(self, video_id: str) -> list[Row]: ...

    def list_videos(self, limit: int = 1000) -> list[Row]: ...

    def all_videos(self) -> list[Row]: ...

    def video_count(self) -> int: ...

    def status_counts(self) -> dict[str, int]: ...

    def suspect_count(self) -> int: ...

    def filter_options(self) -> dict[str, list[str]]: ...

    def video_ids(self, order: str = "archived") -> list[str]: ...

    def checkable_video_ids(self) -> list[str]: ...

    def video_ids_by_channel(self, channel: str) -> list[str]: ...

    def video_ids_by_title(self, text: str) -> list[str]: ...

    def video_urls(self) -> set[str]: ...

    def row_counts(self, tables: Iterable[str] = ...) -> dict[str, int]: ...

    # media
    def add_media_file(self, rec: MediaRecord) -> None: ...

    def media_file(self, sha256: str, video_id: str | None = None) -> Row | None: ...

    def video_media(self, video_id: str) -> Row | None: ...

    def media_for_video(self, video_id: str) -> list[Row]: ...

    def media_rows(self) -> list[Row]: ...

    def media_fetches(self, video_id: str | None = None) -> list[Row]: ...

    # events: the hash chain
    def add_event(self, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                  media_sha256: str | None = None, detail: dict[str, Any] | None = None) -> int: ...

    def events(self, video_id: str | None = None) -> list[Row]: ...

    def events_of_kind(self, kind: str) -> list[Row]: ...

    def events_of_kinds(self, kinds: Iterable[str], limit: int = 1000) -> list[Row]: ...

    def last_event(self, video_id: str, kind: str) -> Row | None: ...

    def fetched_events(self, video_id: str, sha256: str) -> list[Row]: ...

    def chain_head(self) -> tuple[int, str, str]: ...

    def chain_report(self) -> ChainReport: ...

    def manifest_record(self, video_id: str) -> Row | None: ...

    def set_manifest_record(self, video_id: str, path: str, sha256: str, files: int) -> None: ...

    # derivatives
    def replace_keyframes(self, video_id: str, media_sha256: str, keyframes: Iterable[Any], detector: str,
                          tool_version: str) -> None: ...

    def keyframes(self, video_id: str) -> list[Row]: ...

    def keyframe_hashes(self) -> list[Row]: ...

    def replace_transcript(self, video_id: str, media_sha256: str, kind: str, transcript: Any,
                           path: str | None) -> int: ...

    def transcript_rows(self, video_id: str) -> list[Row]: ...

    def segments(self, video_id: str, kind: str = "original") -> list[Row]: ...

    def segment_words(self, segment_id: int) -> str | None: ...

    def replace_audio_profile(self, video_id: str, media_sha256: str, profile: Any, path: str | None) -> None: ...

    def audio_profile_row(self, video_id: str) -> Row | None: ...

    # tags
    def replace_tags(self, video_id: str, tags: Iterable[Any], model_version: str) -> None: ...

    def set_human_tag(self, video_id: str, category: str, value: bool, evidence: list[str]) -> None: ...

    def clear_human_tag(self, video_id: str, category: str) -> bool: ...

    def tags(self, video_id: str) -> list[Row]: ...

    def all_tags(self, video_id: str) -> list[Row]: ...

    # speakers (issue 24): turns, voices (centroid embeddings) and the names people give voices
    def replace_speakers(self, video_id: str, media_sha256: str, encoder: str, turns: Iterable[Any],
                         voices: Iterable[Any]) -> None: ...

    def speaker_turns(self, video_id: str) -> list[dict[str, Any]]: ...

    def speaker_turns_of(self, video_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]: ...

    def voices(self, video_id: str) -> list[dict[str, Any]]: ...

    def all_voices(self, encoder: str | None = None) -> Iterator[tuple[str, str, float, NDArray[Any]]]: ...

    def voice_count(self) -> tuple[int, str]: ...

    def set_voice_name(self, video_id: str, speaker: str, name: str,
                       embedding: NDArray[Any] | None) -> str | None: ...

    def voices_named(self, name: str) -> list[tuple[str, str]]: ...

    # recorded live streams (issue 25): a segment's channel, stream and air time (ISO 8601 UTC, ms, Z)
    def add_segment(self, video_id: str, channel: str, stream_url: str | None, seq: int | None,
                    air_start: str | None, air_end: str | None, air_clock: str) -> None: ...

    def stream_segments(self, channel: str | None, start: str | None = None,
                        end: str | None = None) -> list[dict[str, Any]]: ...

    def stream_segment(self, video_id: str) -> dict[str, Any] | None: ...

    # programmes of recorded channels and the idents the user marked (issue 25)
    def replace_programmes(self, channel: str, start: str, end: str, programmes: Iterable[dict[str, Any]]) -> int: ...

    def programmes(self, channel: str, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]: ...

    def add_ident(self, channel: str, name: str, fingerprint: bytes, duration: float) -> int: ...

    def idents(self, channel: str) -> list[dict[str, Any]]: ...

    # stage runs
    def mark_stage(self, video_id: str, stage: str, key: str, detail: dict[str, Any] | None = None) -> None: ...

    def stage_done(self, video_id: str, stage: str, key: str) -> bool: ...

    def stage_runs(self, video_id: str) -> list[Row]: ...

    # copies and the channel network
    def save_fingerprint(self, video_id: str, media_sha256: str, data: bytes, duration: float, tool: str,
                         tool_version: str) -> None: ...

    def fingerprints(self, exclude: str | None = None, only: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]: ...

    def keyframe_rows(self, exclude: str | None = None,
                      only: Iterable[str] | None = None) -> list[tuple[str, float, int, float, float]]: ...

    def video_facts(self, only: Iterable[str] | None = None) -> list[Row]: ...

    def save_links(self, links: Iterable[Any], method_version: str) -> int: ...

    def links_of(self, video_id: str) -> tuple[list[Row], list[Row]]: ...

    def all_links(self) -> list[Row]: ...

    def network_videos(self) -> list[Row]: ...

    def video_copies(self, video_id: str) -> dict[str, list[dict[str, Any]]]: ...


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
    """The catalogue at ``url``: a path (SQLite), ``sqlite:///path`` or ``postgresql://…``.

    Arguments:
        url: where the catalogue is.

    Returns:
        An open catalogue (a context manager).
    """
    scheme, where = scheme_of(url)
    if scheme == "file":
        scheme = "sqlite"
    cat: Catalogue = CATALOGUES.load(scheme)(Path(where) if scheme == "sqlite" else where)
    return cat


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
        reader: Catalogue = CATALOGUES.load("sqlite").for_reading(settings.db_path)
        return reader
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
