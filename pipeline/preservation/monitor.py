"""Monitoring: is each archived video still online, has its metadata changed, what is new?

``check_video`` asks the platform about one video (metadata only, no download)
and records what it learns:

* the platform says the video is gone (yt-dlp's message classified by
  ``pipeline.sources.ytdlp``: removed-by-platform, removed-by-uploader, private,
  geo-blocked, unavailable-unknown), or its watch page says so in the site's
  own words (also with status 200, in English, Korean, …: ``pipeline.sources
  .pages``) → a *failed check*. A video is recorded as ``removed`` (status,
  kind, the site's words verbatim with their language, the watch page's HTTP
  exchange and body, a ``removed`` event) only after at least two failed checks
  at least ``confirm_after`` apart (an hour by default), each made while the
  host demonstrably served other videos (see ``apply_round``). One bad answer
  is never enough, and an outage is never a removal: a round in which many
  videos of one host fail is a ``host-outage``.
* the site cannot be reached, times out, answers 429/5xx, serves a bot check,
  captcha or CDN error page (recognised in the body, whatever the status) or
  anything else that is not a statement about the video → ``transient``:
  nothing is counted.
* a removal recorded by mistake is withdrawn by ``pipeline.preservation
  .removals.retract`` (a ``retracted`` event; the removal stays in the chain).
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

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Collection

from pipeline.errors import ClipwatchError, VideoUnavailable
from pipeline.preservation.clock import iso, parse_time, utc_now
from pipeline.preservation.history import record_metadata
from pipeline.preservation.manifest import record_manifest
from pipeline.sources import ytdlp
from pipeline.sources.discovery import Discovery, VideoRef, discover
from pipeline.sources.pages import PageExchange, fetch_page, front_page_serving, host_of, read_page, script_language
from pipeline.sources.ytdlp import classify_download_error, unsmuggle_url
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.facts import changes
from pipeline.storage.files import atomic_write_bytes

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


# -- is the site up? ------------------------------------------------------------

def site_reachable(url: str, timeout: float = 10.0) -> bool:
    """True when the URL's host demonstrably serves: its front page answers 2xx/3xx and is the site's own page
    (not a bot check, captcha or CDN error page). A 404 for "/" is NOT proof that the site is up: a site that is
    down behind its CDN answers 404 for everything."""
    return front_page_serving(url, timeout) is not None


# -- one round of checks ------------------------------------------------------------
#
# A check is made in two steps so that a round can compare the videos of one host before anything is recorded:
# ``observe_video`` asks the platform (yt-dlp, and the watch page itself when that fails) and writes nothing;
# ``apply_round`` groups the observations by host and records them. A removal is a finding, not a status code:
#
# * a failure is counted only while the host demonstrably serves other videos (another video of the host answered
#   in this round, or, when none was checked, its front page answered 2xx/3xx and is the site's own page);
# * a round in which many videos of one host fail at once is a host outage: one ``host-outage`` event, no per-video
#   count, until a round in which the host answers normally again (``host-recovered``);
# * bot checks, captchas and CDN error pages are recognised in the page body, whatever the status, and never count;
# * a page that answers 200 and says the video is gone counts like a 404/410;
# * the removal keeps the site's words verbatim (page text or the platform's message, language noted) and the
#   HTTP exchange of the watch page (its body kept beside the video as evidence, by digest in the event).


@dataclass
class HostPolicy:
    """When the failures of one round are the host's and not the videos'."""

    outage_min_failures: int = 3    # at least this many videos of the host failed in the round …
    outage_share: float = 0.8       # … and at least this share of the host's videos checked in the round


DEFAULT_HOST_POLICY = HostPolicy()


@dataclass
class Observation:
    """What the platform said about one video, before anything is recorded (see ``apply_round``)."""

    video_id: str
    url: str
    host: str
    observed_at: str
    outcome: str                      # ok | gone | transient | not-applicable
    info: dict[str, Any] | None = None
    kind: str | None = None           # gone: the removal kind
    words: str | None = None          # gone: the site's words, verbatim
    words_from: str | None = None     # page | platform-message
    language: str | None = None
    platform_message: str | None = None   # yt-dlp's reading of the platform's answer, verbatim
    page: dict[str, Any] | None = None    # the watch page's HTTP exchange (no body)
    challenge: str | None = None      # transient: the foreign page seen (captcha, bot check, CDN error page)
    message: str = ""
    body: bytes = b""                 # the watch page as received (kept as evidence when the removal is recorded)


def observe_video(store: Catalogue, video_id: str, *, now: datetime | None = None,
                  extract: Callable[[str], dict[str, Any]] | None = None,
                  fetch: Callable[[str], Any] | None = None) -> Observation:
    """Ask the platform about one archived video; records nothing.

    Arguments: store — the catalogue; video_id — the video; now — the clock; extract — yt-dlp's metadata extraction
    (tests swap it); fetch — ``pipeline.sources.pages.fetch_page`` (tests swap it).
    Returns: an ``Observation`` for ``apply_round``.
    """
    now = utc_now(now)
    video = store.get_video(video_id)
    url = video["webpage_url"] or video["source_url"]
    obs = Observation(video_id=video["id"], url=url, host=host_of(url), observed_at=iso(now), outcome="ok")
    if video["extractor"] == "local" or not url.startswith(("http://", "https://")):
        obs.outcome, obs.message = "not-applicable", "a local file: nothing online to check"
        return obs
    extract = extract or (lambda u: ytdlp.extract_info(u))  # looked up at call time (tests patch it)
    fetch = fetch or fetch_page
    try:
        try:
            obs.info = extract(url)
            return obs
        except Exception as exc:  # a yt-dlp exception that reached us unclassified
            if type(exc).__module__.startswith("yt_dlp"):
                raise classify_download_error(url, exc) from exc
            raise
    except VideoUnavailable as exc:
        said: VideoUnavailable | None = exc
        error: ClipwatchError = exc
    except ClipwatchError as exc:
        said, error = None, exc
    # yt-dlp could not give the video: read the page ourselves, for the site's words and to see whose page it is.
    ex = fetch(url)
    reading = read_page(ex)
    obs.page, obs.body = ex.to_dict(), ex.body
    if reading.what == "challenge":
        obs.outcome, obs.challenge = "transient", reading.challenge
        obs.message = (f"a {reading.challenge} came back (HTTP {ex.status}), not the site's own page: not a statement "
                       f"about the video, nothing counted")
        return obs
    if ex.status is not None and (ex.status == 429 or ex.status >= 500):
        # Rate limits and server errors say nothing about the video, whatever words the page carries.
        obs.outcome = "transient"
        obs.message = f"the site answered HTTP {ex.status}: not a statement about the video, nothing counted ({error})"
        return obs
    if said is None and reading.what != "removal":
        obs.outcome = "transient"
        obs.message = f"not a statement about the video, nothing counted: {error}"
        return obs
    if said is not None and reading.what == "none":
        obs.outcome = "transient"
        obs.message = f"the platform's answer ({said.reason}) could not be confirmed on its page ({ex.error}); nothing counted"
        return obs
    obs.outcome = "gone"
    obs.platform_message = said.reason if said is not None else None
    order = ["geo-blocked", "private", "removed-by-platform", "removed-by-uploader", "unavailable-unknown"]
    kinds = [k for k in (said.kind if said is not None else None, reading.kind) if k in order]
    obs.kind = min(kinds, key=order.index) if kinds else "unavailable-unknown"
    generic = said is None or re.match(r"^(HTTP Error \d+|Unable to download|Unsupported URL)", said.reason or "")
    if reading.what == "removal" and (said is None or generic or not said.reason):  # generic when said is None
        obs.words, obs.words_from, obs.language = reading.words, "page", reading.language
    else:
        obs.words, obs.words_from = (said.reason if said is not None else reading.words), "platform-message"
        if reading.what == "removal" and reading.words and reading.words not in (obs.words or ""):
            obs.page["words"] = reading.words          # the page said it too, in its own words
            obs.page["language"] = reading.language
        obs.language = script_language(obs.words or "")
    obs.message = f"the platform says ({obs.kind}): {obs.words}"
    return obs


def witnesses(store: Catalogue, observations: list[Observation], *, now: datetime | None = None, per_host: int = 2,
              extract: Callable[[str], dict[str, Any]] | None = None,
              fetch: Callable[[str], Any] | None = None) -> list[Observation]:
    """Extra observations that show whether a host serves other videos: for each host with a failure and no video
    that answered in this round, up to ``per_host`` of its other archived videos (available ones, most recently
    seen answering first) are asked too. A pending confirmation is often the only video of its host due.

    Arguments: store — the catalogue; observations — the round so far; per_host — how many witnesses at most;
    now, extract, fetch — see ``observe_video``.
    Returns: the witnesses' observations (real checks, recorded with the round).
    """
    need = {o.host for o in observations if o.outcome == "gone" and o.host}
    need -= {o.host for o in observations if o.outcome == "ok"}
    if not need:
        return []
    seen = {o.video_id for o in observations}
    pool: dict[str, list[Any]] = {}
    for v in store.all_videos():
        url = v["webpage_url"] or v["source_url"] or ""
        host = host_of(url)
        if host in need and v["id"] not in seen and v["status"] == "available" and not v["failed_checks"] \
                and v["extractor"] != "local":
            pool.setdefault(host, []).append(v)
    out = []
    for host, rows in pool.items():
        rows.sort(key=lambda v: v["last_checked_at"] or "", reverse=True)
        out += [observe_video(store, v["id"], now=now, extract=extract, fetch=fetch) for v in rows[:per_host]]
    return out


def _host_state(store: Catalogue, host: str) -> dict[str, Any] | None:
    """The host's open outage (the detail of its last ``host-outage`` event) or None when it answers normally."""
    for ev in store.events_of_kinds(("host-outage", "host-recovered")):
        try:
            d = json.loads(ev["detail"] or "{}")
        except ValueError:
            continue
        if d.get("host") == host:
            return d | {"event_id": ev["id"]} if ev["kind"] == "host-outage" else None
    return None


