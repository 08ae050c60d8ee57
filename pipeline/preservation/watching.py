"""Capture in time: each watched channel polled at its own pace, cheaply through its feed, fully relisted more slowly.

The channel registry (``pipeline/data/channels.toml`` or ``CLIPWATCH_CHANNELS``) says how often:

.. code-block:: toml

    [watch]            # every watched source not named below
    poll = "1h"        # a cheap look for new uploads (the channel's feed; yt-dlp's listing where it has none)
    relist = "6h"      # a full listing with yt-dlp (also notices a channel that is gone)

    [[channel]]
    name = "…"
    urls = ["youtube.com/channel/UC…"]
    poll = "15m"       # channels that lose videos within hours
    relist = "2h"
    feed = "https://…"  # optional: the feed to poll when it cannot be derived (YouTube's is)

A watched source takes the rule of the registry entry its URL falls under (``Registry.match`` by channel URL, never
by name). ``Watcher`` keeps each source's due times (due-time scheduling: each source when it is due, not one sleep
for all) and runs a poll or a relist for it; the new uploads it returns go to ingest. A feed that fails (unreachable,
malformed, hostile, 10,000 entries) leaves the source's previous feed listing as it was, says why in one line, and
that round falls back to yt-dlp's listing so nothing new is missed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from pipeline.config import channel_registry_path
from pipeline.errors import ConfigError
from pipeline.preservation.clock import parse_time, utc_now
from pipeline.preservation.monitor import SourceListing, known_urls, relist_sources
from pipeline.sources.discovery import VideoRef
from pipeline.sources.feed import FeedEntry, FeedError, feed_url_for, parse_feed
from pipeline.sources.pages import MAX_BODY, PageExchange, fetch_page
from pipeline.sources.ytdlp import unsmuggle_url
from pipeline.storage.base import Catalogue
from pipeline.tagging.signals.source import load_registry

DEFAULT_POLL = timedelta(hours=1)
DEFAULT_RELIST = timedelta(hours=6)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: Any, where: str) -> timedelta:
    """A registry interval such as ``"15m"``, ``"6h"``, ``"1h30m"``, ``"90s"``, ``"1d"``.

    Arguments: text — the value as written; where — what it is, for the error (``channel 'X': poll``).
    Returns: the interval (positive).
    Raises: ConfigError naming the entry and the accepted forms.
    """
    hint = 'write it as a number and a unit: "90s", "15m", "6h", "1d", "1h30m"'
    if not isinstance(text, str):
        raise ConfigError(f"{where} = {text!r} is not a duration: {hint}")
    s = text.strip().lower().replace(" ", "")
    if not s or _DURATION.sub("", s):
        raise ConfigError(f"{where} = {text!r} is not a duration: {hint}")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(s))
    if seconds <= 0:
        raise ConfigError(f"{where} = {text!r}: an interval must be longer than zero ({hint})")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class WatchRule:
    """How often one watched source is looked at."""

    poll: timedelta = DEFAULT_POLL
    relist: timedelta = DEFAULT_RELIST
    feed: str | None = None          # the registry's explicit feed URL
    channel: str | None = None       # the registry entry it comes from (None: the defaults)
    channel_ids: tuple[str, ...] = ()
    comments: bool = False           # the entry's `comments = true`: fetch the platform's comments too (issue 23)


@dataclass(frozen=True)
class WatchRules:
    """The registry's ``[watch]`` defaults and the entries that set their own pace."""

    default: WatchRule
    by_channel: dict[str, WatchRule]
    path: str

    def rule_for(self, source_url: str) -> WatchRule:
        """The rule of the registry entry the source's URL falls under, else the defaults.

        Arguments: source_url — the watched source's URL. Returns: its ``WatchRule``."""
        match = load_registry(Path(self.path)).match(channel_url=source_url, names=False)
        if match is not None and match.channel.name in self.by_channel:
            return self.by_channel[match.channel.name]
        if match is not None:
            return WatchRule(self.default.poll, self.default.relist, None, match.channel.name, match.channel.channel_ids)
        return self.default


