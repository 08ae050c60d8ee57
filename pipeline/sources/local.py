"""Local files and folders: archived as they are, with the same provenance record as a download."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import __version__
from pipeline.domain import MediaRecord, VideoRecord, make_video_id, utcnow
from pipeline.errors import SourceError
from pipeline.media.probe import check_complete, probe
from pipeline.sources.base import Discovery, FetchedVideo, FetchOptions, Source, VideoRef, codec_fields, is_url
from pipeline.storage.base import BlobStore
from pipeline.storage.files import fs_display, sha256_file

MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".flv", ".ts", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp",
                  ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac"}


class LocalFileSource(Source):
    name = "local"

    def accepts(self, text: str) -> bool:
        return not is_url(text)

    def discover(self, text: str, max_depth: int = 2) -> Discovery:
        return discover_local(text)

    def fetch(self, url: str, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
        return fetch_local(Path(url), archive, options, source_url)


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
        **codec_fields(media_info),
    )
    return FetchedVideo(video=video, info=info, media=media, media_info=media_info)