def _keep_page(archive: BlobStore | None, video, obs: Observation, now: datetime) -> str | None:
    """Keep the watch page the removal rests on beside the video (the event names it by digest); its path."""
    if archive is None or not video["folder"] or not obs.body:
        return None
    folder = archive.abspath(video["folder"])
    if not folder.is_dir():
        return None
    dest = folder / "checks" / f"page.{now.strftime('%Y%m%dT%H%M%SZ')}.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, obs.body)
    return archive.relpath(dest)


def apply_round(store: Catalogue, archive: BlobStore | None, observations: list[Observation], *, now: datetime | None = None,
                confirm_after: timedelta = DEFAULT_SCHEDULE.confirm_after, policy: HostPolicy = DEFAULT_HOST_POLICY,
                front_page: Callable[[str], Any] | None = None) -> list[CheckResult]:
    """Record one round of observations, host by host (see the comment above ``HostPolicy``).

    Arguments: store, archive — where to record; observations — from ``observe_video``, one per video; now — the
    clock; confirm_after — the least time between the two counted failures of a removal; policy — what makes a
    host outage; front_page — ``pipeline.sources.pages.front_page_serving`` (tests swap it): the host's front page
    exchange when it is up and the site's own, else None.
    Returns: one ``CheckResult`` per observation, in their order.
    """
    now = utc_now(now)
    front_page = front_page or front_page_serving
    results: dict[int, CheckResult] = {}
    by_host: dict[str, list[int]] = {}
    for i, obs in enumerate(observations):
        by_host.setdefault(obs.host, []).append(i)
    for host, idx in by_host.items():
        group = [observations[i] for i in idx if observations[i].outcome != "not-applicable"]
        ok = [o for o in group if o.outcome == "ok"]
        failing = [o for o in group if o.outcome in ("gone", "transient")]
        outage = _host_state(store, host) if host else None
        many = len(failing) >= policy.outage_min_failures and len(failing) >= policy.outage_share * len(group)
        evidence: dict[str, Any] | None = None
        if many:
            if outage is None:
                outage = {"host": host, "since": iso(now)}
                store.add_event("host-outage", detail={
                    "host": host, "since": iso(now), "checked_at": iso(now), "failed": len(failing), "answered": len(ok),
                    "statuses": _status_counts(failing),
                    "note": "many videos of this host failed in one round: held as the host's outage, "
                            "not counted against any video"})
        elif ok:
            evidence = {"how": "other-videos", "checked_at": iso(now), "videos": [o.video_id for o in ok][:10],
                        "answered": len(ok)}
            if outage is not None:
                store.add_event("host-recovered", detail={"host": host, "checked_at": iso(now), "since": outage["since"],
                                                          "answered": len(ok), "failed": len(failing)})
                outage = None
        asked_front = False
        for i in idx:
            obs = observations[i]
            if obs.outcome == "gone" and outage is None and evidence is None and not asked_front:
                asked_front = True   # one look at the front page per host and round
                fp = front_page(obs.url)
                evidence = ({"how": "front-page", "checked_at": iso(now), "url": fp.final_url or fp.url,
                             "status": fp.status, "body_sha256": fp.body_sha256} if fp is not None else None)
            results[i] = _apply(store, archive, obs, now, confirm_after, outage, evidence)
    return [results[i] for i in range(len(observations))]


