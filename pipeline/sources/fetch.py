"""Fetch one video into the archive: original media, info.json, thumbnail, provenance.

The source that accepts the URL or path fetches it (``pipeline.sources.local``, ``pipeline.sources.ytdlp``). yt-dlp
downloads into a private temporary folder inside the archive; only a finished, decodable file is moved into
content-addressed storage. Whatever fails, the temporary folder is removed, so no partial file ever remains.
"""

from __future__ import annotations

from pipeline.sources.base import FetchedVideo, FetchOptions, source_for
from pipeline.storage.base import BlobStore

__all__ = ["FetchOptions", "FetchedVideo", "fetch"]


def fetch(url: str, archive: BlobStore, options: FetchOptions | None = None, source_url: str | None = None) -> FetchedVideo:
    """Fetch one video (URL or local file). Skips the download when already archived.

    Arguments:
        url: the video's URL, or a path to a local media file.
        archive: the blob store the original goes into.
        options: format, progress, and ``is_archived`` (skip what is already there).
        source_url: what the user asked for (the playlist or channel it came from); ``url`` when None.

    Returns:
        The video's record, its info dict and, unless skipped, the stored media's record (``cleanup()`` when done).
    """
    options = options or FetchOptions()
    source_url = source_url or url
    return source_for(url).fetch(url, archive, options, source_url)
