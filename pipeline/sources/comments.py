"""The platform's comments on a video (issue 23), as yt-dlp's comment extraction gives them.

With ``clipwatch ingest --comments`` (or ``comments = true`` on a channel's registry entry) the fetch asks yt-dlp for
the comments (its ``getcomments`` option). They stay byte-exact in the video's ``info.json`` as received, and the
comment API responses yt-dlp read are in the fetch's WACZ. From them clipwatch derives ``comments.json`` (the fields
an archivist cites: id, parent, author, author id, text, timestamp, like count — listed in the manifest, so ``verify``
covers it) and a transcript of kind ``comments`` whose lines are the comments' texts, so they are searchable as their
own source (``search --source comments``). A comment has no media time: its lines are stored at 0 s, and a hit links
to the video page's comments section with the author and the comment's time.

Comments are hostile text: the fields are coerced to strings/numbers, the searchable text has control characters
(NUL included, which PostgreSQL refuses) replaced, and at most ``MAX_INDEXED`` comments of at most ``MAX_CHARS``
characters each are indexed and shown, with a one-line note saying how many were left out (all stay in the files).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.storage.files import atomic_write_json

NAME = "comments.json"
KIND = "comments"  # the transcript kind, and the search source
MAX_INDEXED = 5000  # comments indexed for search and shown on the page; the rest stay in comments.json / info.json
MAX_CHARS = 4000  # characters of one comment indexed and shown; the whole text stays in the files
# C0 and C1 control characters except tab and newline: never stored in the search index (PostgreSQL refuses NUL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Comment:
    """One comment as the platform gave it (through yt-dlp's comment fields)."""

    id: str
    parent: str | None  # the comment it answers; None for a top-level one (yt-dlp's "root")
    author: str | None
    author_id: str | None
    text: str
    timestamp: int | None  # seconds since 1970 (UTC), as yt-dlp reports it
    like_count: int | None

    @property
    def posted_at(self) -> str | None:
        """The comment's time as ISO 8601 UTC, None when the platform gave none (or an impossible one)."""
        if self.timestamp is None:
            return None
        try:
            return datetime.fromtimestamp(self.timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            return None


@dataclass
class CommentLine:
    """A comment as a transcript line (duck-typed like an ASR segment), at 0 s: a comment has no media time."""

    text: str
    start: float = 0.0
    end: float = 0.0
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class CommentsTranscript:
    """The indexed comments, stored like a transcript (kind ``comments``)."""

    segments: list[CommentLine]
    duration: float = 0.0
    language: str | None = None
    language_probability: float | None = None
    model: str = "comments"  # the extractor that read them (yt-dlp's extractor key)
    engine: str = "yt-dlp"
    engine_version: str = ""


def _str(value: Any) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def comments_of(info: dict[str, Any]) -> list[Comment] | None:
    """The comments in a yt-dlp info dict, in the order given; None when comments were not asked for or are off.

    Arguments:
        info: yt-dlp's (sanitized) info dict of one video.

    Returns:
        A list of ``Comment`` (entries that are not objects are left out), or None when ``info`` has no ``comments``.
    """
    raw = info.get("comments")
    if not isinstance(raw, list):
        return None
    out: list[Comment] = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            continue
        parent = _str(c.get("parent"))
        out.append(Comment(
            id=_str(c.get("id")) or str(i), parent=None if parent in (None, "", "root") else parent,
            author=_str(c.get("author")), author_id=_str(c.get("author_id")), text=_str(c.get("text")) or "",
            timestamp=_int(c.get("timestamp")), like_count=_int(c.get("like_count")),
        ))
    return out


def clean(text: str) -> str:
    """Text for the search index and the page: control characters replaced, cut to ``MAX_CHARS``."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"


def cap_note(total: int) -> str | None:
    """The one line saying how many comments were left out of the index and the page (None when none were)."""
    if total <= MAX_INDEXED:
        return None
    return (f"{total - MAX_INDEXED:,} of {total:,} comments not indexed or shown (the first {MAX_INDEXED:,} are); "
            f"all are in {NAME} and info.json")


def write_comments(folder: Path, info: dict[str, Any], extractor_version: str = "") -> tuple[Path, CommentsTranscript] | None:
    """Write ``comments.json`` into a video's folder and return it with the searchable transcript.

    Arguments:
        folder: the video's folder in the archive.
        info: the info dict as received (its ``comments`` as yt-dlp gave them).
        extractor_version: the yt-dlp version, recorded as the transcript's engine version.

    Returns:
        (path, transcript), or None when the info dict holds no comments list.
    """
    comments = comments_of(info)
    if comments is None:
        return None
    path = folder / NAME
    atomic_write_json(path, {"count": len(comments), "platform_count": _int(info.get("comment_count")),
                             "note": cap_note(len(comments)), "comments": [asdict(c) for c in comments]})
    lines = [CommentLine(text=clean(c.text)) for c in comments[:MAX_INDEXED]]
    return path, CommentsTranscript(segments=lines, model=str(info.get("extractor_key") or "comments"),
                                    engine_version=extractor_version)


def read_comments(path: Path) -> list[Comment]:
    """The comments of a ``comments.json`` (an unreadable or malformed file reads as none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = data.get("comments") if isinstance(data, dict) else None
    return comments_of({"comments": items}) or []


def threaded(comments: list[Comment], limit: int = MAX_INDEXED) -> list[tuple[int, Comment]]:
    """The first ``limit`` comments in thread order: (depth, comment), each answer under the comment it answers.

    An answer whose parent is unknown (or a cycle) is shown at the top level; depth is capped at 8 for display.
    """
    shown = comments[:limit]
    ids = {c.id for c in shown}
    children: dict[str | None, list[Comment]] = {}
    for c in shown:
        children.setdefault(c.parent if c.parent in ids and c.parent != c.id else None, []).append(c)
    out: list[tuple[int, Comment]] = []
    seen: set[int] = set()
    stack: list[tuple[int, Comment]] = [(0, c) for c in reversed(children.get(None, []))]
    while stack:  # iterative: a 10,000-deep chain of answers must not exhaust the recursion limit
        depth, c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        out.append((min(depth, 8), c))
        stack.extend((depth + 1, k) for k in reversed(children.get(c.id, [])))
    out.extend((0, c) for c in shown if id(c) not in seen)  # parent cycles: never lost
    return out
