"""Recorded live streams' segments and their air time, in portable SQL (a part of ``SQLCatalogue``; issue 25).

The table is ``stream_segments`` (``segments`` already holds transcript lines): sqlite/schema.sql (step 5) and
PostgreSQL's migration 0010. Air times are ISO 8601 UTC with milliseconds and a ``Z``
(``2026-12-06T20:14:33.120Z``), one fixed width, so that comparing the strings compares the times.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.storage.sql import SQLBase

AIR_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AIR_CLOCKS = ("stream", "receiver")
STREAM_SEGMENT_COLUMNS = ("video_id", "channel", "stream_url", "seq", "air_start", "air_end", "air_clock")


def check_air_time(value: str | None, name: str) -> None:
    """Raise ValueError unless ``value`` (named ``name``) is None or an ISO 8601 UTC air time with milliseconds."""
    if value is not None and not AIR_TIME.fullmatch(value):
        raise ValueError(f"{name} must be ISO 8601 UTC with milliseconds and Z (2026-12-06T20:14:33.120Z), not {value!r}")


class StreamTables(SQLBase):
    """Segments of recorded live streams: which channel, which stream, when they aired."""

    def add_segment(self, video_id: str, channel: str, stream_url: str | None, seq: int | None,
                    air_start: str | None, air_end: str | None, air_clock: str) -> None:
        """Record that a video is a segment of a recorded stream (again: its row is replaced).

        Arguments:
            video_id: the segment's video (catalogued first: the row refers to it).
            channel: the channel id (``clipwatch record URL --channel ID``).
            stream_url: the stream recorded.
            seq: the segment's number in its recording.
            air_start: when its first frame aired, ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
            air_end: when its last frame ended, same form.
            air_clock: ``stream`` (the stream's own clock, EXT-X-PROGRAM-DATE-TIME) or ``receiver``.
        """
        check_air_time(air_start, "air_start")
        check_air_time(air_end, "air_end")
        if air_clock not in AIR_CLOCKS:
            raise ValueError(f"air_clock must be one of {AIR_CLOCKS}, not {air_clock!r}")
        with self.transaction():
            self._execute(
                f"INSERT INTO stream_segments({', '.join(STREAM_SEGMENT_COLUMNS)}) VALUES ({self._marks(7)})"
                " ON CONFLICT (video_id) DO UPDATE SET channel = excluded.channel, stream_url = excluded.stream_url,"
                " seq = excluded.seq, air_start = excluded.air_start, air_end = excluded.air_end,"
                " air_clock = excluded.air_clock",
                (video_id, channel, stream_url, seq, air_start, air_end, air_clock))

    def stream_segments(self, channel: str | None, start: str | None = None,
                        end: str | None = None) -> list[dict[str, Any]]:
        """A channel's recorded segments that overlap ``[start, end)``, in air order.

        Arguments:
            channel: the channel id; None for every channel.
            start: air time (same form as stored); None: from the first.
            end: air time; None: to the last.

        Returns:
            One dict per segment (``video_id``, ``channel``, ``stream_url``, ``seq``, ``air_start``, ``air_end``,
            ``air_clock``), ordered by ``air_start``.
        """
        P = self.P
        where, args = [], []
        if channel is not None:
            where.append(f"channel = {P}")
            args.append(channel)
        if start is not None:  # overlaps: ends after start (a segment without an end is still open)
            where.append(f"(air_end IS NULL OR air_end > {P})")
            args.append(start)
        if end is not None:
            where.append(f"air_start < {P}")
            args.append(end)
        sql = f"SELECT {', '.join(STREAM_SEGMENT_COLUMNS)} FROM stream_segments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._all(sql + " ORDER BY air_start, seq, video_id", tuple(args))
        return [{k: r[k] for k in STREAM_SEGMENT_COLUMNS} for r in rows]

    def stream_segment(self, video_id: str) -> dict[str, Any] | None:
        """The segment row of one video, or None when the video is not a recorded segment."""
        r = self._one(f"SELECT {', '.join(STREAM_SEGMENT_COLUMNS)} FROM stream_segments WHERE video_id = {self.P}",
                      (video_id,))
        return None if r is None else {k: r[k] for k in STREAM_SEGMENT_COLUMNS}
