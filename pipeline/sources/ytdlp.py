"""The yt-dlp source: its set-up (shared with monitoring), the reading of its errors, discovery and fetching.

yt-dlp reports every failure as text; the platform's own words (e.g. "This
video has been removed for violating YouTube's Community Guidelines") are what
an archivist needs on record, so they are kept verbatim and classified.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline import __version__
from pipeline.capture.record import Recorder
from pipeline.domain import MediaRecord, VideoRecord, make_video_id, utcnow
from pipeline.errors import DownloadError, MediaError, SourceError, VideoUnavailable
from pipeline.media.probe import check_complete, ffmpeg_exe, probe
from pipeline.sources.base import Discovery, FetchedVideo, FetchOptions, Source, VideoRef, codec_fields, is_url
from pipeline.sources.webarchive import package_fetch, thumbnail_urls
from pipeline.storage.base import BlobStore

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
    from yt_dlp.utils import unsmuggle_url as _unsmuggle  # heavy (~1.4 s): only when something is discovered or fetched

    return _unsmuggle(url)


def ytdlp_version() -> str:
    from yt_dlp.version import __version__  # heavy (~1.4 s): only when something is discovered or fetched

    return __version__


def new_ydl(extra: dict[str, Any] | None = None):
    from yt_dlp import YoutubeDL  # heavy (~0.3 s): only when something is discovered or fetched

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


# -- discovery: a URL listed flat ------------------------------------------------


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
            sub = discover_ytdlp(url, depth - 1)
            refs.extend(VideoRef(r.url, source, r.title) for r in sub.refs)
            continue
        if url:
            refs.append(VideoRef(url, source, entry.get("title")))


def _looks_like_channel(source: str, info: dict) -> bool:
    if info.get("channel_id") and info.get("id") == info.get("channel_id"):
        return True
    path = urlparse(source).path
    return any(part in path for part in ("/channel/", "/@", "/c/", "/user/"))



# -- fetching: one video, with the provenance of the download ----------------------

PROVENANCE_HEADERS = ("Content-Type", "Content-Length", "Last-Modified", "ETag", "Server", "Date")


def _video_record(info: dict[str, Any], source_url: str) -> VideoRecord:
    extractor = info.get("extractor_key") or info.get("extractor") or "generic"
    platform_id = str(info.get("id") or "")
    # yt-dlp may "smuggle" data in a URL fragment (e.g. an RSS guid); the cited URL is the clean one.
    webpage_url = unsmuggle_url(info.get("webpage_url") or info.get("original_url") or source_url)[0]
    upload = info.get("upload_date")
    if not upload and info.get("timestamp"):
        upload = datetime.fromtimestamp(info["timestamp"], timezone.utc).strftime("%Y%m%d")
    return VideoRecord(
        id=make_video_id(extractor, platform_id, webpage_url),
        extractor=extractor,
        platform_id=platform_id,
        webpage_url=webpage_url,
        source_url=source_url,
        title=info.get("title"),
        description=info.get("description"),
        channel=info.get("channel") or info.get("uploader"),
        channel_id=info.get("channel_id") or info.get("uploader_id"),
        channel_url=info.get("channel_url") or info.get("uploader_url"),
        uploader=info.get("uploader"),
        upload_date=f"{upload[:4]}-{upload[4:6]}-{upload[6:8]}" if upload and len(upload) == 8 else upload,
        duration=info.get("duration"),
        categories=list(info.get("categories") or []),
        platform_tags=list(info.get("tags") or []),
    )


def extract_info(url: str, recorder: Recorder | None = None, comments: bool = False) -> dict[str, Any]:
    """Metadata for one video, as yt-dlp reports it, without downloading media (``recorder``: keeps what it read;
    ``comments``: the platform's comments too, read now so that their API responses are recorded with the page)."""
    with new_ydl({"getcomments": True} if comments else None) as ydl:
        if recorder is not None:
            recorder.attach(ydl)
        try:
            info = ydl.extract_info(url, download=False)
        except Exception as exc:
            raise classify_download_error(url, exc) from exc
        if info is None:
            raise SourceError(f"{url}: yt-dlp found nothing to download there")
        if info.get("_type") in ("playlist", "multi_video"):
            raise SourceError(f"{url}: is a playlist or channel, not one video; pass it to `clipwatch ingest` as a source")
        return ydl.sanitize_info(info)


def fetch_url(url: str, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
    started = utcnow()
    recorder = Recorder()  # the exchanges yt-dlp makes, kept as the fetch's web archive (pipeline/capture)
    info = extract_info(url, recorder, options.comments)
    video = _video_record(info, source_url)
    if options.is_archived(video.id):
        return FetchedVideo(video=video, info=info, skipped=True)

    incoming = archive.root / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"fetch-{os.getpid()}-", dir=incoming))  # PID: swept once this process is gone
    try:
        hooks = []
        progress = options.progress
        if progress:
            hooks.append(lambda d: progress(d.get("downloaded_bytes") or 0, d.get("total_bytes") or d.get("total_bytes_estimate")))
        ydl_opts = {
            "format": options.format,
            "outtmpl": {"default": str(workdir / "media.%(ext)s"), "thumbnail": str(workdir / "thumbnail.%(ext)s")},
            "writethumbnail": True,
            "progress_hooks": hooks,
            "merge_output_format": "mkv",
            "paths": {"home": str(workdir), "temp": str(workdir)},
        }
        with new_ydl(ydl_opts) as ydl:
            recorder.only = thumbnail_urls(info)  # the thumbnail is recorded as it is written; the media never is
            recorder.attach(ydl)
            try:
                done = ydl.process_ie_result(dict(info), download=True)
            except Exception as exc:
                raise classify_download_error(url, exc) from exc
            downloads = done.get("requested_downloads") or []
            media_path = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
            if media_path is None or not media_path.is_file():
                raise SourceError(f"{url}: yt-dlp reported success but wrote no media file")
            http = _response_facts(ydl, done)
        try:
            media_info = probe(media_path)
            check_complete(media_path, media_info)
        except MediaError as exc:
            raise MediaError(f"{url}: the downloaded file is not playable media ({exc}); nothing was archived") from exc
        if not media_info.has_video and not media_info.has_audio:
            raise MediaError(f"{url}: the download has no audio or video stream; nothing was archived")
        stored = archive.store_media(media_path, media_path.suffix.lstrip("."), move=True)
        thumb = next((p for p in workdir.glob("thumbnail.*") if p.is_file()), None)
        video.duration = video.duration or media_info.duration
        media = MediaRecord(
            sha256=stored.sha256, video_id=video.id, path=stored.path, size=stored.size,
            fetched_at=utcnow(), fetch_started_at=started, fetcher="yt-dlp", fetcher_version=ytdlp_version(),
            clipwatch_version=__version__, source_url=source_url, final_url=http.get("final_url"),
            http_status=http.get("status"), http_headers=http.get("headers", {}), format_id=done.get("format_id"),
            **codec_fields(media_info),
        )
        kept = ydl.sanitize_info(done)
        wacz, summary = package_fetch(recorder, video, kept, media, (done.get("requested_formats") or [done])[0].get("url"),
                                      workdir, media.fetcher_version or "")
        return FetchedVideo(video=video, info=kept, media=media, media_info=media_info, thumbnail=thumb, workdir=workdir,
                            capture=wacz, capture_summary=summary)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _response_facts(ydl, info: dict[str, Any]) -> dict[str, Any]:
    """Ask the server once more (HEAD) for the headers that prove what was fetched.

    yt-dlp does not expose the response of the media request; a HEAD to the same
    URL right after the download gives the final URL after redirects and the
    headers an archivist cites. Failure here never fails the fetch.
    """
    from yt_dlp.networking import Request  # heavy (~1.4 s): only when something is discovered or fetched

    fmt = (info.get("requested_formats") or [info])[0]
    media_url = fmt.get("url")
    if not media_url or not str(media_url).startswith("http"):
        return {}
    try:
        with ydl.urlopen(Request(media_url, headers=fmt.get("http_headers") or {}, method="HEAD")) as resp:
            headers = {h: resp.headers[h] for h in PROVENANCE_HEADERS if resp.headers.get(h)}
            return {"final_url": resp.url, "status": resp.status, "headers": headers}
    except Exception as exc:  # provenance is best effort; the download itself succeeded
        log.info("HEAD %s for provenance failed: %s", media_url, exc)
        return {"final_url": media_url}


class YtDlpSource(Source):
    """Every http(s) URL: yt-dlp's extractors (and its generic extractor for plain pages and feeds)."""

    name = "yt-dlp"

    def accepts(self, text: str) -> bool:
        return is_url(text)

    def discover(self, text: str, max_depth: int = 2) -> Discovery:
        return discover_ytdlp(text, max_depth)

    def fetch(self, url: str, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
        return fetch_url(url, archive, options, source_url)
