"""Programmes of recorded channels and the idents that bound them, in portable SQL (a part of ``SQLCatalogue``;
issue 25).

Tables ``programmes`` and ``idents``: sqlite/schema.sql (step 6) and PostgreSQL's migration 0011. Air times are
ISO 8601 UTC with milliseconds and a ``Z``, as in ``stream_segments``, so comparing the strings compares the times;
``evidence`` and ``video_ids`` are JSON text (the same on both databases).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from pipeline.domain import utcnow
from pipeline.storage.sql import SQLBase
from pipeline.storage.stream_tables import check_air_time

PROGRAMME_COLUMNS = ("id", "channel", "air_start", "air_end", "title", "title_source", "evidence", "video_ids",
                     "found_at")
IDENT_COLUMNS = ("id", "channel", "name", "fingerprint", "duration", "created_at")
TITLE_SOURCES = ("screen", "speech", None)


def _programme(r: Any) -> dict[str, Any]:
    d = {k: r[k] for k in PROGRAMME_COLUMNS}
    d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else {}
    d["video_ids"] = json.loads(d["video_ids"]) if d["video_ids"] else []
    return d


class ProgrammeTables(SQLBase):
    """A channel's programmes (found by ``pipeline.programmes``) and its marked idents."""

    def replace_programmes(self, channel: str, start: str, end: str, programmes: Iterable[dict[str, Any]]) -> int:
        """Replace the channel's programmes that start in ``[start, end)`` with ``programmes`` (a re-detection).

        Arguments:
            channel: the channel id.
            start, end: the air span detected again (``YYYY-MM-DDTHH:MM:SS.mmmZ``).
            programmes: dicts with ``air_start``, ``air_end``, ``title``, ``title_source``, ``evidence`` (a dict),
                ``video_ids`` (a list).
        Returns:
            how many programmes were written.
        """
        check_air_time(start, "start")
        check_air_time(end, "end")
        P = self.P
        rows = []
        found_at = utcnow()
        for p in programmes:
            check_air_time(p["air_start"], "air_start")
            check_air_time(p["air_end"], "air_end")
            if p.get("title_source") not in TITLE_SOURCES:
                raise ValueError(f"title_source must be one of {TITLE_SOURCES}, not {p.get('title_source')!r}")
            rows.append((channel, p["air_start"], p["air_end"], p.get("title"), p.get("title_source"),
                         json.dumps(p.get("evidence") or {}, sort_keys=True), json.dumps(list(p.get("video_ids") or [])),
                         found_at))
        with self.transaction():
            self._execute(f"DELETE FROM programmes WHERE channel = {P} AND air_start >= {P} AND air_start < {P}",
                          (channel, start, end))
            if rows:
                self._executemany(f"INSERT INTO programmes({', '.join(PROGRAMME_COLUMNS[1:])}) "
                                  f"VALUES ({self._marks(len(PROGRAMME_COLUMNS) - 1)})", rows)
        return len(rows)

    def programmes(self, channel: str, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]:
        """The channel's programmes overlapping ``[start, end)``, in air order.

        Arguments:
            channel: the channel id.
            start, end: air times (None: unbounded).
        Returns:
            dicts with the columns of ``programmes``; ``evidence`` a dict and ``video_ids`` a list.
        """
        P = self.P
        where, args = [f"channel = {P}"], [channel]
        if start is not None:
            where.append(f"air_end > {P}")
            args.append(start)
        if end is not None:
            where.append(f"air_start < {P}")
            args.append(end)
        rows = self._all(f"SELECT {', '.join(PROGRAMME_COLUMNS)} FROM programmes WHERE {' AND '.join(where)} "
                         "ORDER BY air_start, id", tuple(args))
        return [_programme(r) for r in rows]

    def add_ident(self, channel: str, name: str, fingerprint: bytes, duration: float) -> int:
        """Keep an ident the user marked (its Chromaprint items); returns its id.

        Arguments:
            channel: the channel it belongs to.
            name: what the user calls it.
            fingerprint: little-endian uint32 Chromaprint items.
            duration: seconds of audio it was made from.
        """
        with self.transaction():
            return self._insert_id(f"INSERT INTO idents(channel, name, fingerprint, duration, created_at) "
                                   f"VALUES ({self._marks(5)})", (channel, name, bytes(fingerprint), float(duration),
                                                                  utcnow()))

    def idents(self, channel: str) -> list[dict[str, Any]]:
        """The channel's marked idents (oldest first), with their fingerprints as bytes."""
        rows = self._all(f"SELECT {', '.join(IDENT_COLUMNS)} FROM idents WHERE channel = {self.P} ORDER BY id",
                         (channel,))
        return [{k: (bytes(r[k]) if k == "fingerprint" else r[k]) for k in IDENT_COLUMNS} for r in rows]
