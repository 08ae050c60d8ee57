"""Monitoring: is each archived video still online, has its metadata changed, what is new?

``check_video`` asks the platform about one video (metadata only, no download)
and records what it learns:

* the platform says the video is gone (yt-dlp's message classified by
  ``pipeline.ytdlp``: removed-by-platform, removed-by-uploader, private,
  geo-blocked, unavailable-unknown) → a *failed check*. A video is recorded as
  ``removed`` (status, kind, the platform's words verbatim, a ``removed`` event)
  only after at least two failed checks at least ``confirm_after`` apart (an
  hour by default), each made while the site itself answered. One bad answer
  is never enough.
* the site cannot be reached, times out, answers 5xx or anything else that is
  not a statement about the video → ``transient``: nothing is counted.
* the video answers again after it was recorded removed → ``reappeared``.
* title, description or tags differ from the last version seen → a new row in
  ``metadata_versions``, the info.json as received kept beside the first, and a
  ``metadata-changed`` event with the diff.

``due_videos`` decides which videos to check now: newer uploads more often
(every 6 hours in their first week, daily in their first month, weekly in their
first year, monthly after), and a video with a pending failed check as soon as
it can be confirmed. ``relist_sources`` re-lists watched channels and playlists
and returns the videos not yet archived, for ingest.

Every function takes ``now`` (a timezone-aware datetime) so tests can move the
clock; the default is the real time.
"""

from __future__ import annotations

import difflib
import json
import logging
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from pipeline.sources import fetch as _fetch
from pipeline.storage.files import Archive, atomic_write_json
from pipeline.errors import ClipwatchError, VideoUnavailable
from pipeline.sources.discovery import Discovery, VideoRef, discover
from pipeline.storage.sqlite.catalogue import Store
from pipeline.sources.ytdlp import classify_download_error, unsmuggle_url

log = logging.getLogger(__name__)

METADATA_FIELDS = ("title", "description", "platform_tags")


@dataclass(frozen=True)
class Schedule:
    """How often a video is re-checked, by the age of its upload (or of its archiving)."""

    tiers: tuple[tuple[timedelta, timedelta], ...] = (
        (timedelta(days=7), timedelta(hours=6)),
        (timedelta(days=30), timedelta(days=1)),
        (timedelta(days=365), timedelta(days=7)),
    )
    oldest: timedelta = timedelta(days=30)       # older than every tier
    removed: timedelta = timedelta(days=7)       # removed videos are looked at for a return at most this often
    confirm_after: timedelta = timedelta(hours=1)  # minimum time between the two failed checks of a removal

    def interval_for(self, age: timedelta) -> timedelta:
        for limit, every in self.tiers:
            if age < limit:
                return every
        return self.oldest


DEFAULT_SCHEDULE = Schedule()


@dataclass
class CheckResult:
    video_id: str
    url: str
    checked_at: str
    outcome: str          # available | reappeared | suspect | removed | still-removed | transient | not-applicable
    status: str           # the video's status after the check
    kind: str | None = None
    reason: str | None = None
    failed_checks: int = 0
    metadata_changed: bool = False
    diff: dict[str, Any] | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SourceListing:
    source_id: int
    url: str
    kind: str | None = None
    title: str | None = None
    listed: int = 0
    new: list[VideoRef] = field(default_factory=list)
    error: str | None = None
    outcome: str = "listed"   # listed | transient | suspect | removed | still-removed | reappeared

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["new"] = [asdict(r) for r in self.new]
        return d


# -- time helpers --------------------------------------------------------------

def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


# -- is the site up? ------------------------------------------------------------

def site_reachable(url: str, timeout: float = 10.0) -> bool:
    """True when the URL's host answers HTTP at all below 500 (a 404 for "/" still proves it is up)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    root = f"{parts.scheme}://{parts.netloc}/"
    req = urllib.request.Request(root, method="GET", headers={"User-Agent": "clipwatch-monitor"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) only, checked above
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError, ValueError):
        return False


# -- metadata history -----------------------------------------------------------

def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value or []]


def metadata_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Field-by-field differences between two metadata versions (empty when equal).

    Titles: old and new. Descriptions: old, new and a unified diff by line.
    Tags: which were added and which removed.
    """
    diff: dict[str, Any] = {}
    if (old.get("title") or "") != (new.get("title") or ""):
        diff["title"] = {"old": old.get("title"), "new": new.get("title")}
    od, nd = old.get("description") or "", new.get("description") or ""
    if od != nd:
        lines = list(difflib.unified_diff(od.splitlines(), nd.splitlines(), "before", "after", lineterm="", n=1))
        diff["description"] = {"old": old.get("description"), "new": new.get("description"), "unified": lines}
    ot, nt = _tags(old.get("platform_tags")), _tags(new.get("platform_tags"))
    if ot != nt:
        diff["platform_tags"] = {"old": ot, "new": nt,
                                 "added": [t for t in nt if t not in ot], "removed": [t for t in ot if t not in nt]}
    return diff


