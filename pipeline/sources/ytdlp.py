"""yt-dlp set-up shared by discovery, fetching and monitoring, and the reading of its errors.

yt-dlp reports every failure as text; the platform's own words (e.g. "This
video has been removed for violating YouTube's Community Guidelines") are what
an archivist needs on record, so they are kept verbatim and classified.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pipeline.errors import DownloadError, SourceError, VideoUnavailable
from pipeline.sources.base import Source

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

    from pipeline.media.probe import ffmpeg_exe

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
        # yt-dlp enables only Deno by default; archivists' machines more often have Node.js.
        "js_runtimes": {"deno": {}, "node": {}, "bun": {}},
    }
    opts.update(extra or {})
    return YoutubeDL(opts)


# What the platform says when a video is gone, as yt-dlp passes it on (the texts
# come from yt-dlp's extractors and the platforms' own playability messages, e.g.
# YouTube's playabilityStatus "reason" + "subreason"; VK's "Video %s has been
# removed from public access due to rightholder complaint."). Checked in order;
# first match wins. Kinds: removed-by-platform | removed-by-uploader | private |
# geo-blocked | unavailable-unknown.
#
# Messages that look like a removal but are not one come first (NOT_REMOVAL_PATTERNS):
# age gates, bot checks and rate limits say "sign in"/"not available" too, and
# must never be recorded as a takedown.
NOT_REMOVAL_PATTERNS = (
    r"sign in to confirm (your age|you(’|')?re not a bot)|confirm your age|age.?restricted|inappropriate for some users|"
    r"try again later|rate.?limit|captcha|too many requests|http error 429|"
    r"members.only|join this channel|requires payment|premieres? in|live event will begin|scheduled to|"
    r"unsupported url"
)
REMOVAL_PATTERNS: list[tuple[str, str]] = [
    # Geo-blocking first: "who has blocked it in your country on copyright grounds" is a block, not a takedown.
    (r"not (made this video )?available in your (country|region|location)|(available|blocked) .*in your country|"
     r"geo.?restrict|from your location|in your region", "geo-blocked"),
    (r"private video|video is private|is private\b|this (video|content) is private|"
     r"sign in if you('|’)ve been granted access|account is private|requires a password", "private"),
    (r"violat\w*.{0,80}(community guidelines|terms of (service|use)|policy|policies)", "removed-by-platform"),
    (r"account (associated with this video )?has been (terminated|suspended|banned|blocked)|"
     r"(account|channel|user) .{0,60}(terminated|suspended|banned)|author has been (blocked|banned)", "removed-by-platform"),
    (r"copyright (claim|grounds|infringement|strike)|due to a copyright|rights?.?holder complaint|"
     r"removed from public access|removed .{0,40}(copyright|legal|court|complaint)|"
     r"(government|legal) (request|demand)|blocked .{0,40}on copyright", "removed-by-platform"),
    (r"removed by the (uploader|user|owner|author)|(uploader|user|owner|author) has (closed|deleted|removed)|"
     r"deleted by (the )?(uploader|user|owner|author)", "removed-by-uploader"),
    (r"video unavailable|(video|content|page|program|episode|post) (is )?(currently )?unavailable|"
     r"no longer available|has been (removed|deleted|taken down)|was deleted|"
     r"(does not|doesn't|no longer) exists?|this video is not available|"
     r"http error 410|http error 404", "unavailable-unknown"),
]
NETWORK_PATTERNS = (
    r"connection refused|failed to establish a new connection|name or service not known|nodename nor servname|"
    r"temporary failure in name resolution|getaddrinfo failed|no address associated|timed? ?out|"
    r"network is unreachable|no route to host|connection (reset|aborted)|remote end closed|remotedisconnected|"
    r"incomplete ?read|got \d+ bytes|http error 5\d\d|http error 429|unable to download webpage|"
    r"ssl|certificate|transporterror|errno"
)


def _clean(text: str) -> str:
    """The message without yt-dlp's decoration: "ERROR: [youtube] abc123: " and "(caused by ...)"."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    text = re.sub(r"^(ERROR: )?", "", text)
    m = re.match(r"^\[[\w:.-]+\] (?:([\w.~-]+): )?", text)
    if m:
        text = text[m.end():]
    text = re.sub(r"\s*\(caused by .*\)\s*$", "", text, flags=re.S)
    return text.strip()


def _platform_words(text: str) -> str:
    """The part of a yt-dlp message that the platform wrote: drop yt-dlp's own advice to the user."""
    text = re.split(r"\.?\s+(Use --cookies|Also see |Please report this issue|Confirm you are on the latest)", text)[0]
    text = re.sub(r"^Unable to download webpage: ", "", text)
    return text.strip()


def _inner(exc: BaseException) -> BaseException | None:
    """The extractor's own exception inside yt-dlp's DownloadError, when there is one."""
    exc_info = getattr(exc, "exc_info", None)
    if exc_info and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    return exc.__cause__ if exc.__cause__ is not exc else None


def classify_message(text: str) -> tuple[str, str] | None:
    """(kind, verbatim reason) when yt-dlp's message says the video is gone; None otherwise."""
    raw = _clean(text)
    low = raw.lower()
    if re.search(NOT_REMOVAL_PATTERNS, low):
        return None
    for pattern, kind in REMOVAL_PATTERNS:
        if re.search(pattern, low):
            return kind, _platform_words(raw)
    return None


def classify_download_error(url: str, exc: BaseException) -> Exception:
    """Turn a yt-dlp exception into a ClipwatchError with the platform's words kept verbatim."""
    raw = _clean(str(exc))
    low = raw.lower()
    inner = _inner(exc)
    if inner is not None and type(inner).__name__ == "GeoRestrictedError":
        reason = _platform_words(_clean(getattr(inner, "orig_msg", None) or str(inner)))
        return VideoUnavailable(f"{url}: unavailable (geo-blocked): {reason}", reason=reason, kind="geo-blocked")
    found = classify_message(raw)
    if found is not None:
        kind, reason = found
        return VideoUnavailable(f"{url}: unavailable ({kind}): {raw}", reason=reason, kind=kind)
    if "unsupported url" in low:
        return SourceError(f"{url}: no video found there (yt-dlp: unsupported URL)")
    if re.search(NETWORK_PATTERNS, low):
        return DownloadError(f"{url}: download failed, check the address and your connection: {raw}")
    return DownloadError(f"{url}: {raw}")


class YtDlpSource(Source):
    """Every http(s) URL: yt-dlp's extractors (and its generic extractor for plain pages and feeds)."""

    name = "yt-dlp"

    def accepts(self, text: str) -> bool:
        from pipeline.sources.discovery import is_url

        return is_url(text)

    def discover(self, text, max_depth=2):
        from pipeline.sources.discovery import discover_ytdlp

        return discover_ytdlp(text, max_depth)

    def fetch(self, url, archive, options, source_url):
        from pipeline.sources.fetch import fetch_url

        return fetch_url(url, archive, options, source_url)