def _status_counts(obs: list[Observation]) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in obs:
        key = str((o.page or {}).get("status") or (o.challenge or "no answer"))
        out[key] = out.get(key, 0) + 1
    return out


def _apply(store: Catalogue, archive: BlobStore | None, obs: Observation, now: datetime, confirm_after: timedelta,
           outage: dict[str, Any] | None, evidence: dict[str, Any] | None) -> CheckResult:
    video = store.get_video(obs.video_id)
    vid = video["id"]
    res = CheckResult(video_id=vid, url=obs.url, checked_at=iso(now), outcome="available", status=video["status"],
                      failed_checks=video["failed_checks"])
    if obs.outcome == "not-applicable":
        res.outcome, res.message = "not-applicable", obs.message
        return res
    if obs.outcome == "transient":
        store.set_video_fields(vid, last_checked_at=iso(now))
        res.outcome, res.message = "transient", obs.message
        log.info("%s: transient check failure: %s", vid, obs.message)
        return res
    if obs.outcome == "gone":
        res.kind, res.reason = obs.kind, obs.words
        if outage is not None:
            store.set_video_fields(vid, last_checked_at=iso(now))
            res.outcome = "host-outage"
            res.message = (f"{obs.host} is failing for many videos at once since {outage.get('since')}: held as the "
                           f"host's outage, not counted against this video ({obs.words})")
            return res
        if evidence is None:
            store.set_video_fields(vid, last_checked_at=iso(now))
            res.outcome = "transient"
            res.message = (f"the platform's answer ({obs.words}) came while the site was not demonstrably serving "
                           f"other videos (its front page did not answer 2xx/3xx as itself); not counted")
            return res
        return _failed_check(store, archive, video, res, obs, now, confirm_after, evidence)

    # The platform answered with the video.
    was_removed = video["status"] == "removed"
    fields: dict[str, Any] = {"last_checked_at": iso(now), "failed_checks": 0, "first_failed_at": None}
    if was_removed:
        fields.update(status="available", status_kind=None, status_reason=None, status_changed_at=iso(now))
    with store.transaction():
        store.set_video_fields(vid, **fields)
        if was_removed:
            store.add_event("reappeared", video_id=vid, media_sha256=video["media_sha256"], detail={
                "checked_at": iso(now), "url": obs.url, "was_kind": video["status_kind"],
                "was_reason": video["status_reason"], "removed_at": video["status_changed_at"],
                "facts": changes(store, vid)})  # the new status's digest, in the event that changes it
    res.status, res.failed_checks = "available", 0
    res.outcome = "reappeared" if was_removed else "available"
    if was_removed:
        res.message = f"back online (was {video['status_kind']}: {video['status_reason']})"
    elif video["failed_checks"]:
        res.message = f"answered again after {video['failed_checks']} failed check(s); not removed"
    diff = record_metadata(store, archive, video, obs.info or {}, now)
    if diff:
        res.metadata_changed, res.diff = True, diff
        res.message = (res.message + "; " if res.message else "") + "metadata changed: " + ", ".join(diff)
    return res


