"""Air time for hits in recorded live streams (issue 25): a hit at second S of a segment that aired from A aired at
A + S. Set on each hit of a recorded segment (``Hit.air_time``, ISO 8601 UTC); other hits keep None."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable


def air_time(air_start: str, offset: float) -> str:
    """``air_start`` (…Z) plus ``offset`` seconds, as ISO 8601 UTC with milliseconds and ``Z``."""
    t = datetime.fromisoformat(air_start.replace("Z", "+00:00")) + timedelta(seconds=float(offset))
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def annotate_air_times(store: Any, groups: Iterable[Any]) -> None:
    """Set ``air_time`` on every hit of a recorded segment (one catalogue read per video on the page)."""
    for g in groups:
        seg = store.stream_segment(g.video_id)
        if not seg or not seg.get("air_start"):
            continue
        for h in g.hits:
            h.air_time = air_time(seg["air_start"], h.start)
