"""Atom feeds on the web UI (issue 23 item 3): /feeds/removals.atom carries a removal only once the monitor's
two-check confirmation recorded it (never an outage), a reappearance and a retraction; /feeds/changes.atom carries
metadata changes and new captures; both filter by ?channel=, parse with a strict parser and hold the elements Atom 1.0
requires; entry ids are stable tag: URIs, hostile titles cannot break the XML."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import defusedxml.ElementTree as SafeET
import pytest
from conftest import SAMPLES, publish_page
from fastapi.testclient import TestClient

from pipeline.demo.loopback import Route, front_page
from pipeline.preservation import monitor, removals
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.web import create_app

T0 = datetime(2030, 1, 6, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def atom(body: bytes) -> list[dict]:
    """Parse strictly (no DTD, no entities) and check what RFC 4287 requires; the entries as dicts."""
    root = SafeET.fromstring(body, forbid_dtd=True)
    assert root.tag == f"{A}feed"
    for req in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{req}")) == 1, req
    assert RFC3339.match(root.findtext(f"{A}updated"))
    assert root.find(f"{A}author/{A}name") is not None   # the feed's author stands for every entry's
    assert [ln.get("rel") for ln in root.findall(f"{A}link")].count("self") == 1
    out = []
    for e in root.findall(f"{A}entry"):
        for req in ("id", "title", "updated"):
            assert len(e.findall(f"{A}{req}")) == 1, req
        assert RFC3339.match(e.findtext(f"{A}updated"))
        assert re.match(r"^[a-z][a-z0-9+.-]*:", e.findtext(f"{A}id"))    # an IRI
        alt = [ln for ln in e.findall(f"{A}link") if ln.get("rel", "alternate") == "alternate"]
        assert alt and e.find(f"{A}content") is None   # no content: an alternate link is required (and present)
        out.append({"id": e.findtext(f"{A}id"), "title": e.findtext(f"{A}title"), "updated": e.findtext(f"{A}updated"),
                    "link": alt[0].get("href"), "summary": e.findtext(f"{A}summary"),
                    "kind": e.find(f"{A}category").get("term")})
    assert len({e["id"] for e in out}) == len(out)
    return out


@pytest.fixture
def site(server):
    server.routes["/"] = Route(body=front_page("Sample TV"))
    return server


def _archive(server, store, archive, name: str, title: str, channel: str = "Sample TV") -> str:
    url = publish_page(server, name, SAMPLES / "evening-bulletin.mp4", title, description="The evening news.",
                       upload_date="2019-04-15", channel=channel)
    return record_fetch(store, archive, fetch(url, archive), None).video_id


@pytest.fixture
def web(settings):
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def feed(web, name: str, **params) -> list[dict]:
    r = web.get(f"/feeds/{name}.atom", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    return atom(r.content)


def test_a_removal_reaches_the_feed_only_after_the_two_check_confirmation(site, store, archive, web):
    vid = _archive(site, store, archive, "bulletin", "Evening News Bulletin")
    _archive(site, store, archive, "other", "Weather", channel="Other TV")
    assert monitor.check_video(store, archive, vid, now=T0).outcome == "available"
    assert feed(web, "removals") == []
    site.routes["/watch/bulletin.html"] = Route(body=b"<h1>gone</h1>", status=410)
    assert monitor.check_video(store, archive, vid, now=T0 + HOUR).outcome == "suspect"
    assert feed(web, "removals") == []                         # one failed check is not a removal
    assert monitor.check_video(store, archive, vid, now=T0 + 2 * HOUR).outcome == "removed"
    [entry] = feed(web, "removals")
    assert entry["title"] == "Removed (unavailable-unknown): Evening News Bulletin"
    [ev] = store.events_of_kinds(("removed",))
    assert entry["updated"] == ev["at"] and entry["id"] == f"tag:clipwatch,2026:event:{ev['hash']}"   # the event's
    assert entry["link"] == f"http://127.0.0.1/videos/{vid}" and entry["id"].startswith("tag:clipwatch,2026:event:")
    assert "HTTP Error 410: Gone" in entry["summary"]
    assert feed(web, "removals")[0]["id"] == entry["id"]      # stable across requests
    assert feed(web, "removals", channel="Sample TV") == [entry]
    assert feed(web, "removals", channel="Other TV") == []

    site.routes["/watch/bulletin.html"] = Route(body=site.routes["/watch/other.html"].body.replace(b"Weather", b"Evening News Bulletin"))
    assert monitor.check_video(store, archive, vid, now=T0 + 3 * HOUR).outcome == "reappeared"
    removals.retract(store, vid, "the platform's CDN failed; the video never left", now=T0 + 4 * HOUR)
    kinds = [e["kind"] for e in feed(web, "removals")]
    assert kinds == ["retracted", "reappeared", "removed"]         # newest first
    assert "the platform's CDN failed" in feed(web, "removals")[0]["summary"]


def test_a_host_outage_never_reaches_the_removals_feed(site, store, archive, web):
    ids = [_archive(site, store, archive, f"v{i}", f"Bulletin {i}") for i in range(4)]
    monitor.check_due(store, archive, now=T0)
    site.everywhere = Route(body=b"<h1>404 Not Found</h1>", status=404)   # the whole site, front page too
    for minutes in (60, 150, 240):
        for vid in ids:
            store.set_video_fields(vid, last_checked_at=None)
        monitor.check_due(store, archive, now=T0 + timedelta(minutes=minutes))
    assert store.events_of_kinds(("host-outage",)) and not store.events_of_kinds(("removed",))
    assert feed(web, "removals") == []


def test_changes_feed_has_captures_and_metadata_changes(site, store, archive, web):
    vid = _archive(site, store, archive, "bulletin", "Evening News Bulletin")
    monitor.check_video(store, archive, vid, now=T0)
    publish_page(site, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin (edited)",
                 description="The evening news.", upload_date="2019-04-15", channel="Sample TV")
    assert monitor.check_video(store, archive, vid, now=T0 + 7 * HOUR).metadata_changed
    entries = feed(web, "changes")
    assert [e["kind"] for e in entries] == ["metadata-changed", "fetched"]
    assert entries[0]["title"] == "Changed (title): Evening News Bulletin (edited)"
    assert "Evening News Bulletin → Evening News Bulletin (edited)" in entries[0]["summary"]
    assert entries[1]["title"] == "Archived: Evening News Bulletin (edited)"   # the video as it is called now
    assert feed(web, "changes", channel="Nobody") == []


def test_hostile_titles_cannot_break_the_feed(site, store, archive, web):
    hostile = "\x1b[2J\x1b]0;pwned\x07 line1\r\nline2 \x00 ☢️😀 ../../etc/passwd <b>&amp;</b> \ufffe"
    vid = _archive(site, store, archive, "bulletin", "Evening News Bulletin")
    store.set_video_fields(vid, title=hostile, channel=hostile)
    [entry] = feed(web, "changes")
    assert "😀" in entry["title"] and "../../etc/passwd <b>&amp;</b>" in entry["title"]
    assert "\x1b" not in entry["title"] and "\x00" not in entry["title"] and "\ufffd" in entry["title"]
    assert "line1 line2" in entry["title"]                          # one line: CR/LF do not fake a second
    assert feed(web, "changes", channel=hostile)[0]["id"] == entry["id"]
    r = web.get("/feeds/changes.atom", params={"channel": "x" * 600})
    assert r.status_code == 422                                   # a 4xx, never a 500


def test_removed_page_links_its_feeds(web):
    page = web.get("/removed").text
    assert '<link rel="alternate" type="application/atom+xml" title="clipwatch · Removals" href="/feeds/removals.atom">' in page
    assert 'href="/feeds/changes.atom"' in page


def test_feeds_on_postgresql(site, data_dir, archive, pg, monkeypatch):
    """The same removal, the same feed, on PostgreSQL (the feeds read only the Catalogue contract)."""
    import uuid

    from pipeline.config import Settings
    from pipeline.storage.base import catalogue_for

    monkeypatch.setenv("CLIPWATCH_DATABASE_URL", pg.create_database(f"f_{uuid.uuid4().hex[:10]}"))
    s = Settings(data_dir=data_dir)
    with catalogue_for(s) as pgc:
        assert pgc.backend == "postgresql"
        vid = _archive(site, pgc, archive, "bulletin", "Evening News Bulletin")
        monitor.check_video(pgc, archive, vid, now=T0)
        site.routes["/watch/bulletin.html"] = Route(body=b"<h1>gone</h1>", status=404)
        monitor.check_video(pgc, archive, vid, now=T0 + HOUR)
        with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
            assert feed(client, "removals") == []
            assert monitor.check_video(pgc, archive, vid, now=T0 + 2 * HOUR).outcome == "removed"
            [entry] = feed(client, "removals", channel="Sample TV")
            [ev] = pgc.events_of_kinds(("removed",))
            assert entry["id"] == f"tag:clipwatch,2026:event:{ev['hash']}" and entry["link"].endswith(f"/videos/{vid}")
            assert [e["kind"] for e in feed(client, "changes")] == ["fetched"]
    assert not s.db_path.exists()
