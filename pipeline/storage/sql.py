"""The base of the SQL catalogue: what a dialect provides (placeholder, statements, transactions, the event log's
protection, the writes whose SQL differs) and the small helpers every part of the portable SQL uses.

``pipeline.storage.catalogue.SQLCatalogue`` is built from parts over this base (its core, ``copy_tables``,
``speaker_tables``), so no module of the catalogue grows past one subject.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Sequence

from pipeline.domain import VideoRecord
from pipeline.storage.base import Row, SearchIndex


class SQLBase(ABC):
    """What every part of the SQL catalogue stands on: the dialect's primitives (abstract) and the helpers over them.

    The catalogue's tables are written against this in parts (``SQLCatalogue`` and its mixins); a dialect class
    (SQLite, PostgreSQL) implements the abstract methods once for all of them.
    """

    #: the dialect's parameter placeholder, as its driver wants it (``?`` for sqlite3, ``%s`` for psycopg)
    P: str = "?"
    #: how the dialect compares text ignoring case in ``LIKE`` (SQLite's LIKE already ignores ASCII case)
    LIKE_CI: str = "LIKE"
    #: what locks a row read before it is updated (PostgreSQL's concurrent writers; SQLite has one writer already)
    FOR_UPDATE: str = ""
    #: the triggers that keep the events append-only and chained on this database (``verify`` reports a missing one)
    EVENT_TRIGGERS: tuple[str, ...] = ()

    readonly: bool = False
    upgraded: dict[str, Any] | None = None
    data_dir: Path | None = None

    # -- what a dialect provides -----------------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor (iterable, ``fetchone``, ``fetchall``, ``rowcount``)."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""

    @abstractmethod
    def _insert_id(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT into a table with an integer ``id`` and return the new row's id."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls join the outer one."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abstractmethod
    def _lock_events(self) -> None:
        """Hold the event log for one appender until the transaction ends."""

    @abstractmethod
    def _table_names(self) -> set[str]:
        """The tables of this catalogue's schema (a table added by a later migration may not be there yet)."""

    @abstractmethod
    def _insert_event(self, ev: dict[str, Any]) -> int:
        """Insert an event made by ``chain.new_event``; returns its id (the dialect decides who numbers it)."""

    @abstractmethod
    def _events_issued(self) -> int | None:
        """The highest event id ever given out (a deletion from the end of the log leaves it ahead)."""

    @abstractmethod
    def _event_triggers(self) -> set[str]:
        """The enabled triggers on the events table."""

    @property
    @abstractmethod
    def search_index(self) -> SearchIndex:
        """The full-text search over this catalogue's segments (see ``pipeline.storage.base.SearchIndex``)."""

    @abstractmethod
    def upsert_video(self, rec: VideoRecord, folder: str) -> bool:
        """Insert or refresh a video's metadata. Returns True when the metadata changed."""

    @abstractmethod
    def replace_transcript(self, video_id: str, media_sha256: str, kind: str, transcript: Any, path: str | None) -> int:
        """Store a transcript (original, translation or screen text) and its segments with their search index."""

    @abstractmethod
    def filter_options(self) -> dict[str, list[str]]:
        """The values a search form offers: channels, tag categories, spoken languages."""

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query, or None."""
        return self._execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._execute(sql, params).fetchall())

    def _marks(self, n: int) -> str:
        return ", ".join([self.P] * n)

    def __enter__(self) -> "SQLBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
