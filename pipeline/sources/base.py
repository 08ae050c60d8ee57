"""The sources seam: where videos come from. A source lists videos (``discover``) and fetches one (``fetch``).

Sources are tried in ``SOURCES`` order and the first that accepts what the user typed handles it: local files and
folders, then yt-dlp for every URL it supports (YouTube, Youku, Vimeo, RSS feeds, plain watch pages…). A new source
(an institution's own API, an IPFS gateway) is one module with a ``Source`` subclass — which owns both its
discovery and its fetching, as PySceneDetect's backends and auto-archiver's extractors do — plus one line in
``SOURCES``. This module holds what every source shares: the protocol, the values they return, the registry.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from pipeline.domain import MediaRecord, VideoRecord
from pipeline.errors import SourceError
from pipeline.media.probe import MediaInfo
from pipeline.registry import Registry
from pipeline.storage.base import BlobStore

# name -> "module:Class", in the order they are asked whether they accept a source.
SOURCES: Registry[type[Source]] = Registry("source", {
    # a recorded live stream's closed segment (a local file with its sidecar): before "local", which takes any path
    "segment": "pipeline.sources.segment:RecordedSegmentSource",
    "local": "pipeline.sources.local:LocalFileSource",
    "yt-dlp": "pipeline.sources.ytdlp:YtDlpSource",
})


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


@dataclass
class FetchedVideo:
    video: VideoRecord
    info: dict[str, Any]  # the sanitized info dict as received (for info.json)
    media: MediaRecord | None = None  # None when already archived (skipped)
    media_info: MediaInfo | None = None
    thumbnail: Path | None = None  # temporary path; the caller copies it into the video folder
    skipped: bool = False
    workdir: Path | None = None  # temporary folder to remove with cleanup()
    capture: Path | None = None  # temporary path of the fetch's WACZ (pipeline/capture); filed by record_fetch
    capture_summary: dict[str, Any] | None = None  # its SHA-256, size, notes (or why there is none)

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
    comments: bool = False  # also the platform's comments (yt-dlp's getcomments; issue 23)


def codec_fields(mi: MediaInfo) -> dict[str, Any]:
    """The media row's codec columns from a probe (every source records them alike)."""
    return {
        "container": mi.container, "video_codec": mi.video_codec, "audio_codec": mi.audio_codec,
        "width": mi.width, "height": mi.height, "duration": mi.duration,
    }


class Source(ABC):
    name: str = ""

    @abstractmethod
    def accepts(self, text: str) -> bool:
        """True when this source handles what the user typed (a URL, a path)."""

    @abstractmethod
    def discover(self, text: str, max_depth: int = 2) -> Discovery:
        """The videos behind ``text``, without downloading media."""

    @abstractmethod
    def fetch(self, url: str, archive: BlobStore, options: FetchOptions, source_url: str) -> FetchedVideo:
        """Download one video into the archive's blob store (skipped when already archived)."""


def sources() -> list[Source]:
    """One instance of every registered source, in ``SOURCES`` order."""
    return [cls() for cls in SOURCES.values()]


def source_for(text: str) -> Source:
    """The first source that accepts ``text``; SourceError when none does."""
    for src in sources():
        if src.accepts(text):
            return src
    raise SourceError(f"{text}: no source handles this; give an http(s) URL or a path to a media file or folder")
