"""Removals you can cite (issue 22): an outage is never recorded as a takedown, every removal is kept in the
platform's own words with the HTTP exchange, a false removal is withdrawn by a retraction shown wherever the
removal is shown, and nothing a platform sends can drive the archivist's terminal.

The monitor's clock is moved as in tests/preservation/test_monitor.py; the site is the loopback site, answering whatever each
case needs (a whole-site 404, a bot check with status 404, a 410 in the platform's words, 200 removal pages).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

from pipeline.demo.loopback import Route, bot_check_page, cdn_error_page, front_page, removal_page, watch_page
from pipeline.domain import VideoRecord
from pipeline.preservation import monitor
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch

T0 = datetime(2030, 1, 6, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
ESC = "\x1b"


@pytest.fixture
def site(server):
    """The loopback site with a front page of its own (the site is up)."""
    server.routes["/"] = Route(body=front_page("Sample TV"))
    return server


def _archive(server, store, archive, name: str, title: str = "Evening News Bulletin") -> str:
    url = publish_page(server, name, SAMPLES / "evening-bulletin.mp4", title, description="The evening news.",
                       upload_date="2019-04-15", channel="Sample TV")
    return record_fetch(store, archive, fetch(url, archive), None).video_id


@pytest.fixture
def video(site, store, archive):
    return _archive(site, store, archive, "bulletin")


def events_of(store, vid, kind):
    return [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == kind]


def all_events(store, kind):
    return [json.loads(e["detail"]) for e in store.events() if e["kind"] == kind]


# -- 1. outages are not removals ---------------------------------------------------------------------------------

def test_whole_site_answering_404_for_90_minutes_front_page_too_is_no_removal(video, site, store, archive):
    site.everywhere = Route(body=b"<h1>404 Not Found</h1>", status=404)
    outcomes = [monitor.check_video(store, archive, video, now=T0 + n * 45 * timedelta(minutes=1)).outcome
                for n in range(3)]                                              # 0, 45 and 90 minutes
    assert outcomes == ["transient"] * 3
    two_hours = monitor.check_video(store, archive, video, now=T0 + 2 * HOUR)
    assert two_hours.outcome == "transient" and "front page" in two_hours.message
    row = store.get_video(video)
    assert (row["status"], row["failed_checks"]) == ("available", 0)
    assert events_of(store, video, "removed") == []
    site.everywhere = None
    assert monitor.check_video(store, archive, video, now=T0 + 3 * HOUR).outcome == "available"


@pytest.mark.parametrize("page, status", [(bot_check_page(), 404), (bot_check_page(), 200), (bot_check_page(), 403),
                                          (cdn_error_page(404), 404)],
                         ids=["bot-check-404", "bot-check-200", "bot-check-403", "cdn-error-404"])
def test_bot_check_or_cdn_page_with_any_status_is_never_a_removal(video, site, store, archive, page, status):
    site.routes["/watch/bulletin.html"] = Route(body=page, status=status)
    for n in range(3):
        res = monitor.check_video(store, archive, video, now=T0 + n * 2 * HOUR)
        assert res.outcome == "transient", res
        assert "not the site's own page" in res.message
    row = store.get_video(video)
    assert (row["status"], row["failed_checks"]) == ("available", 0)
    assert events_of(store, video, "removed") == []


def test_a_bot_check_in_front_of_the_whole_site_front_page_too_is_not_up(site):
    from pipeline.sources.pages import front_page_serving

    assert front_page_serving(site.url("/watch/x.html")) is not None
    site.everywhere = Route(body=bot_check_page(), status=200)
    assert front_page_serving(site.url("/watch/x.html")) is None
    assert monitor.site_reachable(site.url("/x")) is False


def _fake_videos(store, server, n: int) -> list[str]:
    """n archived videos on the loopback host (catalogue rows: the check asks the site, never the media)."""
    ids = []
    for i in range(n):
        vid = f"v{i:03d}"
        url = server.url(f"/watch/{vid}.html")
        server.routes[f"/watch/{vid}.html"] = Route(body=watch_page(f"Clip {i}", "desc", server.url(f"/media/{vid}.mp4")))
        store.upsert_video(VideoRecord(id=vid, extractor="generic", platform_id=vid, webpage_url=url, source_url=url,
                                       title=f"Clip {i}", description="desc", upload_date="2019-01-01"), f"videos/{vid}")
        ids.append(vid)
    return ids


def _extract_by_http(url: str) -> dict:
    """The watch page's metadata, failing as yt-dlp's generic extractor does (HTTP Error N) — the real yt-dlp is
    exercised by the single-video tests; a hundred videos a round would only make this test slow."""
    import urllib.error
    import urllib.request

    from pipeline.errors import VideoUnavailable
    from pipeline.sources.ytdlp import classify_message

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        kind, reason = classify_message(f"ERROR: [generic] x: Unable to download webpage: HTTP Error {exc.code}: {exc.reason}")
        raise VideoUnavailable(f"{url}: {reason}", reason=reason, kind=kind) from None
    if b"VideoObject" not in body:
        from pipeline.errors import SourceError

        raise SourceError(f"{url}: no video found there (yt-dlp: unsupported URL)")
    ld = json.loads(body.split(b"application/ld+json'>", 1)[1].split(b"</script>", 1)[0])
    return {"id": url, "title": ld["name"], "description": ld["description"], "webpage_url": url, "extractor": "generic"}


def test_host_with_100_videos_all_failing_for_90_minutes_is_one_host_outage_and_no_removal(site, store, archive):
    ids = _fake_videos(store, site, 100)
    kw = dict(extract=_extract_by_http)
    round0 = monitor.check_due(store, archive, now=T0, **kw)
    assert {r.outcome for r in round0} == {"available"} and len(round0) == 100

    site.everywhere = Route(body=b"<h1>404 Not Found</h1>", status=404)
    schedule = monitor.Schedule(confirm_after=timedelta(minutes=30))
    outcomes = []
    for minutes in (10, 40, 70, 100):   # four rounds across 90 minutes of outage, each checking every video
        for vid in ids:   # due or not: every video is asked every round (the worst case for false removals)
            store.set_video_fields(vid, last_checked_at=None)
        res = monitor.check_due(store, archive, now=T0 + timedelta(minutes=minutes), schedule=schedule, **kw)
        assert len(res) == 100
        outcomes.append({r.outcome for r in res})
    assert outcomes == [{"host-outage"}] * 4
    assert all_events(store, "removed") == []
    [outage] = all_events(store, "host-outage")
    assert outage["host"] == site.base_url.split("//")[1] and outage["failed"] == 100 and outage["answered"] == 0
    assert store.status_counts() == {"available": 100}
    assert store.suspect_count() == 0

    site.everywhere = None                    # the host answers normally again
    for vid in ids:
        store.set_video_fields(vid, last_checked_at=None)
    back = monitor.check_due(store, archive, now=T0 + 3 * HOUR, schedule=schedule, **kw)
    assert {r.outcome for r in back} == {"available"}
    [recovered] = all_events(store, "host-recovered")
    assert recovered["since"] == "2030-01-06T12:10:00Z"
    assert store.chain_report().ok


def test_removal_counts_only_while_the_host_serves_other_videos(site, store, archive):
    _fake_videos(store, site, 5)
    kw = dict(extract=_extract_by_http)
    schedule = monitor.Schedule(confirm_after=HOUR)
    # The front page is down, but four other videos of the host answer: the host demonstrably serves.
    site.routes["/"] = Route(body=b"down", status=503)
    site.routes["/watch/v002.html"] = Route(body=removal_page("Sample TV", "This video has been removed by the uploader."),
                                            status=404)
    first = {r.video_id: r for r in monitor.check_due(store, archive, now=T0, schedule=schedule, **kw)}
    assert first["v002"].outcome == "suspect" and first["v000"].outcome == "available"
    second = {r.video_id: r for r in monitor.check_due(store, archive, now=T0 + HOUR, schedule=schedule, **kw)}
    assert second["v002"].outcome == "removed"
    [ev] = events_of(store, "v002", "removed")
    assert ev["kind"] == "removed-by-uploader" and ev["reason"] == "This video has been removed by the uploader."
    # Only v002 was due: two other videos of the host were asked as witnesses, and answered.
    assert set(second) == {"v002", "v000", "v001"} or len(second) == 3
    assert ev["host_evidence"]["how"] == "other-videos" and ev["host_evidence"]["answered"] == 2
    assert "v002" not in ev["host_evidence"]["videos"]


# -- 2. the platform's words, with the exchange ------------------------------------------------------------------

MINISTRY = "This video has been removed following a complaint by the Ministry of Culture."


def test_410_page_in_the_platforms_words_is_kept_verbatim_with_the_exchange(video, site, store, archive):
    body = removal_page("Sample TV", MINISTRY, extra="<p>Reference: MC-2030-0117</p>")
    site.routes["/watch/bulletin.html"] = Route(body=body, status=410)
    assert monitor.check_video(store, archive, video, now=T0).outcome == "suspect"
    res = monitor.check_video(store, archive, video, now=T0 + 2 * HOUR)
    assert (res.outcome, res.kind) == ("removed", "removed-by-platform")
    assert res.reason.startswith(MINISTRY) and "HTTP Error" not in res.reason
    [ev] = events_of(store, video, "removed")
    assert ev["reason"] == MINISTRY + "\nReference: MC-2030-0117"
    assert (ev["words_from"], ev["language"]) == ("page", "en")
    assert ev["platform_message"] == "HTTP Error 410: Gone"
    assert ev["page"]["status"] == 410 and ev["page"]["url"].endswith("/watch/bulletin.html")
    assert ev["page"]["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert (archive.root / ev["page_file"]).read_bytes() == body       # the page as received, byte-exact
    assert ev["host_evidence"]["how"] == "front-page" and ev["host_evidence"]["status"] == 200
    assert store.get_video(video)["status_reason"] == ev["reason"]


# -- 3. removal pages that answer 200 ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, lang, kind", [
    ("This video has been removed.", "en", "unavailable-unknown"),
    ("비공개 동영상입니다. 이 동영상은 게시자에 의해 비공개로 설정되었습니다.", "ko", "private"),
    ("삭제된 동영상입니다.", "ko", "unavailable-unknown"),
], ids=["english", "korean-private", "korean-deleted"])
def test_removal_page_answering_200_is_a_removal_in_its_own_language(video, site, store, archive, text, lang, kind):
    site.routes["/watch/bulletin.html"] = Route(body=removal_page("Sample TV", text, lang=lang), status=200)
    first = monitor.check_video(store, archive, video, now=T0)
    assert first.outcome == "suspect", first
    res = monitor.check_video(store, archive, video, now=T0 + 2 * HOUR)
    assert (res.outcome, res.kind, res.reason) == ("removed", kind, text)
    [ev] = events_of(store, video, "removed")
    assert (ev["reason"], ev["language"], ev["words_from"], ev["page"]["status"]) == (text, lang, "page", 200)
    row = store.get_video(video)
    assert (row["status"], row["status_kind"], row["status_reason"]) == ("removed", kind, text)


def test_korean_removal_page_without_a_lang_attribute_is_noted_as_korean():
    from pipeline.sources.pages import PageExchange, read_page

    body = "<html><body><p>삭제된 동영상입니다.</p></body></html>".encode()
    r = read_page(PageExchange(url="http://x/", final_url="http://x/", status=200, body=body))
    assert (r.what, r.kind, r.words, r.language) == ("removal", "unavailable-unknown", "삭제된 동영상입니다.", "ko")


def test_a_page_that_is_neither_the_video_nor_a_removal_stays_transient_and_is_said(video, site, store, archive):
    site.routes["/watch/bulletin.html"] = Route(body=front_page("Sample TV"), status=200)
    res = monitor.check_video(store, archive, video, now=T0)
    assert res.outcome == "transient" and "not a statement about the video" in res.message


# -- retraction --------------------------------------------------------------------------------------------------

def _removed(video, site, store, archive):
    site.routes["/watch/bulletin.html"] = Route(body=removal_page("Sample TV", MINISTRY), status=410)
    monitor.check_video(store, archive, video, now=T0)
    assert monitor.check_video(store, archive, video, now=T0 + 2 * HOUR).outcome == "removed"


def test_retract_writes_an_event_that_says_why_and_shows_wherever_the_removal_is_shown(video, site, store, archive,
                                                                                      data_dir, settings):
    from starlette.testclient import TestClient

    from pipeline.cli.app import app
    from pipeline.web.app import create_app

    _removed(video, site, store, archive)
    runner = CliRunner()
    base = ["--data-dir", str(data_dir)]
    out = runner.invoke(app, base + ["monitor", "retract", video, "--why", ""])
    assert out.exit_code != 0 and "--why" in str(out.exception or out.output)   # main() prints it as one error line
    out = runner.invoke(app, base + ["monitor", "retract", video, "--why", "CDN outage on 6 Jan, confirmed by the platform", "--json"])
    assert out.exit_code == 0, out.output
    done = json.loads(out.stdout)
    assert done["status_restored"] and done["why"] == "CDN outage on 6 Jan, confirmed by the platform"
    kinds = [e["kind"] for e in store.events(video) if e["kind"] != "attested"]  # attested: the digests of issue 21
    assert kinds[-2:] == ["removed", "retracted"]                  # the removal stays in the chain
    assert store.get_video(video)["status"] == "available"
    assert store.chain_report().ok
    again = runner.invoke(app, base + ["monitor", "retract", video, "--why", "twice"])
    assert again.exit_code != 0 and "no removal to retract" in str(again.exception or again.output)

    show = runner.invoke(app, base + ["show", video])
    assert "RETRACTED" in show.output and "CDN outage on 6 Jan" in show.output and "Ministry of Culture" in show.output
    shown = json.loads(runner.invoke(app, base + ["show", video, "--json"]).stdout)
    assert shown["removals"][0]["retraction"]["why"].startswith("CDN outage")
    lst = runner.invoke(app, base + ["list"])
    assert "(removalretracted)" in re.sub(r"[\s│┃]", "", lst.output.replace("\n", ""))  # a folded table cell
    assert json.loads(runner.invoke(app, base + ["list", "--json"]).stdout)[0]["removal_retracted"] is True
    ev = runner.invoke(app, base + ["events", video])
    assert "RETRACTED" in ev.output and "CDN outage" in ev.output
    browse = json.loads(runner.invoke(app, base + ["browse", "removed", "--json"]).stdout)
    assert [(r["id"], r["status_kind"]) for r in browse] == [(video, "retracted")]
    assert "CDN outage" in browse[0]["retracted"]

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        page = client.get(f"/videos/{video}").text
        assert "Ministry of Culture" in page and "retracted" in page and "CDN outage on 6 Jan" in page
        removed = client.get("/removed").text
        assert video in removed and "CDN outage on 6 Jan" in removed
        api = client.get("/api/removed").json()
        assert api[0]["retracted"]["why"].startswith("CDN outage")


# -- 5. terminal injection ---------------------------------------------------------------------------------------

HOSTILE = "Bulletin\x1b[2J\x1b]0;pwned\x07\r\nFAKE: verified ok\x00 \u202egnp.exe\x9b31m"


def test_hostile_title_never_reaches_the_terminal_raw_and_json_stays_exact(video, site, store, archive, data_dir):
    from pipeline.cli.app import app

    store.set_video_fields(video, title="plain", channel="TV\x1b[31m")
    site.routes["/watch/bulletin.html"] = Route(body=watch_page(HOSTILE, "desc\x1b[2J\nline two", site.url("/media/bulletin.mp4"),
                                                                "2019-04-15", "Sample TV"))
    assert monitor.check_video(store, archive, video, now=T0).metadata_changed
    runner = CliRunner()
    base = ["--data-dir", str(data_dir)]
    for args in (["history", video], ["list"], ["show", video], ["events", video], ["browse", "recent"],
                 ["monitor", "list"]):
        out = runner.invoke(app, base + args)
        assert out.exit_code == 0, (args, out.output)
        text = out.output
        for bad in (ESC, "\x07", "\x00", "\r", "\u202e", "\x9b"):
            assert bad not in text, (args, repr(bad), text)
        if args[0] in ("history", "show", "events"):   # no faked line (tables may fold a long cell anywhere)
            assert not any(ln.lstrip().startswith("FAKE") for ln in text.splitlines()), text
    history = runner.invoke(app, base + ["history", video]).output
    assert "\\x1b[2J" in history and "\\r\\n" in history and "\\u202e" in history
    exact = json.loads(runner.invoke(app, base + ["history", video, "--json"]).stdout)
    assert exact["versions"][-1]["title"] == HOSTILE


def test_terminal_safe_shows_every_control_as_a_visible_escape():
    from rich.table import Table

    from pipeline.display import SafeConsole, safe_markup, terminal_safe

    assert terminal_safe("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert terminal_safe("a\r\nb\x00c\x7f\x85\u202e\u2066") == "a\\r\\nb\\x00c\\x7f\\x85\\u202e\\u2066"
    assert terminal_safe("tab\tand 한국어 stays") == "tab\tand 한국어 stays"
    assert terminal_safe("x\ny", keep_newlines=True) == "x\ny"
    assert safe_markup("[bold]x\x1b") == "\\[bold]x\\x1b"
    import io

    buf = io.StringIO()
    console = SafeConsole(file=buf, force_terminal=True, width=120)
    table = Table()
    table.add_column("title")
    table.add_row("raw\x1b]0;title\x07\x1b[2J")   # not escaped by the caller: the console's backstop
    console.print(table)
    console.print("[red]styled[/] ok")
    out = buf.getvalue()
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\x07" not in out
    assert "raw\\x1b]0;title" in out and "\\x1b[2J" in out   # (Rich itself drops the BEL)
    assert "\x1b[31m" in out                     # Rich's own styling still works


# -- 4. two machines, one record (PostgreSQL + moto S3, one process per "machine") --------------------------------

MACHINE = r"""
import json, sys
from datetime import datetime, timezone
from pipeline.config import Settings
from pipeline.storage.base import blob_store_for, catalogue_for