def latest_metadata(store: Store, video_id: str) -> dict[str, Any]:
    versions = store.metadata_versions(video_id)
    row = versions[-1] if versions else store.get_video(video_id)
    return {"title": row["title"], "description": row["description"], "platform_tags": _tags(row["platform_tags"])}


@dataclass
class MetadataVersion:
    id: int
    seen_at: str
    title: str | None
    description: str | None
    platform_tags: list[str]
    info_json_path: str | None
    diff: dict[str, Any]   # against the version before (empty for the first)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def history(store: Store, video_id: str) -> list[MetadataVersion]:
    """Every metadata version seen for a video, oldest first, each with its diff from the one before."""
    vid = store.get_video(video_id)["id"]
    out: list[MetadataVersion] = []
    prev: dict[str, Any] | None = None
    for r in store.metadata_versions(vid):
        cur = {"title": r["title"], "description": r["description"], "platform_tags": _tags(r["platform_tags"])}
        out.append(MetadataVersion(r["id"], r["seen_at"], r["title"], r["description"], cur["platform_tags"],
                                   r["info_json_path"], metadata_diff(prev, cur) if prev is not None else {}))
        prev = cur
    return out


def _record_metadata(store: Store, archive: Archive | None, video, info: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    rec = _fetch._video_record(info, video["source_url"])
    new = {"title": rec.title, "description": rec.description, "platform_tags": rec.platform_tags}
    old = latest_metadata(store, video["id"])
    diff = metadata_diff(old, new)
    if not diff:
        return None
    info_rel = None
    if archive is not None and video["folder"]:
        # The previous info.json stays as it is; each later version gets its own file.
        name = f"info.{now.strftime('%Y%m%dT%H%M%SZ')}.json"
        dest = archive.abspath(video["folder"]) / name
        n = 1
        while dest.exists():
            dest = dest.with_name(f"info.{now.strftime('%Y%m%dT%H%M%SZ')}-{n}.json")
            n += 1
        atomic_write_json(dest, info)
        info_rel = archive.relpath(dest)
    with store.transaction():
        store.add_metadata_version(video["id"], rec.title, rec.description, rec.platform_tags, info_rel, seen_at=iso(now))
        store.set_video_fields(video["id"], title=rec.title, description=rec.description,
                               platform_tags=json.dumps(rec.platform_tags, ensure_ascii=False))
        from pipeline.preservation.facts import changes

        store.add_event("metadata-changed", video_id=video["id"], detail={"checked_at": iso(now), "diff": diff,
                                                                           "info_json": info_rel,
                                                                           "facts": changes(store, video["id"])})
    if archive is not None and video["folder"]:
        from pipeline.preservation.manifest import record_manifest

        record_manifest(store, archive, video["id"])
    return diff


# -- one video ------------------------------------------------------------------

def check_video(store: Store, archive: Archive | None, video_id: str, *, now: datetime | None = None,
                confirm_after: timedelta = DEFAULT_SCHEDULE.confirm_after,
                extract: Callable[[str], dict[str, Any]] | None = None,
                reachable: Callable[[str], bool] | None = None) -> CheckResult:
    """Ask the platform about one archived video and record what changed. Never downloads media."""
    now = _now(now)
    video = store.get_video(video_id)
    vid = video["id"]
    url = video["webpage_url"] or video["source_url"]
    res = CheckResult(video_id=vid, url=url, checked_at=iso(now), outcome="available", status=video["status"],
                      failed_checks=video["failed_checks"])
    if video["extractor"] == "local" or not url.startswith(("http://", "https://")):
        res.outcome, res.message = "not-applicable", "a local file: nothing online to check"
        return res
    extract = extract or (lambda u: _fetch.extract_info(u))  # looked up at call time (tests patch it)
    reachable = reachable or site_reachable
    try:
        try:
            info = extract(url)
        except Exception as exc:  # a yt-dlp exception that reached us unclassified
            if type(exc).__module__.startswith("yt_dlp"):
                raise classify_download_error(url, exc) from exc
            raise
    except VideoUnavailable as exc:
        return _failed_check(store, video, res, exc.kind, exc.reason, now, confirm_after, reachable)
    except ClipwatchError as exc:
        store.set_video_fields(vid, last_checked_at=iso(now))
        res.outcome, res.message = "transient", f"not a statement about the video, nothing recorded: {exc}"
        log.info("%s: transient check failure: %s", vid, exc)
        return res

    # The platform answered with the video.
    was_removed = video["status"] == "removed"
    fields: dict[str, Any] = {"last_checked_at": iso(now), "failed_checks": 0, "first_failed_at": None}
    if was_removed:
        fields.update(status="available", status_kind=None, status_reason=None, status_changed_at=iso(now))
    with store.transaction():
        store.set_video_fields(vid, **fields)
        if was_removed:
            from pipeline.preservation.facts import changes

            store.add_event("reappeared", video_id=vid, media_sha256=video["media_sha256"], detail={
                "checked_at": iso(now), "url": url, "was_kind": video["status_kind"], "was_reason": video["status_reason"],
                "removed_at": video["status_changed_at"],
                "facts": changes(store, vid)})  # the new status's digest, in the event that changes it
    res.status, res.failed_checks = "available", 0
    res.outcome = "reappeared" if was_removed else "available"
    if was_removed:
        res.message = f"back online (was {video['status_kind']}: {video['status_reason']})"
    elif video["failed_checks"]:
        res.message = f"answered again after {video['failed_checks']} failed check(s); not removed"
    diff = _record_metadata(store, archive, video, info, now)
    if diff:
        res.metadata_changed, res.diff = True, diff
        res.message = (res.message + "; " if res.message else "") + "metadata changed: " + ", ".join(diff)
    return res


def _failed_check(store: Store, video, res: CheckResult, kind: str, reason: str, now: datetime,
                  confirm_after: timedelta, reachable: Callable[[str], bool]) -> CheckResult:
    vid = video["id"]
    res.kind, res.reason = kind, reason
    if not reachable(res.url):
        store.set_video_fields(vid, last_checked_at=iso(now))
        res.outcome = "transient"
        res.message = f"the platform's answer ({reason}) came while the site itself did not answer; not counted"
        return res
    if video["status"] == "removed":
        store.set_video_fields(vid, last_checked_at=iso(now), failed_checks=video["failed_checks"] + 1)
        res.outcome, res.failed_checks = "still-removed", video["failed_checks"] + 1
        res.kind, res.reason = video["status_kind"], video["status_reason"]
        res.message = "still gone"
        return res
    failed = video["failed_checks"] + 1
    first = parse_time(video["first_failed_at"]) or now
    res.failed_checks = failed
    if failed >= 2 and now - first >= confirm_after:
        with store.transaction():
            store.set_video_fields(vid, last_checked_at=iso(now), failed_checks=failed, first_failed_at=iso(first),
                                   status="removed", status_kind=kind, status_reason=reason, status_changed_at=iso(now))
            from pipeline.preservation.facts import changes

            store.add_event("removed", video_id=vid, media_sha256=video["media_sha256"], detail={
                "kind": kind, "reason": reason, "url": res.url, "first_failed_at": iso(first), "confirmed_at": iso(now),
                "failed_checks": failed, "facts": changes(store, vid)})  # the status's digest, in this event
        res.outcome, res.status = "removed", "removed"
        res.message = f"removed ({kind}): {reason}"
        return res
    store.set_video_fields(vid, last_checked_at=iso(now), failed_checks=failed, first_failed_at=iso(first))
    wait = first + confirm_after - now
    res.outcome = "suspect"
    res.message = (f"the platform says: {reason} — failed check {failed}; recorded as removed only after another failed "
                   f"check {'in ' + str(wait) if wait > timedelta(0) else 'from now on'}")
    return res


# -- schedule -------------------------------------------------------------------

def next_check_at(video, schedule: Schedule = DEFAULT_SCHEDULE, now: datetime | None = None) -> datetime | None:
    """When a video is next due (None: never, e.g. a local file)."""
    now = _now(now)
    if video["extractor"] == "local" or not (video["webpage_url"] or video["source_url"] or "").startswith(("http://", "https://")):
        return None
    last = parse_time(video["last_checked_at"])
    if last is None:
        return parse_time(video["archived_at"]) or now
    if video["status"] != "removed" and video["failed_checks"]:
        first = parse_time(video["first_failed_at"]) or last
        return max(first + schedule.confirm_after, last + min(schedule.confirm_after, timedelta(minutes=10)))
    born = parse_time(video["upload_date"]) or parse_time(video["archived_at"]) or now
    every = schedule.interval_for(max(timedelta(0), now - born))
    if video["status"] == "removed":
        every = min(max(every, timedelta(days=1)), schedule.removed)
    return last + every


def due_videos(store: Store, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE,
               limit: int | None = None) -> list[str]:
    """Ids of videos due for a check, pending confirmations first, then the most overdue."""
    now = _now(now)
    due: list[tuple[int, datetime, str]] = []
    for v in store.all_videos():
        at = next_check_at(v, schedule, now)
        if at is not None and at <= now:
            pending = 0 if (v["failed_checks"] and v["status"] != "removed") else 1
            due.append((pending, at, v["id"]))
    due.sort()
    ids = [d[2] for d in due]
    return ids[:limit] if limit is not None else ids


def check_due(store: Store, archive: Archive | None, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE,
              limit: int | None = None, **kw: Any) -> list[CheckResult]:
    """Check every due video (see ``due_videos``)."""
    now = _now(now)
    return [check_video(store, archive, vid, now=now, confirm_after=schedule.confirm_after, **kw)
            for vid in due_videos(store, now, schedule, limit)]


# -- watched sources ------------------------------------------------------------

def watch_source(store: Store, url: str, discover_fn: Callable[[str], Discovery] | None = None) -> tuple[int, Discovery]:
    """Mark a channel or playlist as watched (it is listed once, to check it and learn its kind and title)."""
    found = (discover_fn or discover)(url)
    sid = store.upsert_source(found.source_url, found.kind, found.title, watched=True)
    return sid, found


def watched_sources(store: Store) -> list[dict[str, Any]]:
    rows = store.watched_sources_with_state()
    return [{k: r[k] for k in r.keys()} | {"status": r["status"] or "available"} for r in rows]


def known_urls(store: Store) -> set[str]:
    return store.video_urls()


def relist_sources(store: Store, *, now: datetime | None = None, confirm_after: timedelta = DEFAULT_SCHEDULE.confirm_after,
                   discover_fn: Callable[[str], Discovery] | None = None,
                   reachable: Callable[[str], bool] | None = None) -> list[SourceListing]:
    """List every watched source again; each listing carries the videos not yet archived.

    A source that the platform says is gone follows the same rule as a video:
    two failed listings at least ``confirm_after`` apart, the site answering,
    then a ``removed`` event for the source; ``reappeared`` when it lists again.
    """
    now = _now(now)
    discover_fn = discover_fn or discover
    reachable = reachable or site_reachable
    known = known_urls(store)
    out: list[SourceListing] = []
    for s in store.watched_source_rows():
        lst = SourceListing(source_id=s["id"], url=s["url"], kind=s["kind"], title=s["title"])
        out.append(lst)
        state = store.source_check(s["id"])
        try:
            found = discover_fn(s["url"])
        except VideoUnavailable as exc:
            lst.error = str(exc)
            store.set_source_list_error(s["id"], str(exc))
            lst.outcome = _source_failed(store, s["id"], state, exc.kind, exc.reason, s["url"], now, confirm_after, reachable)
            continue
        except ClipwatchError as exc:
            lst.error, lst.outcome = str(exc), "transient"
            store.set_source_list_error(s["id"], str(exc))
            continue
        with store.transaction():
            if state is not None and state["status"] == "removed":
                store.add_event("reappeared", source_id=s["id"], detail={"url": s["url"], "was_kind": state["status_kind"],
                                                                         "was_reason": state["status_reason"], "checked_at": iso(now)})
                lst.outcome = "reappeared"
            store.source_listed(s["id"], iso(now), found.title)
        lst.listed = len(found.refs)
        seen: set[str] = set()
        for ref in found.refs:
            clean = unsmuggle_url(ref.url)[0]
            if ref.is_local or clean in known or ref.url in known or clean in seen:
                continue
            seen.add(clean)
            lst.new.append(VideoRef(ref.url, s["url"], ref.title, ref.is_local))
    return out


def _source_failed(store: Store, source_id: int, state, kind: str, reason: str, url: str, now: datetime,
                   confirm_after: timedelta, reachable: Callable[[str], bool]) -> str:
    if not reachable(url):
        return "transient"
    if state is not None and state["status"] == "removed":
        store.source_checked(source_id, iso(now))
        return "still-removed"
    failed = (state["failed_checks"] if state is not None else 0) + 1
    first = parse_time(state["first_failed_at"]) if state is not None else None
    first = first or now
    removed = failed >= 2 and now - first >= confirm_after
    with store.transaction():
        store.source_failed(source_id, failed, iso(first), iso(now), removed=(kind, reason) if removed else None)
        if removed:
            store.add_event("removed", source_id=source_id, detail={"kind": kind, "reason": reason, "url": url,
                                                                    "first_failed_at": iso(first), "confirmed_at": iso(now),
                                                                    "failed_checks": failed})
    return "removed" if removed else "suspect"
