"""Search hits to CSV, JSON, JSON Lines, SRT or a concordance (KWIC): one row per hit, with every citation field.

``export_hits(store, query, fmt)`` pages through all hits of a query (up to
``max_hits``) and renders them; ``HIT_FIELDS`` is the column order.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from pipeline import csvsafe
from pipeline.asr.subtitles import timestamp
from pipeline.errors import QueryError
from pipeline.search.citation import cite, to_text
from pipeline.search.facade import Hit, SearchQuery, VideoGroup, search
from pipeline.search.views import concordance
from pipeline.storage.base import Catalogue

FORMATS = ("csv", "json", "jsonl", "srt", "kwic")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "jsonl": "application/x-ndjson",
               "srt": "application/x-subrip; charset=utf-8", "kwic": "text/plain; charset=utf-8"}

HIT_FIELDS = [
    "video_id", "title", "channel", "channel_url", "webpage_url", "upload_date", "archived_at", "status", "sha256",
    "segment_id", "kind", "language", "start", "end", "timestamp", "text", "original", "translation", "snippet",
    "score", "link", "keyframe", "citation", "doubtful",
]


def hit_row(group: VideoGroup, hit: Hit) -> dict[str, Any]:
    c = cite(group, None, seconds=hit.start)
    return {
        "video_id": group.video_id, "title": group.title, "channel": group.channel, "channel_url": group.channel_url,
        "webpage_url": group.webpage_url, "upload_date": c.upload_date, "archived_at": group.archived_at,
        "status": group.status, "sha256": group.sha256, "segment_id": hit.segment_id, "kind": hit.kind,
        "language": hit.language, "start": round(hit.start, 3), "end": round(hit.end, 3), "timestamp": c.timestamp,
        "text": hit.text, "original": hit.original, "translation": hit.translation, "snippet": hit.snippet,
        "score": hit.score, "link": hit.link, "keyframe": hit.keyframe.path if hit.keyframe else None,
        "citation": to_text(c), "doubtful": hit.doubtful,
    }


def iter_hits(store: Catalogue, query: SearchQuery, max_hits: int = 10_000, archive_dir: Path | None = None,
              page_size: int = 500) -> Iterator[tuple[VideoGroup, Hit]]:
    """Every hit of a query in order, following cursors, at most ``max_hits``."""
    q = replace(query, limit=min(page_size, max(1, max_hits)))
    n = 0
    while True:
        res = search(store, q, archive_dir=archive_dir)
        for g in res.videos:
            for h in g.hits:
                if n >= max_hits:
                    return
                n += 1
                yield g, h
        if not res.next_cursor:
            return
        q = replace(q, cursor=res.next_cursor)


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt not in FORMATS:
        raise QueryError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "csv":
        buf = io.StringIO()
        w = csvsafe.DictWriter(buf, fieldnames=HIT_FIELDS, extrasaction="ignore", lineterminator="\r\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)  # spreadsheet formulas in untrusted text neutralised (see pipeline.csvsafe)
        return buf.getvalue()
    # SRT: one cue per hit at the hit's own times, with where it comes from on a second line.
    cues = []
    for i, r in enumerate(rows, 1):
        lines = [r["text"]]
        if r["kind"] == "translation" and r.get("original"):
            lines.append(r["original"])
        elif r.get("translation"):
            lines.append(r["translation"])
        lines.append(f"[{r['channel'] or ''} — {r['title'] or ''} — {r['video_id']} @ {r['timestamp']}]")
        text = "\n".join(" ".join(str(x).split()) for x in lines)
        cues.append(f"{i}\n{timestamp(r['start'])} --> {timestamp(r['end'])}\n{text}\n")
    return "\n".join(cues)


def export_hits(store: Catalogue, query: SearchQuery, fmt: str, max_hits: int = 10_000, archive_dir: Path | None = None) -> str:
    if fmt not in FORMATS:
        raise QueryError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    pairs = list(iter_hits(store, query, max_hits=max_hits, archive_dir=archive_dir))
    if fmt == "kwic":

        return concordance(pairs)
    return render([hit_row(g, h) for g, h in pairs], fmt)
