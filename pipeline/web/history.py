"""The metadata history of a video on the web: every version seen, what changed and when, a readable diff, and
each version downloadable byte-exact (its title and description as text, its info.json as received).

Registered on the app by ``register`` (one line in ``create_app``); reads through ``pipeline.preservation.monitor
.history`` (the versions are the catalogue's ``metadata_versions`` rows, whole; the ``metadata-changed`` events
point at them by hash).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from pipeline.errors import NotFoundError
from pipeline.preservation.history import history

FIELDS = {"title": "title", "description": "description"}


def versions_view(store: Any, video_id: str) -> dict[str, Any]:
    """The history page's data: the video and its versions, oldest first, each with its diff and digests.

    Arguments: store — the catalogue; video_id — an id or unambiguous prefix.
    Returns: {"video": {id, title}, "versions": [{n, seen_at, title, description_chars, description_sha256,
    platform_tags, info_json_path, diff}]}.
    """
    v = store.get_video(video_id)
    out = []
    for n, ver in enumerate(history(store, v["id"]), 1):
        desc = ver.description or ""
        out.append({
            "n": n, "seen_at": ver.seen_at, "title": ver.title, "platform_tags": ver.platform_tags,
            "description_chars": len(desc), "description_sha256": hashlib.sha256(desc.encode("utf-8")).hexdigest(),
            "info_json_path": ver.info_json_path, "diff": ver.diff,
        })
    return {"video": {"id": v["id"], "title": v["title"]}, "versions": out}


def event_summary(e: dict[str, Any]) -> str:
    """One short line for an event on the video page (a detail can be megabytes in events written before
    metadata changes were stored as diffs; the page never prints it whole)."""
    d = e.get("detail") or {}
    if not isinstance(d, dict):
        return str(d)[:200]
    if e.get("kind") == "metadata-changed":
        diff = d.get("diff")
        return "changed: " + (", ".join(diff) if isinstance(diff, dict) and diff else ", ".join(k for k in d if k != "checked_at"))
    for key in ("reason", "why", "message", "error", "host", "path"):
        if d.get(key):
            return str(d[key])[:300]
    if d.get("sha256"):
        return f"sha256 {str(d['sha256'])[:16]}…"
    text = ", ".join(f"{k}: {str(v)[:60]}" for k, v in list(d.items())[:4])
    return text[:300]


def register(app: FastAPI, get_store: Callable[[], Any], page: Callable[..., HTMLResponse], env: Any) -> None:
    """Add the history page, its JSON twin and the per-version downloads to the app.

    Arguments: app — the FastAPI app; get_store — the request's catalogue; page — renders a template; env — the
    Jinja environment (gets the ``event_summary`` filter the video page uses).
    """
    env.filters["event_summary"] = event_summary

    @app.get("/videos/{video_id}/history", response_class=HTMLResponse, include_in_schema=False)
    def history_page(video_id: str):
        return page("history.html", params={}, **versions_view(get_store(), video_id))

    @app.get("/api/videos/{video_id}/history", tags=["videos"], summary="Every metadata version seen, with diffs")
    def api_history(video_id: str) -> dict[str, Any]:
        return versions_view(get_store(), video_id)

    @app.get("/videos/{video_id}/history/{n}/{field}.txt", include_in_schema=False)
    def version_text(video_id: str, n: int, field: str):
        """A version's title or description exactly as the platform sent it (UTF-8 text)."""
        if field not in FIELDS:
            raise NotFoundError("a version has a title.txt and a description.txt")
        store = get_store()
        versions = history(store, store.get_video(video_id)["id"])
        if not 1 <= n <= len(versions):
            raise NotFoundError(f"no version {n}: this video has {len(versions)}")
        value = getattr(versions[n - 1], FIELDS[field]) or ""
        name = f"{versions[n - 1].seen_at.replace(':', '')}-{field}.txt"
        return Response(value.encode("utf-8"), media_type="text/plain; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
