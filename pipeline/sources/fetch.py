"""Fetch one video into the archive: original media, info.json, thumbnail, provenance.

yt-dlp downloads into a private temporary folder inside the archive; only a
finished, decodable file is moved into content-addressed storage. Whatever
fails, the temporary folder is removed, so no partial file ever remains.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline import __version__
from pipeline.domain import MediaRecord, VideoRecord, make_video_id, utcnow
from pipeline.storage.base import BlobStore
from pipeline.storage.files import atomic_write_json, fs_display, sha256_file
from pipeline.errors import MediaError, SourceError
from pipeline.media.probe import MediaInfo, check_complete, probe
from pipeline.sources.ytdlp import classify_download_error, new_ydl, unsmuggle_url, ytdlp_version

log = logging.getLogger(__name__)

PROVENANCE_HEADERS = ("Content-Type", "Content-Length", "Last-Modified", "ETag", "Server", "Date")


@dataclass
class FetchedVideo:
    video: VideoRecord
    info: dict[str, Any]  # the sanitized info dict as received (for info.json)
    media: MediaRecord | None = None  # None when already archived (skipped)
    media_info: MediaInfo | None = None
    thumbnail: Path | None = None  # temporary path; the caller copies it into the video folder
    skipped: bool = False
    workdir: Path | None = None  # temporary folder to remove with cleanup()

    def cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


@dataclass
class FetchOptions:
    format: str = "bv*+ba/b"
    # Returns True when this video id is already archived with its media present.
    is_archived: Callable[[str], bool] = field(default=lambda _vid: False)
    progress: Callable[[int, int | None], None] | None = None  # bytes done, bytes total


def fetch(url: str, archive: BlobStore, options: FetchOptions | None = None, source_url: str | None = None) -> FetchedVideo:
    """Fetch one video (URL or local file). Skips the download when already archived."""
    options = options or FetchOptions()
    source_url = source_url or url
    from pipeline.sources.base import source_for

    return source_for(url).fetch(url, archive, options, source_url)


def fetch_local(path: Path, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
    if not path.is_file():
        raise SourceError(f"{fs_display(str(path))}: no such file")
    started = utcnow()
    sha = sha256_file(path)
    vid = make_video_id("local", sha[:16], "")
    title = fs_display(path.stem)
    shown = fs_display(str(path.resolve()))
    info = {"id": sha[:16], "title": title, "extractor": "local", "extractor_key": "Local",
            "webpage_url": path.resolve().as_uri(), "original_url": fs_display(str(path))}
    raw = os.fsencode(path.name)
    if shown != str(path.resolve()):  # the name was not UTF-8: keep its bytes, exactly, beside the readable form
        info["original_name_bytes_hex"] = raw.hex()
    source_url = fs_display(source_url)
    video = VideoRecord(id=vid, extractor="local", platform_id=sha[:16], webpage_url="", source_url=source_url, title=title)
    if options.is_archived(vid):
        return FetchedVideo(video=video, info=info, skipped=True)
    media_info = probe(path)  # MediaError for non-media before anything is stored
    check_complete(path, media_info)
    stored = archive.store_media(path, path.suffix.lstrip(".") or "bin")
    video.duration = media_info.duration
    media = MediaRecord(
        sha256=stored.sha256, video_id=vid, path=stored.path, size=stored.size, fetched_at=utcnow(), fetch_started_at=started,
        fetcher="local-file", fetcher_version=None, clipwatch_version=__version__, source_url=shown,
        **_codec_fields(media_info),
    )
    return FetchedVideo(video=video, info=info, media=media, media_info=media_info)


def _video_record(info: dict[str, Any], source_url: str) -> VideoRecord:
    extractor = info.get("extractor_key") or info.get("extractor") or "generic"
    platform_id = str(info.get("id") or "")
    # yt-dlp may "smuggle" data in a URL fragment (e.g. an RSS guid); the cited URL is the clean one.
    webpage_url = unsmuggle_url(info.get("webpage_url") or info.get("original_url") or source_url)[0]
    upload = info.get("upload_date")
    if not upload and info.get("timestamp"):
        from datetime import datetime, timezone

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


def extract_info(url: str) -> dict[str, Any]:
    """Metadata for one video, as yt-dlp reports it, without downloading media."""
    with new_ydl() as ydl:
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
    info = extract_info(url)
    video = _video_record(info, source_url)
    if options.is_archived(video.id):
        return FetchedVideo(video=video, info=info, skipped=True)

    incoming = archive.root / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"fetch-{os.getpid()}-", dir=incoming))  # PID: swept once this process is gone
    try:
        hooks = []
        if options.progress:
            hooks.append(lambda d: options.progress(d.get("downloaded_bytes") or 0, d.get("total_bytes") or d.get("total_bytes_estimate")))
        ydl_opts = {
            "format": options.format,
            "outtmpl": {"default": str(workdir / "media.%(ext)s"), "thumbnail": str(workdir / "thumbnail.%(ext)s")},
            "writethumbnail": True,
            "progress_hooks": hooks,
            "merge_output_format": "mkv",
            "paths": {"home": str(workdir), "temp": str(workdir)},
        }
        with new_ydl(ydl_opts) as ydl:
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
            **_codec_fields(media_info),
        )
        return FetchedVideo(video=video, info=ydl.sanitize_info(done), media=media, media_info=media_info, thumbnail=thumb, workdir=workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _response_facts(ydl, info: dict[str, Any]) -> dict[str, Any]:
    """Ask the server once more (HEAD) for the headers that prove what was fetched.

    yt-dlp does not expose the response of the media request; a HEAD to the same
    URL right after the download gives the final URL after redirects and the
    headers an archivist cites. Failure here never fails the fetch.
    """
    from yt_dlp.networking import Request

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


def _codec_fields(mi: MediaInfo) -> dict[str, Any]:
    return {
        "container": mi.container, "video_codec": mi.video_codec, "audio_codec": mi.audio_codec,
        "width": mi.width, "height": mi.height, "duration": mi.duration,
    }


def write_info_json(dest: Path, info: dict[str, Any]) -> None:
    atomic_write_json(dest, info)