def check_video(store: Catalogue, archive: BlobStore | None, video_id: str, *, now: datetime | None = None,
                confirm_after: timedelta = DEFAULT_SCHEDULE.confirm_after,
                extract: Callable[[str], dict[str, Any]] | None = None,
                reachable: Callable[[str], bool] | None = None,
                fetch: Callable[[str], Any] | None = None) -> CheckResult:
    """Ask the platform about one archived video and record what changed (a round of one). Never downloads media.

    Arguments: store, archive — where to record; video_id — the video; now — the clock; confirm_after — see
    ``apply_round``; extract, fetch — see ``observe_video``; reachable — a stand-in for the front-page check
    (True: the host is serving), for tests.
    Returns: the ``CheckResult``.
    """
    obs = observe_video(store, video_id, now=now, extract=extract, fetch=fetch)
    more = witnesses(store, [obs], now=now, extract=extract, fetch=fetch)
    front = None
    if reachable is not None:
        def front(url: str):
            return PageExchange(url=url, final_url=url, status=200) if reachable(url) else None
    return apply_round(store, archive, [obs, *more], now=now, confirm_after=confirm_after, front_page=front)[0]


def _failed_check(store: Catalogue, archive: BlobStore | None, video, res: CheckResult, obs: Observation, now: datetime,
                  confirm_after: timedelta, evidence: dict[str, Any]) -> CheckResult:
    vid = video["id"]
    kind, reason = obs.kind or "unavailable-unknown", obs.words or obs.platform_message or "unavailable"
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
        page_file = _keep_page(archive, video, obs, now)
        with store.transaction():
            store.set_video_fields(vid, last_checked_at=iso(now), failed_checks=failed, first_failed_at=iso(first),
                                   status="removed", status_kind=kind, status_reason=reason, status_changed_at=iso(now))
            store.add_event("removed", video_id=vid, media_sha256=video["media_sha256"], detail={
                "kind": kind, "reason": reason, "words_from": obs.words_from, "language": obs.language,
                "platform_message": obs.platform_message, "url": res.url, "first_failed_at": iso(first),
                "confirmed_at": iso(now), "failed_checks": failed, "page": obs.page, "page_file": page_file,
                "host_evidence": evidence, "facts": changes(store, vid)})  # the status's digest, in this event
        if page_file is not None and archive is not None:  # a page is kept only where there is an archive
            record_manifest(store, archive, vid)
        res.outcome, res.status = "removed", "removed"
        res.message = f"removed ({kind}): {reason}"
        return res
    store.set_video_fields(vid, last_checked_at=iso(now), failed_checks=failed, first_failed_at=iso(first))
    wait = first + confirm_after - now
    res.outcome = "suspect"
    res.message = (f"the platform says: {reason} — failed check {failed}; recorded as removed only after another failed "
                   f"check {'in ' + str(wait) if wait > timedelta(0) else 'from now on'} while the host serves other videos")
    return res


