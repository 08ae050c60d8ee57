"""Capture in time (issue 23 item 3): per-channel poll intervals from the registry, the cheap feed poll with yt-dlp's
listing as the fallback, due-time scheduling, and hostile or broken feeds; the watch loop on the loopback site with a
channel feed (an injectable clock for a 60 s interval, and one real-time run of a 5 s interval)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page

from pipeline.demo.loopback import Route, atom_feed, front_page, rss_feed
from pipeline.errors import ConfigError
from pipeline.preservation import monitor
from pipeline.preservation.watching import Watcher, load_watch_rules, parse_duration
from pipeline.sources.feed import FeedError, feed_url_for, parse_feed

T0 = datetime(2030, 1, 6, 12, 0, tzinfo=timezone.utc)
SEC = timedelta(seconds=1)
CLIPS = [("evening-bulletin", "Evening News Bulletin"), ("ministry-statement", "Statement of the Foreign Ministry")]


class Channel:
    """A channel on the loopback site: watch pages, an RSS listing (what yt-dlp lists) and a YouTube-style Atom
    feed (what the monitor polls)."""

    def __init__(self, server, clips=CLIPS):
        self.server, self.items = server, []
        server.routes["/"] = Route(body=front_page("Sample TV"))
        for name, title in clips:
            self.publish(name, title)

    def publish(self, name: str, title: str, media: str = "evening-bulletin") -> str:
        url = publish_page(self.server, name, SAMPLES / f"{media}.mp4", title, channel="Sample TV",
                           upload_date="2030-01-06")
        self.items.insert(0, {"title": title, "link": url, "guid": name})
        self.server.routes["/feed.xml"] = Route(body=rss_feed("Sample TV", self.items), content_type="application/rss+xml")
        self.server.routes["/feeds/videos.xml"] = Route(body=atom_feed("Sample TV", self.items), content_type="application/atom+xml")
        return url

    @property
    def listing_url(self) -> str:
        return self.server.url("/feed.xml")

    @property
    def feed_url(self) -> str:
        return self.server.url("/feeds/videos.xml")


def registry(tmp_path: Path, server, poll: str = "60s", relist: str = "6h", extra: str = "") -> Path:
    p = tmp_path / "channels.toml"
    p.write_text(f'version = "t"\n[watch]\npoll = "1h"\nrelist = "6h"\n{extra}\n'
                 f'[[channel]]\nname = "Sample TV"\nkind = "state-media"\nurls = ["{server.base_url}"]\n'
                 f'poll = "{poll}"\nrelist = "{relist}"\nfeed = "{server.url("/feeds/videos.xml")}"\n', encoding="utf-8")
    return p


# -- intervals ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("15m", 900), ("6h", 21600), ("90s", 90), ("1d", 86400), ("1h30m", 5400),
                                           (" 2 h ", 7200), ("0.5h", 1800)])
def test_durations(text, seconds):
    assert parse_duration(text, "poll") == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["15x", "", "fast", "15", "-5m", "0s", 15, "15m later"])
def test_bad_durations_say_what_to_write(bad):
    with pytest.raises(ConfigError, match=r'"15m"'):
        parse_duration(bad, "channel 'X': poll")


def test_registry_intervals_per_channel_and_default(tmp_path, server):
    rules = load_watch_rules(registry(tmp_path, server, poll="15m", relist="2h"))
    assert (rules.default.poll, rules.default.relist) == (timedelta(hours=1), timedelta(hours=6))
    mine = rules.rule_for(server.url("/feed.xml"))
    assert (mine.poll, mine.relist, mine.channel) == (timedelta(minutes=15), timedelta(hours=2), "Sample TV")
    assert rules.rule_for("https://example.org/channel/x") == rules.default
    shipped = load_watch_rules()  # the shipped registry parses and carries its defaults
    assert shipped.default.poll <= shipped.default.relist


@pytest.mark.parametrize("entry, words", [('poll = "15x"', "not a duration"), ('poll = "2h"\nrelist = "1h"', "relist"),
                                          ('feed = "file:///etc/passwd"', r"not an http\(s\) URL")])
def test_bad_registry_entries_are_one_line_errors_naming_the_channel(tmp_path, entry, words):
    p = tmp_path / "channels.toml"
    p.write_text(f'version = "t"\n[[channel]]\nname = "Bad TV"\nurls = ["bad.example"]\n{entry}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=words) as info:
        load_watch_rules(p)
    assert "'Bad TV'" in str(info.value) and "\n" not in str(info.value)


# -- feeds -------------------------------------------------------------------------------------------------------

YT_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/"
      xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id=UCabcdefghijklmnopqrstuv"/>
 <id>yt:channel:abcdefghijklmnopqrstuv</id><yt:channelId>abcdefghijklmnopqrstuv</yt:channelId>
 <title>Some Channel</title>
 <entry><id>yt:video:AAAAAAAAAAA</id><yt:videoId>AAAAAAAAAAA</yt:videoId>
  <title>New upload \xec\xa1\xb0\xec\x84\xa0</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=AAAAAAAAAAA"/>
  <published>2030-01-06T11:00:00+00:00</published></entry>
 <entry><id>yt:video:BBBBBBBBBBB</id><yt:videoId>BBBBBBBBBBB</yt:videoId><title>No link</title>
  <published>2030-01-05T11:00:00+00:00</published></entry>
 <entry><id>x</id><title>script</title><link href="javascript:alert(1)"/></entry>
</feed>"""


