"""Atom 1.0 feeds of what the archive found, for any feed reader: ``/feeds/removals.atom`` (a removal once the
monitor confirmed it, a reappearance, a retraction) and ``/feeds/changes.atom`` (metadata changes and new captures),
each filterable by ``?channel=`` (the channel's name or platform id, as the video page shows them).

Entries are the catalogue's events, newest first: an entry's id is a ``tag:`` URI made from the event's chain hash
(stable across restarts and machines), its ``updated`` the event's time, its link the video's page here. A
``removed`` event exists only after the two-check confirmation, and a host outage is a ``host-outage`` event, never
one of these: so an outage never reaches the removals feed. Untrusted text (titles, the platform's words) goes
through ``pipeline.xmlsafe`` and ``xml.etree`` escapes the rest: the feed always parses.

Registered on the app by ``register`` (one line in ``create_app``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable
from urllib.parse import quote
from xml.etree import ElementTree as ET

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from pipeline import __version__
from pipeline.xmlsafe import xml_text

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
TAG = "tag:clipwatch,2026:"   # tag: URIs (RFC 4151): ids that never change and need no domain of ours
FEEDS = {
    "removals": ("Removals", ("removed", "reappeared", "retracted"),
                 "Videos the platform stopped serving (confirmed by two checks), came back, or whose removal was withdrawn"),
    "changes": ("Changes", ("metadata-changed", "fetched"),
                "Metadata changes of archived videos, and new captures"),
}
MAX_ENTRIES = 200
_SCAN = 5000   # events read per feed (newest first) before the channel filter


def _detail(ev: Any) -> dict[str, Any]:
    try:
        d = json.loads(ev["detail"] or "{}")
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _title(kind: str, d: dict[str, Any], video_title: str) -> tuple[str, str]:
    """An entry's title and its text summary."""
    if kind == "removed":
        return (f"Removed ({d.get('kind') or 'unavailable'}): {video_title}",
                f"The platform's words: {d.get('reason') or '—'}"
                + (f" [{d['language']}]" if d.get("language") else "")
                + f"; confirmed {d.get('confirmed_at') or '?'} after {d.get('failed_checks') or '?'} failed checks"
                + f" from {d.get('first_failed_at') or '?'}.")
    if kind == "reappeared":
        return (f"Back online: {video_title}",
                f"Was {d.get('was_kind') or 'removed'}: {d.get('was_reason') or '—'}; answered again {d.get('checked_at') or ''}.")
    if kind == "retracted":
        return (f"Removal withdrawn: {video_title}",
                f"Removal event {d.get('retracts')} ({d.get('removed_reason') or '—'}) withdrawn: {d.get('why') or '—'}")
    if kind == "metadata-changed":
        diff = d.get("diff")
        fields = ", ".join(diff) if isinstance(diff, dict) and diff else "metadata"
        parts = []
        if isinstance(diff, dict) and isinstance(diff.get("title"), dict):
            t = diff["title"]
            parts.append(f"title: {t.get('old') or t.get('before') or '—'} → {t.get('new') or t.get('after') or '—'}")
        return f"Changed ({fields}): {video_title}", "; ".join(parts) or f"changed: {fields}"
    if kind == "fetched":
        return f"Archived: {video_title}", f"Captured; SHA-256 {d.get('sha256') or '—'}"
    return f"{kind}: {video_title}", kind


def _matches(video: Any, channel: str | None) -> bool:
    if not channel:
        return True
    return channel in {video["channel"], video["channel_id"], video["uploader"]}