# -- schedule -------------------------------------------------------------------

def next_check_at(video, schedule: Schedule = DEFAULT_SCHEDULE, now: datetime | None = None) -> datetime | None:
    """When a video is next due (None: never, e.g. a local file)."""
    now = utc_now(now)
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


def due_videos(store: Catalogue, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE,
               limit: int | None = None) -> list[str]:
    """Ids of videos due for a check, pending confirmations first, then the most overdue."""
    now = utc_now(now)
    due: list[tuple[int, datetime, str]] = []
    for v in store.all_videos():
        at = next_check_at(v, schedule, now)
        if at is not None and at <= now:
            pending = 0 if (v["failed_checks"] and v["status"] != "removed") else 1
            due.append((pending, at, v["id"]))
    due.sort()
    ids = [d[2] for d in due]
    return ids[:limit] if limit is not None else ids


def check_due(store: Catalogue, archive: BlobStore | None, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE,
              limit: int | None = None, *, extract: Callable[[str], dict[str, Any]] | None = None,
              fetch: Callable[[str], Any] | None = None, policy: HostPolicy = DEFAULT_HOST_POLICY,
              front_page: Callable[[str], Any] | None = None) -> list[CheckResult]:
    """Check every due video (see ``due_videos``) as one round: the videos of one host are judged together.

    Arguments: see ``observe_video`` and ``apply_round``. Returns: one ``CheckResult`` per video checked.
    """
    now = utc_now(now)
    obs = [observe_video(store, vid, now=now, extract=extract, fetch=fetch) for vid in due_videos(store, now, schedule, limit)]
    obs += witnesses(store, obs, now=now, extract=extract, fetch=fetch)
    return apply_round(store, archive, obs, now=now, confirm_after=schedule.confirm_after, policy=policy,
                       front_page=front_page)


# -- watched sources ------------------------------------------------------------

def watch_source(store: Catalogue, url: str, discover_fn: Callable[[str], Discovery] | None = None) -> tuple[int, Discovery]:
    """Mark a channel or playlist as watched (it is listed once, to check it and learn its kind and title)."""
    found = (discover_fn or discover)(url)
    sid = store.upsert_source(found.source_url, found.kind, found.title, watched=True)
    return sid, found


def watched_sources(store: Catalogue) -> list[dict[str, Any]]:
    rows = store.watched_sources_with_state()
    return [{k: r[k] for k in r.keys()} | {"status": r["status"] or "available"} for r in rows]


def known_urls(store: Catalogue) -> set[str]:
    return store.video_urls()


def relist_sources(store: Catalogue, *, now: datetime | None = None, confirm_after: timedelta = DEFAULT_SCHEDULE.confirm_after,
                   discover_fn: Callable[[str], Discovery] | None = None,
                   reachable: Callable[[str], bool] | None = None,
                   source_ids: Collection[int] | None = None) -> list[SourceListing]:
    """List every watched source again (or those of ``source_ids``); each listing carries the videos not yet archived.

    A source that the platform says is gone follows the same rule as a video:
    two failed listings at least ``confirm_after`` apart, the site answering,
    then a ``removed`` event for the source; ``reappeared`` when it lists again.
    """
    now = utc_now(now)
    discover_fn = discover_fn or discover
    reachable = reachable or site_reachable
    known = known_urls(store)
    out: list[SourceListing] = []
    for s in store.watched_source_rows():
        if source_ids is not None and s["id"] not in source_ids:
            continue
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


def _source_failed(store: Catalogue, source_id: int, state, kind: str, reason: str, url: str, now: datetime,
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
