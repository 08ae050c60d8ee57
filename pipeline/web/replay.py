"""The page as captured, on the web (issue 23): a self-contained replay of a video's WACZ, and the WACZ itself.

Registered on the app by ``register`` (one line in ``create_app``). ``/videos/{id}/capture`` lists what the fetch
recorded (every WARC record: URL, status, type, size), the WACZ's SHA-256 as the event chain names it, and shows
the watch page as the site served it inside a sandboxed frame: ``/videos/{id}/capture/page`` answers the archived
body under ``Content-Security-Policy: sandbox`` with nothing loaded from anywhere (no script runs, no request leaves
for the site, so a capture cannot call home or attack the archive's own pages). The body is answered byte for
byte, with the charset the site declared. ``/videos/{id}/capture.wacz`` downloads the WACZ for ReplayWeb.page or
pywb (``clipwatch export wacz`` writes a collection of several).

The WACZ is read only after its SHA-256 matched the one the ``fetched`` event recorded: a changed file is an error
page (run ``clipwatch verify``), never replayed.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from pipeline.capture.wacz import main_page, records
from pipeline.errors import NotFoundError
from pipeline.preservation.webarchive import checked_path

# The archived page: no script, no plugin, no request anywhere (images and styles of the site are not fetched
# live; inline styles are the page's own), and it may be framed by this site only.
PAGE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
TEXTUAL = re.compile(r"^(text/html|text/plain|application/xhtml\+xml)$")


def capture_view(store: Any, archive: Any, video_id: str) -> dict[str, Any]:
    """The capture page's data: the video, the WACZ the chain names, its records and its main page's URL.

    Arguments: store — the catalogue; archive — the blob store; video_id — an id or unambiguous prefix.
    Returns: {"video": {id, title}, "capture": {path, sha256, size, event_id, at}, "records": [...],
    "page_url": str | None}. Raises: NotFoundError (no capture), ClipwatchError (changed or unreadable)."""
    v = store.get_video(video_id)
    ref, path = checked_path(store, archive, v["id"])
    recs = list(records(path))
    page = main_page(path)
    return {"video": {"id": v["id"], "title": v["title"]},
            "capture": {"path": ref.path, "sha256": ref.sha256, "size": ref.size, "event_id": ref.event_id, "at": ref.at},
            "records": recs, "page_url": page.url if page else None,
            "page_date": page.date if page else None, "page_status": page.status if page else None,
            "truncated": page.truncated if page else False}


def _media_type(content_type: str) -> str:
    """What the archived page is answered as: its own type when it is text, else text/plain (a hostile or
    wrong Content-Type never makes the browser run or download something); the declared charset is kept."""
    main, _, params = content_type.partition(";")
    main = main.strip().lower()
    charset = re.search(r"charset=\s*\"?([A-Za-z0-9._:-]{1,40})", params)
    kind = main if TEXTUAL.match(main) else "text/plain"
    return f"{kind}; charset={charset.group(1)}" if charset else kind


def register(app: FastAPI, get_store: Callable[[], Any], page: Callable[..., HTMLResponse],
             get_archive: Callable[[], Any]) -> None:
    """Add the capture page, the sandboxed archived page, the WACZ download and the JSON twin to the app.

    Arguments: app — the FastAPI app; get_store — the request's catalogue; page — renders a template;
    get_archive — the archive's blob store."""

    @app.get("/videos/{video_id}/capture", response_class=HTMLResponse, include_in_schema=False)
    def capture_page(video_id: str):
        return page("capture.html", params={}, **capture_view(get_store(), get_archive(), video_id))

    @app.get("/api/videos/{video_id}/capture", tags=["videos"],
             summary="The web archive of the fetch: the WACZ's digest and its WARC records")
    def api_capture(video_id: str) -> dict[str, Any]:
        return capture_view(get_store(), get_archive(), video_id)

    @app.get("/videos/{video_id}/capture/page", include_in_schema=False)
    def captured_page(video_id: str):
        store = get_store()
        _ref, path = checked_path(store, get_archive(), store.get_video(video_id)["id"])
        got = main_page(path)
        if got is None:
            raise NotFoundError(f"{video_id}: the capture holds no watch page (yt-dlp read none)")
        # the type set as a header, not as media_type: Starlette would add "charset=utf-8" to a page that declared
        # none, and the page's own <meta charset> (EUC-KR, CP1251…) must decide then
        return Response(got.body, headers={"Content-Type": _media_type(got.content_type),
                                           "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "SAMEORIGIN",
                                           "Cache-Control": "no-store"})

    @app.get("/videos/{video_id}/capture.wacz", include_in_schema=False)
    def capture_wacz(video_id: str):
        store = get_store()
        ref, path = checked_path(store, get_archive(), store.get_video(video_id)["id"])
        return FileResponse(path, media_type="application/wacz",
                            filename=f"{ref.video_id}-{ref.sha256[:12]}.wacz")
