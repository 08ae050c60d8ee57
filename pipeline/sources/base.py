"""The sources seam: where videos come from. A source lists videos (``discover``) and fetches one (``fetch``).

Sources are tried in ``SOURCES`` order and the first that accepts what the user typed handles it: local files and
folders, then yt-dlp for every URL it supports (YouTube, Youku, Vimeo, RSS feeds, plain watch pages…). A new source
(an institution's own API, an IPFS gateway) is one module with a ``Source`` subclass plus one line in ``SOURCES``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from pipeline.errors import SourceError
from pipeline.storage.base import BlobStore

if TYPE_CHECKING:
    from pipeline.sources.discovery import Discovery
    from pipeline.sources.fetch import FetchedVideo, FetchOptions

SOURCES: list[str] = [
    "pipeline.sources.local:LocalFileSource",
    "pipeline.sources.ytdlp:YtDlpSource",
]


class Source(ABC):
    name: str = ""

    @abstractmethod
    def accepts(self, text: str) -> bool:
        """True when this source handles what the user typed (a URL, a path)."""

    @abstractmethod
    def discover(self, text: str, max_depth: int = 2) -> "Discovery":
        """The videos behind ``text``, without downloading media."""

    @abstractmethod
    def fetch(self, url: str, archive: BlobStore, options: "FetchOptions", source_url: str) -> "FetchedVideo":
        """Download one video into the archive's blob store (skipped when already archived)."""


def sources() -> list[Source]:
    out = []
    for target in SOURCES:
        module, _, cls = target.partition(":")
        out.append(getattr(importlib.import_module(module), cls)())
    return out


def source_for(text: str) -> Source:
    for src in sources():
        if src.accepts(text):
            return src
    raise SourceError(f"{text}: no source handles this; give an http(s) URL or a path to a media file or folder")
