"""Local files and folders: archived as they are, with the same provenance record as a download."""

from __future__ import annotations

from pathlib import Path

from pipeline.sources.base import Source


class LocalFileSource(Source):
    name = "local"

    def accepts(self, text: str) -> bool:
        from pipeline.sources.discovery import is_url

        return not is_url(text)

    def discover(self, text, max_depth=2):
        from pipeline.sources.discovery import discover_local

        return discover_local(text)

    def fetch(self, url, archive, options, source_url):
        from pipeline.sources.fetch import fetch_local

        return fetch_local(Path(url), archive, options, source_url)
