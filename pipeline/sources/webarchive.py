"""A fetch's web archive: what yt-dlp read, packaged as a WACZ beside the download (issue 23).

``fetch_url`` (``ytdlp.py``) attaches a ``Recorder`` to its yt-dlp objects and calls ``package_fetch`` once the
media is stored; the WACZ is written into the fetch's temporary folder and ``record_fetch`` files it in the video's
folder (``capture/<sha256>.wacz``), lists it in the manifest and names its SHA-256 in the ``fetched`` event.

A capture that cannot be made never fails the fetch: the media is the archive's first duty. The reason is kept in
the provenance (``capture.error``) and logged in one line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.capture import tls
from pipeline.capture.record import Recorder
from pipeline.capture.wacz import package
from pipeline.capture.warc import Capture, MediaRef
from pipeline.domain import MediaRecord, VideoRecord
from pipeline.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)

NAME = "capture.wacz"


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def thumbnail_urls(info: dict[str, Any]) -> set[str]:
    """Every thumbnail URL yt-dlp may write (it picks one of them)."""
    urls = {t.get("url") for t in info.get("thumbnails") or [] if isinstance(t, dict)}
    urls.add(info.get("thumbnail"))
    return {u for u in urls if isinstance(u, str) and u}


def package_fetch(recorder: Recorder, video: VideoRecord, info: dict[str, Any], media: MediaRecord,
                  media_url: str | None, workdir: Path, fetcher_version: str) -> tuple[Path | None, dict[str, Any]]:
    """Package what the recorder kept, the info.json, the media (by digest) and the TLS chain as a WACZ.

    Arguments: recorder — attached to the fetch's yt-dlp objects; video, info, media — the fetch's results;
    media_url — the URL the media came from; workdir — the fetch's temporary folder; fetcher_version — yt-dlp's.
    Returns: (path of the WACZ in ``workdir`` or None, the summary provenance.json and the event carry)."""
    try:
        recorder.mark_roles(video.webpage_url, thumbnail_urls(info))
        page = next((ex for ex in recorder.exchanges if ex.role == "page"), None)
        page_url = page.final_url if page else video.webpage_url
        notes = list(recorder.notes)
        certs = tls.peer_chain(page_url)
        if certs is None:
            notes.append(f"{page_url}: not https, so no TLS certificate was presented")
        ref = MediaRef(url=media.final_url or media_url or video.webpage_url, sha256=media.sha256, size=media.size,
                       stored_as=media.path, status=media.http_status, headers=dict(media.http_headers or {}),
                       at=_when(media.fetched_at))
        capture = Capture(video_id=video.id, page_url=video.webpage_url, title=video.title,
                          exchanges=recorder.exchanges, info=info, media=ref, certificates=certs, notes=notes,
                          fetcher_version=fetcher_version, started=_when(media.fetch_started_at) or datetime.now().astimezone())
        packed = package(capture)
        path = workdir / NAME
        atomic_write_bytes(path, packed.data)
        summary = packed.summary()
        summary["notes"] = notes
        summary["tls"] = None if certs is None else {k: certs.get(k) for k in ("verified", "verify_error", "complete")}
        return path, summary
    except Exception as exc:  # noqa: BLE001 - the media is archived whatever happens to its web archive
        log.warning("%s: the web archive of this fetch could not be written (%s: %s)", video.webpage_url,
                    exc.__class__.__name__, exc)
        return None, {"error": f"{exc.__class__.__name__}: {exc}"}
