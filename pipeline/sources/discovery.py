"""Turn what the user typed (URL, playlist, channel, local file or folder) into video references.

yt-dlp lists playlists and channels "flat" (one request per page, no
per-video extraction), so a 10 000-video channel is listed quickly and each
video is then fetched, retried and cached on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pipeline.errors import SourceError
from pipeline.storage.files import fs_display
from pipeline.sources.ytdlp import classify_download_error, new_ydl

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".flv", ".ts", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp",
                  ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac"}
COLLECTION_IE_HINTS = ("tab", "playlist", "channel", "user", "generic")


@dataclass(frozen=True)
class VideoRef:
    url: str  # a URL for yt-dlp, or an absolute local path
    source_url: str  # what the user asked for (the playlist/channel it came from)
    title: str | None = None
    is_local: bool = False


@dataclass
class Discovery:
    source_url: str
    kind: str  # video | playlist | channel | file | folder
    title: str | None
    refs: list[VideoRef] = field(default_factory=list)


def is_url(text: str) -> bool:
    """True for an http(s) URL; a malformed one (``http://[::1``) is a SourceError, not a file name."""
    try:
        return urlparse(text).scheme in ("http", "https")
    except ValueError as exc:
        if text.lower().startswith(("http://", "https://")):
            raise SourceError(f"{text}: not a valid URL ({exc}); check it (an IPv6 address needs both brackets: "
                              "http://[::1]:8000/)") from None
        return False


def discover(source: str, max_depth: int = 2) -> Discovery:
    """List the videos behind a source without downloading any media."""
    source = source.strip()
    if not source:
        raise SourceError("empty source: give a URL or a path to a video file")
    from pipeline.sources.base import source_for

    return source_for(source).discover(source, max_depth)


def discover_ytdlp(source: str, max_depth: int = 2) -> Discovery:
    """A URL through yt-dlp, listed flat: one video, or a playlist / channel / feed of them."""
    with new_ydl({"extract_flat": "in_playlist", "lazy_playlist": False}) as ydl:
        try:
            info = ydl.extract_info(source, download=False, process=True)
        except Exception as exc:  # yt-dlp raises its own DownloadError/ExtractorError
            raise classify_download_error(source, exc) from exc
    if info is None:
        raise SourceError(f"{source}: yt-dlp found nothing to download there")
    if info.get("_type") not in ("playlist", "multi_video"):
        return Discovery(source, "video", info.get("title"), [VideoRef(source, source, info.get("title"))])
    refs: list[VideoRef] = []
    _collect(info, source, refs, max_depth)
    kind = "channel" if _looks_like_channel(source, info) else "playlist"
    return Discovery(source, kind, info.get("title"), refs)


def _collect(info: dict, source: str, refs: list[VideoRef], depth: int) -> None:
    for entry in info.get("entries") or []:
        if not entry:
            continue
        url = entry.get("url") or entry.get("webpage_url")
        if entry.get("_type") == "playlist":
            if depth > 0:
                _collect(entry, source, refs, depth - 1)
            continue
        ie = (entry.get("ie_key") or "").lower()
        if depth > 0 and url and ie.endswith(("tab", "playlist")):
            # Channels list their tabs (videos, shorts, live) as playlists of their own.
            sub = discover(url, depth - 1)
            refs.extend(VideoRef(r.url, source, r.title) for r in sub.refs)
            continue
        if url:
            refs.append(VideoRef(url, source, entry.get("title")))


def _looks_like_channel(source: str, info: dict) -> bool:
    if info.get("channel_id") and info.get("id") == info.get("channel_id"):
        return True
    path = urlparse(source).path
    return any(part in path for part in ("/channel/", "/@", "/c/", "/user/"))


def discover_local(source: str) -> Discovery:
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        if not files:
            raise SourceError(f"{path}: folder holds no media files ({', '.join(sorted(MEDIA_SUFFIXES))})")
        # The real path opens the file; names shown and stored are readable text (see fs_display).
        ap = fs_display(str(path.resolve()))
        return Discovery(ap, "folder", fs_display(path.name),
                         [VideoRef(str(p.resolve()), ap, fs_display(p.stem), True) for p in files])
    if path.is_file():
        ap = fs_display(str(path.resolve()))
        return Discovery(ap, "file", fs_display(path.stem), [VideoRef(str(path.resolve()), ap, fs_display(path.stem), True)])
    raise SourceError(f"{source}: not a URL (http/https) and no such file or folder")
