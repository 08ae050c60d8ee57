"""Turn what the user typed (URL, playlist, channel, local file or folder) into video references.

Each source lists its own (``pipeline.sources.local``, ``pipeline.sources.ytdlp``); this is the one entry that
picks the source. yt-dlp lists playlists and channels "flat" (one request per page, no per-video extraction), so a
10 000-video channel is listed quickly and each video is then fetched, retried and cached on its own.
"""

from __future__ import annotations

from pipeline.errors import SourceError
from pipeline.sources.base import Discovery, VideoRef, is_url, source_for

__all__ = ["Discovery", "VideoRef", "discover", "is_url"]


def discover(source: str, max_depth: int = 2) -> Discovery:
    """List the videos behind a source without downloading any media.

    Arguments:
        source: a URL (video, playlist, channel, feed) or a path to a media file or folder.
        max_depth: how many levels of nested playlists (a channel's tabs) to follow.

    Returns:
        The source's kind and title and one ``VideoRef`` per video; SourceError when nothing handles it.
    """
    source = source.strip()
    if not source:
        raise SourceError("empty source: give a URL or a path to a video file")
    return source_for(source).discover(source, max_depth)
