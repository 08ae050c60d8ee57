"""yt-dlp set-up shared by discovery, fetching and monitoring, and the reading of its errors.

yt-dlp reports every failure as text; the platform's own words (e.g. "This
video has been removed for violating YouTube's Community Guidelines") are what
an archivist needs on record, so they are kept verbatim and classified.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .errors import DownloadError, SourceError, VideoUnavailable

log = logging.getLogger("clipwatch.yt-dlp")


class _Logger:
    """Route yt-dlp's messages to logging instead of the terminal."""

    def debug(self, msg: str) -> None:
        if not msg.startswith("[debug] "):
            log.debug(msg)

    def info(self, msg: str) -> None:
        log.debug(msg)

    def warning(self, msg: str) -> None:
        log.info(msg)

    def error(self, msg: str) -> None:
        log.debug(msg)


def unsmuggle_url(url: str) -> tuple[str, dict | None]:
    from yt_dlp.utils import unsmuggle_url as _unsmuggle

    return _unsmuggle(url)


def ytdlp_version() -> str:
    from yt_dlp.version import __version__

    return __version__


def new_ydl(extra: dict[str, Any] | None = None):
    from yt_dlp import YoutubeDL

    from .media import ffmpeg_exe

    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Logger(),
        "ffmpeg_location": ffmpeg_exe(),
        "retries": 3,
        "fragment_retries": 3,
        "extractor_retries": 2,
        "socket_timeout": 20,
        "noplaylist": False,
        "color": "no_color",
    }
    opts.update(extra or {})
    return YoutubeDL(opts)


# (pattern over the error text, classification). First match wins.
REMOVAL_PATTERNS: list[tuple[str, str]] = [
    (r"violat\w* .*(community guidelines|terms of service|policy)", "removed-by-platform"),
    (r"account .*(terminated|suspended)|channel .*(terminated|does not exist)", "removed-by-platform"),
    (r"removed .*(copyright|claim)|due to a copyright", "removed-by-platform"),
    (r"removed by the (uploader|user)|uploader has (closed|deleted|removed)", "removed-by-uploader"),
    (r"private video|video is private|sign in if you've been granted access", "private"),
    (r"not (made )?available in your country|geo.?restrict|blocked .* in your country", "geo-blocked"),
    (r"video unavailable|no longer available|has been removed|video (does not|doesn't) exist|http error 410|http error 404", "unavailable-unknown"),
]
NETWORK_PATTERNS = (
    r"connection refused|name or service not known|temporary failure in name resolution|timed out|"
    r"network is unreachable|connection reset|remote end closed|incomplete read|got \d+ bytes|"
    r"http error 5\d\d|unable to download webpage|ssl|errno"
)


def _clean(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.sub(r"^(ERROR: )?(\[[\w:]+\] )?", "", text.strip())


def classify_download_error(url: str, exc: BaseException) -> Exception:
    """Turn a yt-dlp exception into a ClipwatchError with the platform's words kept verbatim."""
    raw = _clean(str(exc))
    low = raw.lower()
    for pattern, kind in REMOVAL_PATTERNS:
        if re.search(pattern, low):
            return VideoUnavailable(f"{url}: unavailable ({kind}): {raw}", reason=raw, kind=kind)
    if "unsupported url" in low:
        return SourceError(f"{url}: no video found there (yt-dlp: unsupported URL)")
    if re.search(NETWORK_PATTERNS, low):
        return DownloadError(f"{url}: download failed, check the address and your connection: {raw}")
    return DownloadError(f"{url}: {raw}")