def entries(store: Any, kinds: Iterable[str], channel: str | None = None, limit: int = MAX_ENTRIES) -> list[dict[str, Any]]:
    """The feed's entries, newest first.

    Arguments: store — the catalogue; kinds — event kinds; channel — keep only videos of this channel (name or
    platform id); limit — at most this many.
    Returns: dicts of id, updated, title, summary, video_id, kind, channel.
    """
    out: list[dict[str, Any]] = []
    videos: dict[str, Any] = {}
    for ev in store.events_of_kinds(tuple(kinds), limit=_SCAN):
        vid = ev["video_id"]
        if not vid:
            continue   # a channel's own removal has no video page; `clipwatch monitor list` shows it
        if vid not in videos:
            videos[vid] = store.find_video(vid)
        v = videos[vid]
        if v is None or not _matches(v, channel):
            continue
        d = {"sha256": ev["media_sha256"]} if ev["kind"] == "fetched" else _detail(ev)
        title, summary = _title(ev["kind"], d, v["title"] or vid)
        title = " ".join(title.split())   # a title is one line, whatever CR/LF the platform's title carried
        out.append({"id": TAG + "event:" + (ev["hash"] or str(ev["id"])), "updated": ev["at"], "title": title,
                    "summary": summary, "video_id": vid, "kind": ev["kind"], "channel": v["channel"]})
        if len(out) >= limit:
            break
    return out


def render(name: str, items: list[dict[str, Any]], base_url: str, channel: str | None = None) -> bytes:
    """An Atom 1.0 document (RFC 4287): feed id, title, updated, author, self link; each entry id, title, updated,
    alternate link, summary.

    Arguments: name — ``removals`` or ``changes``; items — from ``entries``; base_url — the site's root URL
    (``http://host:port``); channel — the filter, named in the feed's id, title and self link.
    Returns: the UTF-8 XML.
    """
    title, _kinds, subtitle = FEEDS[name]
    base = base_url.rstrip("/")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
        if text is not None:
            el.text = xml_text(text)
        return el

    # Unprefixed names under a default namespace declared on the root (no global ET.register_namespace)
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    query = f"?channel={_quote(channel)}" if channel else ""
    sub(feed, "id", TAG + f"feed:{name}" + (f":channel:{_quote(channel)}" if channel else ""))
    sub(feed, "title", f"clipwatch · {title}" + (f" · {channel}" if channel else ""))
    sub(feed, "subtitle", subtitle)
    sub(feed, "updated", _atom_time(items[0]["updated"]) if items else "1970-01-01T00:00:00Z")
    author = sub(feed, "author")
    sub(author, "name", "clipwatch")
    sub(feed, "generator", "clipwatch", version=__version__)
    sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feeds/{name}.atom{query}")
    sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/removed" if name == "removals" else f"{base}/recent")
    for it in items:
        e = sub(feed, "entry")
        sub(e, "id", it["id"])
        sub(e, "title", it["title"], type="text")
        sub(e, "updated", _atom_time(it["updated"]))
        sub(e, "link", rel="alternate", type="text/html", href=f"{base}/videos/{_quote(it['video_id'])}")
        sub(e, "category", term=it["kind"])
        sub(e, "summary", it["summary"], type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _quote(text: str) -> str:
    return quote(text, safe="")


def _atom_time(at: str) -> str:
    """An RFC 3339 date-time as Atom requires (the catalogue keeps ``…Z``; a date alone gets midnight UTC)."""
    at = (at or "").strip()
    if len(at) == 10:
        return at + "T00:00:00Z"
    return at or "1970-01-01T00:00:00Z"


def register(app: FastAPI, get_store: Callable[[], Any]) -> None:
    """Add ``/feeds/removals.atom`` and ``/feeds/changes.atom`` to the app.

    Arguments: app — the FastAPI app; get_store — the request's catalogue.
    """
    def serve(name: str, request: Request, channel: str | None) -> Response:
        channel = channel.strip() if channel else None
        items = entries(get_store(), FEEDS[name][1], channel)
        return Response(render(name, items, str(request.base_url), channel), media_type=MEDIA_TYPE)

    @app.get("/feeds/removals.atom", tags=["feeds"], summary="Atom feed: confirmed removals, reappearances, retractions",
             response_class=Response)
    def removals_feed(request: Request, channel: str | None = Query(None, max_length=500,
                                                                     description="a channel's name or platform id")):
        return serve("removals", request, channel)

    @app.get("/feeds/changes.atom", tags=["feeds"], summary="Atom feed: metadata changes and new captures",
             response_class=Response)
    def changes_feed(request: Request, channel: str | None = Query(None, max_length=500,
                                                                    description="a channel's name or platform id")):
        return serve("changes", request, channel)