def test_youtube_feed_is_read_with_its_video_ids():
    entries = parse_feed(YT_FEED)
    assert [(e.url, e.video_id) for e in entries] == [
        ("https://www.youtube.com/watch?v=AAAAAAAAAAA", "AAAAAAAAAAA"),
        ("https://www.youtube.com/watch?v=BBBBBBBBBBB", "BBBBBBBBBBB")]
    assert entries[0].title == "New upload 조선" and entries[0].published == "2030-01-06T11:00:00+00:00"


def test_feed_url_from_the_channel_url_or_the_registry():
    cid = "UCabcdefghijklmnopqrstuv"
    feed = f"https://www.youtube.com/feeds/videos.xml?channel_id={cid}"
    assert feed_url_for(f"https://www.youtube.com/channel/{cid}/videos") == feed
    assert feed_url_for("https://www.youtube.com/@sometv", [cid]) == feed
    assert feed_url_for("https://www.youtube.com/@sometv") is None       # no id known: yt-dlp lists it
    assert feed_url_for("https://example.org/channel/x") is None
    assert feed_url_for("https://example.org/x", explicit="https://example.org/x.atom") == "https://example.org/x.atom"


BOMB = (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><feed xmlns="http://www.w3.org/2005/Atom"><title>&c;</title></feed>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&x;</title></feed>')


@pytest.mark.parametrize("body, words", [
    (b"<feed><entry>", "not well-formed"), (b"", "not well-formed"), (b"\x00\xff garbage", "not well-formed"),
    (BOMB, "DTD"), (XXE, "DTD"), (b"<html><body>Sign in</body></html>", "not an Atom or RSS feed"),
    (atom_feed("Big", [{"title": f"v{i}", "link": f"http://x/{i}", "guid": str(i)} for i in range(10_000)]), "10,000 entries"),
])
def test_broken_or_hostile_feeds_are_refused_in_one_line(body, words):
    with pytest.raises(FeedError, match=words) as info:
        parse_feed(body)
    assert "\n" not in str(info.value)


# -- the watcher on the loopback site -----------------------------------------------------------------------------

def test_feed_poll_finds_only_what_is_new_and_does_not_list_with_ytdlp(tmp_path, server, store, archive):
    ch = Channel(server)
    w = Watcher(load_watch_rules(registry(tmp_path, server)))
    sid, _ = monitor.watch_source(store, ch.listing_url)
    w.sync(store, T0)
    st = w.states[sid]
    assert (st.feed_url, st.rule.poll) == (ch.feed_url, timedelta(seconds=60))
    [first] = w.run_due(store, T0)   # never listed: a full relist first
    assert first.kind == "playlist" and len(first.new) == 2
    assert w.next_due() == T0 + 60 * SEC and w.due(T0 + 59 * SEC) == []
    ch.publish("breaking", "Breaking News")
    server.requests.clear()
    [polled] = w.run_due(store, T0 + 60 * SEC)
    assert polled.outcome == "polled" and polled.listed == 3
    assert [r.title for r in polled.new] == ["Breaking News", "Statement of the Foreign Ministry", "Evening News Bulletin"]
    assert server.requests == ["GET /feeds/videos.xml"]     # one small request; yt-dlp never ran
    assert [d.what for d in w.due(T0 + 6 * 3600 * SEC)] == ["relist"]


@pytest.mark.parametrize("body, words", [
    (b"<feed", "not well-formed"),
    (atom_feed("Big", [{"title": f"v{i}", "link": f"http://127.0.0.1/{i}", "guid": str(i)} for i in range(10_000)]),
     "10,000 entries"),
])
def test_a_broken_feed_keeps_the_previous_listing_and_falls_back_to_ytdlp(tmp_path, server, store, body, words):
    ch = Channel(server)
    w = Watcher(load_watch_rules(registry(tmp_path, server)))
    sid, _ = monitor.watch_source(store, ch.listing_url)
    w.sync(store, T0)
    w.run_due(store, T0)
    [ok] = w.run_due(store, T0 + 60 * SEC)
    assert ok.outcome == "polled" and len(w.states[sid].listing) == 2
    ch.publish("breaking", "Breaking News")
    server.routes["/feeds/videos.xml"] = Route(body=body, content_type="application/atom+xml")
    [bad] = w.run_due(store, T0 + 120 * SEC)
    assert words in bad.error and "previous listing (2 entries) is kept" in bad.error and "\n" not in bad.error
    assert [e.title for e in w.states[sid].listing] == ["Statement of the Foreign Ministry", "Evening News Bulletin"]
    # yt-dlp's listing stood in for the feed: the new upload is not missed
    assert bad.outcome.startswith("feed failed") and "Breaking News" in [r.title for r in bad.new]
    assert w.next_due() == T0 + 180 * SEC


def test_a_source_without_a_feed_is_polled_with_ytdlp_at_its_interval(tmp_path, server, store):
    ch = Channel(server)
    p = tmp_path / "channels.toml"
    p.write_text('version = "t"\n[watch]\npoll = "10m"\nrelist = "6h"\n', encoding="utf-8")
    w = Watcher(load_watch_rules(p))
    sid, _ = monitor.watch_source(store, ch.listing_url)
    w.sync(store, T0)
    assert w.states[sid].feed_url is None
    w.run_due(store, T0)
    ch.publish("breaking", "Breaking News")
    [lst] = w.run_due(store, T0 + 10 * 60 * SEC)
    assert lst.kind == "playlist" and [r.title for r in lst.new][0] == "Breaking News"


def test_each_channel_is_due_at_its_own_interval(tmp_path, server, store):
    """Two channels, 60 s and the 1 h default: each is looked at when it is due, not on one shared beat."""
    from pipeline.demo.loopback import LoopbackServer

    fast = Channel(server)
    with LoopbackServer() as other:
        slow = Channel(other, clips=CLIPS[:1])
        w = Watcher(load_watch_rules(registry(tmp_path, server)))
        a, _ = monitor.watch_source(store, fast.listing_url)
        b, _ = monitor.watch_source(store, slow.listing_url)
        w.sync(store, T0)
        assert (w.states[a].rule.poll, w.states[b].rule.poll) == (timedelta(seconds=60), timedelta(hours=1))
        assert w.states[b].feed_url is None             # no feed known for it: yt-dlp lists it
        assert {lst.source_id for lst in w.run_due(store, T0)} == {a, b}
        seen = []
        t = T0
        while t < T0 + timedelta(hours=1):
            t = w.next_due()
            seen.append((int((t - T0).total_seconds()), sorted(lst.source_id for lst in w.run_due(store, t))))
        assert seen[:3] == [(60, [a]), (120, [a]), (180, [a])]
        assert seen[-1] == (3600, [a, b]) and len(seen) == 60


# -- the loop, through the ingest flow -----------------------------------------------------------------------------

def test_video_published_after_the_watch_starts_is_archived_within_its_60s_interval(
        prefect_harness, tmp_path, server, settings, store, monkeypatch):
    """A 60 s poll on a moved clock: the loop wakes at each source's due time, finds the upload in the feed and
    archives it through the ingest flow in the first round after it was published."""
    from flows.watch import watch_loop

    ch = Channel(server)
    monkeypatch.setenv("CLIPWATCH_CHANNELS", str(registry(tmp_path, server)))
    monitor.watch_source(store, ch.listing_url)
    clock = [T0]
    published: dict[str, datetime] = {}
    rounds = []

    def sleep(seconds):
        if clock[0] < T0 + 25 * SEC <= clock[0] + timedelta(seconds=seconds):
            ch.publish("breaking", "Breaking News")   # published while the loop sleeps
            published["breaking"] = T0 + 25 * SEC
        clock[0] += timedelta(seconds=seconds)

    watch_loop(str(settings.data_dir), analyse_new=False, check=False, max_rounds=3, clock=lambda: clock[0],
               sleep=sleep, on_round=rounds.append)
    assert [r.at for r in rounds] == [T0, T0 + 60 * SEC, T0 + 120 * SEC]     # due times, not one global sleep
    assert sorted(v.title for v in rounds[0].ingested) == ["Evening News Bulletin", "Statement of the Foreign Ministry"]
    [new] = rounds[1].ingested
    assert new.title == "Breaking News" and new.status == "ok"
    assert rounds[1].sources[0]["outcome"] == "polled"
    assert rounds[1].at - published["breaking"] <= timedelta(seconds=60)   # within the poll interval (+ ingest)
    assert rounds[2].ingested == []
    assert store.find_video(new.video_id)["source_id"] is not None


def test_real_time_capture_delay_with_a_5s_poll(prefect_harness, tmp_path, server, settings, store, monkeypatch):
    """The real clock and the real sleep: publish while the loop runs, measure publish → archived (for the note)."""
    from flows.watch import watch_loop

    ch = Channel(server, clips=CLIPS[:1])
    monkeypatch.setenv("CLIPWATCH_CHANNELS", str(registry(tmp_path, server, poll="5s", relist="1h")))
    monitor.watch_source(store, ch.listing_url)
    rounds, at = [], {}

    def publish_later():
        time.sleep(2.0)   # the loop is asleep until its next due time
        ch.publish("breaking", "Breaking News")
        at["published"] = time.monotonic()

    def on_round(r):
        rounds.append(r)
        if len(rounds) == 1:
            threading.Thread(target=publish_later, daemon=True).start()
        if any(v.title == "Breaking News" for v in r.ingested):
            at["archived"] = time.monotonic()

    watch_loop(str(settings.data_dir), analyse_new=False, check=False, max_rounds=6, on_round=on_round,
               until=lambda: "archived" in at)
    assert "archived" in at, [r.sources for r in rounds]
    delay = at["archived"] - at["published"]
    took = next(r.seconds for r in rounds if any(v.title == "Breaking News" for v in r.ingested))
    print(f"\ncapture delay, 5 s poll, real clock: {delay:.2f} s from publish to archived "
          f"(the capturing round took {took:.2f} s: feed poll + fetch + record)")
    assert delay <= 5 + took + 1.0   # the interval plus the ingest time (and a second of scheduling slack)