what, url, data = sys.argv[1], sys.argv[2], sys.argv[3]
s = Settings(data_dir=data)
s.ensure_dirs()
with catalogue_for(s) as cat:
    blobs = blob_store_for(s)
    if what in ("ingest", "ingest+keyframes"):
        from pipeline.sources.fetch import fetch
        from pipeline.stages.runner import record_fetch, run_keyframes
        out = record_fetch(cat, blobs, fetch(url, blobs), None)
        result = {"fetch": out.status, "message": out.message, "video_id": out.video_id}
        if what == "ingest+keyframes":
            result["keyframes"] = run_keyframes(cat, blobs, out.video_id).status
    elif what == "check":
        from pipeline.preservation import monitor
        vid = cat.video_ids()[0]
        res = monitor.check_video(cat, blobs, vid, now=datetime(2030, 1, 6, 12, tzinfo=timezone.utc))
        result = {"outcome": res.outcome, "metadata_changed": res.metadata_changed}
    print(json.dumps(result))
"""


def test_two_machines_ingesting_one_video_at_once_keep_one_record(server, pg, s3, tmp_path):
    import os
    import subprocess
    import sys
    import uuid

    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    bucket = f"clipwatch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    db = pg.create_database(f"two_{uuid.uuid4().hex[:10]}")
    PostgresCatalogue(db).close()   # the schema exists (two machines creating it at once: the test below)
    media = (SAMPLES / "evening-bulletin.mp4").read_bytes()
    server.routes["/"] = Route(body=front_page("Sample TV"))
    server.routes["/media/bulletin.mp4"] = Route(body=media, content_type="video/mp4", rate=max(len(media) // 3, 50_000))
    page = lambda title: Route(body=watch_page(title, "The evening news.", server.url("/media/bulletin.mp4"),
                                               "2019-04-15", "Sample TV"))
    server.routes["/watch/bulletin.html"] = page("Evening News Bulletin")
    url = server.url("/watch/bulletin.html")
    env = {**os.environ, **s3.env(), "CLIPWATCH_DATABASE_URL": db, "CLIPWATCH_STORAGE_URL": f"s3://{bucket}/archive",
           "PYTHONPATH": os.pathsep.join(sys.path)}

    def machine(name: str, what: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", MACHINE, what, url, str(tmp_path / name)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def done(proc: subprocess.Popen) -> dict:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])

    # A and B fetch the same URL at the same time (the media is served slowly, so both download it).
    a, b = machine("a", "ingest+keyframes"), machine("b", "ingest")
    ra, rb = done(a), done(b)
    assert sorted([ra["fetch"], rb["fetch"]]) in (["done", "skipped"],), (ra, rb)
    assert ra["keyframes"] == "done"
    with PostgresCatalogue(db) as cat:
        vid = cat.video_ids()[0]
        assert [e["kind"] for e in cat.events(vid)].count("fetched") == 1
        assert len(cat.metadata_versions(vid)) == 1
        assert len(cat.media_for_video(vid)) == 1

    # B records the video's manifest again later (a metadata change seen by its monitor): the manifest must still
    # list the keyframes A made, which B's own cache never held.
    server.routes["/watch/bulletin.html"] = page("Evening News Bulletin (corrected)")
    assert done(machine("b", "check")) == {"outcome": "available", "metadata_changed": True}
    with PostgresCatalogue(db) as cat:
        assert len(cat.metadata_versions(vid)) == 2
    # A (whose cached manifest is now older than the recorded one), B and a fresh machine C all verify clean, and
    # nobody writes a `corrupt` event.
    for name in ("a", "b", "c"):
        proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "--data-dir",
                               str(tmp_path / name), "verify", "--all", "--json"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, (name, proc.stdout[-2000:], proc.stderr[-2000:])
        out = json.loads(proc.stdout)
        assert out["ok"] and out["counts"]["ok"] == 1, (name, out)
        assert not [p for p in out.get("problems", []) if p.get("status") in ("unlisted", "corrupt")], (name, out)
    with PostgresCatalogue(db) as cat:
        kinds = [e["kind"] for e in cat.events(vid)]
        assert "corrupt" not in kinds and kinds.count("fetched") == 1
        assert cat.chain_report().ok


# -- 6. history you can read ---------------------------------------------------------------------------------------

def test_history_page_shows_each_version_with_a_diff_and_events_stay_small(video, store, archive, settings):
    from starlette.testclient import TestClient

    from pipeline.web.app import create_app

    line = "Paragraph {} of the long programme notes, with the names of everyone who spoke and what they said.\n"
    base = "".join(line.format(i) for i in range(10_500))           # ~1 MB
    assert len(base) > 1_000_000
    descriptions = [base, base.replace("Paragraph 7 ", "Paragraph seven "), base + "Corrected on air.\n",
                    "Withdrawn.\n" + base[:500_000]]
    url = store.get_video(video)["webpage_url"]
    for n, desc in enumerate(descriptions):
        info = {"id": "bulletin", "extractor_key": "Generic", "webpage_url": url, "title": f"Bulletin v{n}",
                "description": desc, "tags": ["news"]}
        res = monitor.check_video(store, archive, video, now=T0 + n * HOUR, extract=lambda u, i=info: i)
        assert res.metadata_changed
    events = [e for e in store.events(video) if e["kind"] == "metadata-changed"]
    assert len(events) == 4
    sizes = [len(e["detail"]) for e in events]
    assert max(sizes) < 100_000, sizes                # not 2 MB each: large values go by hash
    last = json.loads(events[-1]["detail"])
    assert last["diff"]["description"]["new_sha256"] == hashlib.sha256(descriptions[-1].encode()).hexdigest()
    assert last["diff"]["description"]["new_chars"] == len(descriptions[-1]) and "new" not in last["diff"]["description"]
    assert last["diff"]["title"] == {"old": "Bulletin v2", "new": "Bulletin v3"}
    assert store.chain_report().ok

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        video_page = client.get(f"/videos/{video}")
        assert video_page.status_code == 200 and f"/videos/{video}/history" in video_page.text
        assert len(video_page.text) < 2_000_000, len(video_page.text)   # the events are not 1 MB JSON each
        page = client.get(f"/videos/{video}/history")
        assert page.status_code == 200
        text = page.text
        assert text.count("class=\"version\"") == 5     # the first archived version and four changes
        assert "<ins>+Paragraph seven of the long" in text and "<del>-Paragraph 7 of the long" in text
        assert "<ins>+Corrected on air.</ins>" in text and "Bulletin v2" in text
        for n, desc in enumerate(descriptions, 2):
            got = client.get(f"/videos/{video}/history/{n}/description.txt")
            assert got.status_code == 200 and got.content == desc.encode("utf-8")   # byte-exact
        assert client.get(f"/videos/{video}/history/9/description.txt").status_code == 404
        assert client.get(f"/videos/{video}/history/2/secret.txt").status_code == 404
        api = client.get(f"/api/videos/{video}/history").json()
        assert [v["title"] for v in api["versions"]][-1] == "Bulletin v3"
        info = api["versions"][-1]["info_json_path"]
        assert info and client.get(f"/files/{info}").content == (archive.root / info).read_bytes()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limit_or_server_error_pages_never_count_even_with_removal_words(video, site, store, archive, status):
    site.routes["/watch/bulletin.html"] = Route(body=removal_page("Sample TV", "This video has been removed."), status=status)
    for n in range(3):
        assert monitor.check_video(store, archive, video, now=T0 + n * 2 * HOUR).outcome == "transient"
    assert store.get_video(video)["failed_checks"] == 0 and events_of(store, video, "removed") == []


def test_machines_opening_a_fresh_postgres_catalogue_at_once_all_start(pg):
    """The first machines to open a new catalogue race to create it: one migrates, the others wait and go on."""
    import os
    import subprocess
    import sys
    import uuid

    db = pg.create_database(f"fresh_{uuid.uuid4().hex[:10]}")
    code = ("import sys; from pipeline.storage.postgres.catalogue import PostgresCatalogue as C; "
            "c = C(sys.argv[1]); print(c.schema_version()); c.close()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", code, db], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-1500:] for _, err in outs]
    assert len({out.strip() for out, _ in outs}) == 1
