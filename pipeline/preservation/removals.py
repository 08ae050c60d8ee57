"""Removals as the archive states them: each ``removed`` event with its retraction, if any.

The event chain is append-only: a removal recorded by mistake (an outage the monitor could not tell apart, a page
misread) cannot be deleted or edited. It is withdrawn by a ``retracted`` event that names the removal and says why
(``retract``); every reader that shows a removal (``clipwatch show``/``list``/``events``/``browse removed``, the
web video page and removed list, the JSON API) shows its retraction beside it (``removals_of``, ``retracted_ids``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pipeline.errors import ClipwatchError, NotFoundError


def _detail(row: Any) -> dict[str, Any]:
    try:
        d = json.loads(row["detail"] or "{}")
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def retractions(store: Any) -> dict[int, dict[str, Any]]:
    """Every retraction, by the id of the event it withdraws: {event id: the retraction's detail + its at, id}."""
    out: dict[int, dict[str, Any]] = {}
    for ev in store.events_of_kinds(("retracted",), limit=1_000_000):
        d = _detail(ev)
        if isinstance(d.get("retracts"), int):
            out.setdefault(d["retracts"], d | {"at": ev["at"], "id": ev["id"]})
    return out


def retracted_ids(store: Any) -> set[str]:
    """Ids of videos with at least one retracted removal."""
    return {d["video_id"] for d in retractions(store).values() if d.get("video_id")}


def removals_of(store: Any, video_id: str) -> list[dict[str, Any]]:
    """A video's removals, oldest first: the ``removed`` event's detail with ``event_id``, ``at`` and
    ``retraction`` (None, or the retraction's why/at/id)."""
    vid = store.get_video(video_id)["id"]
    withdrawn = retractions(store)
    # Events written before removals kept the page and its language lack those keys: every reader gets them all.
    blank = {"kind": None, "reason": None, "language": None, "words_from": None, "platform_message": None,
             "page": None, "page_file": None, "confirmed_at": None, "first_failed_at": None, "host_evidence": None}
    return [blank | _detail(ev) | {"event_id": ev["id"], "at": ev["at"], "retraction": withdrawn.get(ev["id"])}
            for ev in store.events(vid) if ev["kind"] == "removed"]


def retract(store: Any, video_id: str, why: str, event_id: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Withdraw a recorded removal with a new ``retracted`` event that says why; the removal stays in the chain.

    Arguments: store — the catalogue; video_id — the video (an unambiguous id prefix works); why — the reason, in
    the archivist's words (required); event_id — which ``removed`` event (default: the latest not yet retracted);
    now — the clock.
    Returns: the retraction's detail (``retracts``, ``why``, ``video_id``, ``status_restored``, ``event_id``).
    Raises: ClipwatchError when there is nothing to retract or no reason is given.
    """
    why = (why or "").strip()
    if not why:
        raise ClipwatchError("say why the removal is withdrawn: --why \"…\" (it is kept in the event chain)")
    video = store.get_video(video_id)
    vid = video["id"]
    found = removals_of(store, vid)
    if event_id is not None:
        target = next((r for r in found if r["event_id"] == event_id), None)
        if target is None:
            raise NotFoundError(f"event {event_id} is not a removal of {vid}; see `clipwatch events {vid} --kind removed`")
    else:
        open_ = [r for r in found if r["retraction"] is None]
        if not open_:
            raise NotFoundError(f"{vid}: no removal to retract (see `clipwatch events {vid}`)")
        target = open_[-1]
    if target["retraction"] is not None:
        raise ClipwatchError(f"removal event {target['event_id']} of {vid} was already retracted at "
                             f"{target['retraction']['at']}: {target['retraction'].get('why')}")
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    at_s = at.isoformat().replace("+00:00", "Z")
    latest = found[-1]["event_id"] if found else None
    # The video's status follows the removal only while that removal is the one the status rests on.
    restore = video["status"] == "removed" and target["event_id"] == latest
    detail = {"retracts": target["event_id"], "retracted_kind": "removed", "video_id": vid, "why": why,
              "removed_reason": target.get("reason"), "removed_at": target.get("confirmed_at") or target["at"],
              "retracted_at": at_s, "status_restored": restore}
    with store.transaction():
        if restore:
            store.set_video_fields(vid, status="available", status_kind=None, status_reason=None, status_changed_at=at_s,
                                   failed_checks=0, first_failed_at=None)
        eid = store.add_event("retracted", video_id=vid, media_sha256=video["media_sha256"], detail=detail)
    return detail | {"event_id": eid}


def removed_listing(store: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The removed-videos list (rows of ``views.removed_list``) with retracted removals added, each row with
    ``retracted`` (None, or why and when) — a withdrawn removal stays visible as withdrawn, never silently gone."""
    withdrawn = retractions(store)
    by_video: dict[str, dict[str, Any]] = {}
    for d in withdrawn.values():
        if d.get("video_id"):
            by_video.setdefault(d["video_id"], d)
    out = []
    for r in rows:
        out.append(dict(r) | {"retracted": None})
    seen = {r["id"] for r in rows}
    for vid, d in by_video.items():
        if vid in seen:
            continue
        v = store.find_video(vid)
        if v is None:
            continue
        out.append({"id": vid, "title": v["title"], "channel": v["channel"], "webpage_url": v["webpage_url"],
                    "upload_date": v["upload_date"], "status": v["status"], "status_kind": "retracted",
                    "status_reason": d.get("removed_reason"), "status_changed_at": d.get("removed_at"),
                    "last_checked_at": v["last_checked_at"], "media_sha256": v["media_sha256"], "media_path": None,
                    "last_seen": None, "retracted": {"why": d.get("why"), "at": d.get("retracted_at") or d["at"]}})
    return out
