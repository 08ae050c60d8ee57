"""The catalogue's domain records and ids: what a video, a fetched file and a tag are, independent of any database.

A leaf: it imports nothing of clipwatch, so sources, stages, search and every storage backend can name a video
without importing SQLite (``pipeline.storage`` stores these records; it does not define them).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping


def utcnow() -> str:
    """The current time as the catalogue writes it.

    Returns:
        UTC, to the second, ISO 8601 with a ``Z`` (``2026-01-31T12:00:00Z``): strings that sort as times.
    """
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def make_video_id(extractor: str, platform_id: str, webpage_url: str) -> str:
    """Readable and stable: the platform's id plus a short hash of where it came from.

    yt-dlp's generic extractor names a direct file by its stem, so clip.mp4 and
    clip.webm share an id; the hash of extractor + id + URL keeps them apart.

    Arguments:
        extractor: yt-dlp's extractor name (``youtube``, ``generic``, ``local`` …).
        platform_id: the platform's own id of the video.
        webpage_url: the page the video was archived from.

    Returns:
        ``<extractor>-<slug of the platform id>-<6 hex digits>``.
    """
    digest = hashlib.sha1(f"{extractor}\n{platform_id}\n{webpage_url}".encode()).hexdigest()[:6]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", platform_id).strip("_")[:40] or "video"
    ext = re.sub(r"[^a-z0-9]+", "", extractor.lower())[:16] or "src"
    return f"{ext}-{slug}-{digest}"


def to_signed64(value: int) -> int:
    """A 64-bit perceptual hash as the catalogue stores it (a signed BIGINT / SQLite INTEGER).

    Arguments:
        value: the hash as an unsigned 64-bit integer.

    Returns:
        The same 64 bits read as a two's-complement signed integer.
    """
    return value - (1 << 64) if value >= (1 << 63) else value


def to_unsigned64(value: int) -> int:
    """A stored (signed) 64-bit hash back as the unsigned integer ``pipeline.shots.phash`` computes.

    Arguments:
        value: the hash as stored.

    Returns:
        The same 64 bits read as an unsigned integer.
    """
    return value + (1 << 64) if value < 0 else value


@dataclass
class VideoRecord:
    """A video's identity and the platform's metadata, as ``upsert_video`` stores it."""

    id: str
    extractor: str
    platform_id: str
    webpage_url: str
    source_url: str
    title: str | None = None
    description: str | None = None
    channel: str | None = None
    channel_id: str | None = None
    channel_url: str | None = None
    uploader: str | None = None
    upload_date: str | None = None
    duration: float | None = None
    categories: list[str] = field(default_factory=list)
    platform_tags: list[str] = field(default_factory=list)
    source_id: int | None = None


@dataclass
class MediaRecord:
    """One video's fetch of one original file: the file (by SHA-256) and that fetch's own provenance."""

    sha256: str
    video_id: str
    path: str
    size: int
    fetched_at: str
    fetcher: str
    fetcher_version: str | None = None
    clipwatch_version: str | None = None
    container: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    format_id: str | None = None
    source_url: str | None = None
    final_url: str | None = None
    http_status: int | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    fetch_started_at: str | None = None


def pack_words(text: str, words: Iterable[Any]) -> str:
    """Word timings as stored: JSON ``[offset, start_ms, end_ms, ...]``, offset = where the word begins in ``text``.

    Whisper's words carry their own spacing (" nuclear"); each is found in the stored (stripped) line in order, so
    the search can tell which word of the line a match is and take its start as the hit's time.

    Arguments:
        text: the line as stored (stripped).
        words: objects with ``word``, ``start`` and ``end`` (seconds).

    Returns:
        The compact JSON list.
    """
    flat: list[int] = []
    pos = 0
    for w in words:
        token = (getattr(w, "word", None) or "").strip()
        if not token:
            continue
        at = text.find(token, pos)
        if at < 0:  # the engine normalised the text differently: keep the order, point at the last position
            at = min(pos, len(text))
        else:
            pos = at + len(token)
        flat += [at, int(round(float(w.start) * 1000)), int(round(float(w.end) * 1000))]
    return json.dumps(flat, separators=(",", ":"))


def unpack_words(value: str | None) -> list[tuple[int, float, float]]:
    """Word timings from ``pack_words``.

    Arguments:
        value: the stored JSON (None or unreadable: no timings).

    Returns:
        (character offset, start s, end s) per word.
    """
    if not value:
        return []
    try:
        flat = json.loads(value)
    except ValueError:
        return []
    return [(int(flat[i]), flat[i + 1] / 1000.0, flat[i + 2] / 1000.0) for i in range(0, len(flat) - 2, 3)]


def tag_dicts(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tag rows as plain data (the shape of `show --json` and `tags show --json`).

    Arguments:
        rows: tag rows from ``Catalogue.tags`` (or the search's ``tag_rows``).

    Returns:
        One dict per tag, evidence decoded from JSON.
    """
    return [{"category": t["category"], "score": round(t["score"], 4), "decision": bool(t["decision"]), "origin": t["origin"],
             "evidence": json.loads(t["evidence"]), "model_version": t["model_version"], "created_at": t["created_at"]}
            for t in rows]