def _rule(table: dict[str, Any], where: str, base: WatchRule) -> WatchRule:
    poll = parse_duration(table["poll"], f"{where}: poll") if "poll" in table else base.poll
    relist = parse_duration(table["relist"], f"{where}: relist") if "relist" in table else base.relist
    if relist < poll:
        raise ConfigError(f"{where}: relist ({table.get('relist', relist)}) is more often than poll "
                          f"({table.get('poll', poll)}); a full relist is the slower, fuller look: make it the longer one")
    feed = table.get("feed")
    if feed is not None and (not isinstance(feed, str) or not feed.startswith(("http://", "https://"))):
        raise ConfigError(f"{where}: feed = {feed!r} is not an http(s) URL")
    comments = table.get("comments", False)
    if not isinstance(comments, bool):
        raise ConfigError(f"{where}: comments = {comments!r} must be true or false")
    return WatchRule(poll, relist, feed, base.channel, base.channel_ids, comments)


def load_watch_rules(path: Path | None = None) -> WatchRules:
    """Read the poll intervals of the channel registry.

    Arguments: path — the registry (default: ``CLIPWATCH_CHANNELS`` or the shipped one).
    Returns: ``WatchRules``.
    Raises: ConfigError (one line naming the file and entry) for a bad interval or feed.
    """
    p = Path(path) if path else channel_registry_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"channel registry {p} not found; reinstall clipwatch or set CLIPWATCH_CHANNELS") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"channel registry {p} is not valid TOML: {exc}") from exc
    watch = data.get("watch", {})
    if not isinstance(watch, dict):
        raise ConfigError(f"channel registry {p}: [watch] must be a table (poll = \"1h\", relist = \"6h\")")
    default = _rule(watch, f"channel registry {p}: [watch]", WatchRule())
    by_channel: dict[str, WatchRule] = {}
    for i, c in enumerate(data.get("channel", [])):
        if not any(k in c for k in ("poll", "relist", "feed", "comments")):
            continue
        name = str(c.get("name") or f"entry {i + 1}")
        base = WatchRule(default.poll, default.relist, None, name, tuple(str(x) for x in c.get("channel_ids", [])))
        by_channel[name] = _rule(c, f"channel registry {p}: channel {name!r}", base)
    return WatchRules(default, by_channel, str(p))


def wants_comments(source_url: str, path: Path | None = None) -> bool:
    """True when the registry entry a source's URL falls under says ``comments = true``.

    Arguments: source_url — the source as ingested (a channel, playlist or video URL); path — the registry
    (default: ``CLIPWATCH_CHANNELS`` or the shipped one). Returns: whether to fetch its videos' comments."""
    if not source_url.startswith(("http://", "https://")):
        return False
    return load_watch_rules(path).rule_for(source_url).comments


# -- one source's state and the scheduler ------------------------------------------------------------------------

@dataclass
class SourceState:
    """What the watcher knows of one watched source between rounds (kept in memory by the running loop)."""

    source_id: int
    url: str
    rule: WatchRule
    feed_url: str | None
    next_poll: datetime
    next_relist: datetime
    title: str | None = None
    listing: list[FeedEntry] = field(default_factory=list)   # the feed's last good listing
    listed_at: datetime | None = None                         # when that listing was read
    last_error: str | None = None


@dataclass
class Due:
    """A source due now and what to do: ``poll`` (its feed) or ``relist`` (yt-dlp's full listing)."""

    state: SourceState
    what: str


FetchFeed = Callable[[str], PageExchange]


class Watcher:
    """Due-time scheduling of the watched sources: each is polled every ``poll`` and relisted every ``relist``.

    Arguments (constructor): rules — the registry's intervals (``load_watch_rules``); fetch_feed — GETs a feed
    (``pipeline.sources.pages.fetch_page``; tests swap it); discover_fn — yt-dlp's listing (tests swap it).
    """

    def __init__(self, rules: WatchRules | None = None, fetch_feed: FetchFeed | None = None,
                 discover_fn: Callable[..., Any] | None = None):
        self.rules = rules or load_watch_rules()
        self.fetch_feed = fetch_feed or fetch_page
        self.discover_fn = discover_fn
        self.states: dict[int, SourceState] = {}

    def sync(self, store: Catalogue, now: datetime | None = None) -> None:
        """Follow the catalogue's watched sources: new ones are due at once (a relist when never listed), sources
        no longer watched are dropped. A relist's due time rests on the catalogue's ``last_listed_at``, so a restarted
        loop keeps the pace."""
        now = utc_now(now)
        rows = store.watched_source_rows()
        ids = set()
        for s in rows:
            ids.add(s["id"])
            if s["id"] in self.states:
                continue
            rule = self.rules.rule_for(s["url"])
            last = parse_time(s["last_listed_at"])
            self.states[s["id"]] = SourceState(
                source_id=s["id"], url=s["url"], title=s["title"], rule=rule, feed_url=feed_url_for(s["url"], rule.channel_ids, rule.feed),
                next_poll=now, next_relist=(last + rule.relist) if last is not None else now)
        for sid in list(self.states):
            if sid not in ids:
                del self.states[sid]

    def due(self, now: datetime | None = None) -> list[Due]:
        """The sources due at ``now``: a relist when its relist is due (it covers the poll), else a poll."""
        now = utc_now(now)
        out = []
        for st in sorted(self.states.values(), key=lambda s: s.source_id):
            if st.next_relist <= now:
                out.append(Due(st, "relist"))
            elif st.next_poll <= now:
                out.append(Due(st, "poll"))
        return out

    def next_due(self) -> datetime | None:
        """The earliest time any source is due (None: nothing watched)."""
        times = [min(s.next_poll, s.next_relist) for s in self.states.values()]
        return min(times) if times else None

    def run_due(self, store: Catalogue, now: datetime | None = None,
                confirm_after: timedelta | None = None) -> list[SourceListing]:
        """Poll or relist every source due at ``now`` and move its due times on.

        Arguments: store — the catalogue; now — the clock; confirm_after — the relist's removal confirmation
        interval (``relist_sources``'s default when None).
        Returns: one ``SourceListing`` per source looked at; ``new`` holds the uploads not yet archived.
        """
        now = utc_now(now)
        out = []
        for d in self.due(now):
            st = d.state
            if d.what == "poll" and st.feed_url:
                lst = self.poll_feed(store, st, now)
                if lst.error is None:
                    st.next_poll = now + st.rule.poll
                    out.append(lst)
                    continue
                # The feed failed this round: yt-dlp's listing stands in, so nothing new is missed.
                fallback = self._relist(store, st, now, confirm_after)
                fallback.error = "; ".join(e for e in (lst.error, fallback.error) if e)
                fallback.outcome = f"feed failed, {fallback.outcome}"
                out.append(fallback)
            else:
                out.append(self._relist(store, st, now, confirm_after))
                if d.what == "relist":
                    st.next_relist = now + st.rule.relist
            st.next_poll = now + st.rule.poll
        return out

    def _relist(self, store: Catalogue, st: SourceState, now: datetime, confirm_after: timedelta | None) -> SourceListing:
        kw: dict[str, Any] = {"now": now, "source_ids": [st.source_id], "discover_fn": self.discover_fn}
        if confirm_after is not None:
            kw["confirm_after"] = confirm_after
        [lst] = relist_sources(store, **kw)
        return lst

    def poll_feed(self, store: Catalogue, st: SourceState, now: datetime | None = None) -> SourceListing:
        """Read the source's feed once; what it lists and the archive lacks comes back as ``new``.

        A feed that fails keeps ``st.listing`` (the last good one) and sets ``error`` to one line.
        Returns: a ``SourceListing`` with ``outcome`` ``polled`` (or ``feed-failed``).
        """
        now = utc_now(now)
        lst = SourceListing(source_id=st.source_id, url=st.url, kind="feed", title=st.title, outcome="polled")
        assert st.feed_url is not None
        ex = self.fetch_feed(st.feed_url)
        try:
            if ex.status is None:
                raise FeedError(f"the feed did not answer ({ex.error})")
            if ex.status != 200:
                raise FeedError(f"the feed answered HTTP {ex.status}")
            if ex.body_bytes >= MAX_BODY:
                raise FeedError(f"the feed is larger than {MAX_BODY // (1024 * 1024)} MB: refused")
            entries = parse_feed(ex.body, ex.final_url or st.feed_url)
        except FeedError as exc:
            lst.error = st.last_error = f"{st.feed_url}: {exc}; the previous listing ({len(st.listing)} entries) is kept"
            lst.outcome = "feed-failed"
            lst.listed = len(st.listing)
            return lst
        st.listing, st.listed_at, st.last_error = entries, now, None
        lst.listed = len(entries)
        known = known_urls(store)
        seen: set[str] = set()
        for e in entries:
            clean = unsmuggle_url(e.url)[0]
            if clean in known or e.url in known or clean in seen:
                continue
            seen.add(clean)
            lst.new.append(VideoRef(e.url, st.url, e.title, False))
        return lst
