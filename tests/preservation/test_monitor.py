"""Monitoring against the loopback site: removals (404/410, the platforms' own words), a site that is down,
videos that come back, edited titles, the check schedule, watched sources and the Prefect flow."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yt_dlp.utils
from conftest import SAMPLES, publish_page

import pipeline.sources.ytdlp
from pipeline.demo.loopback import Route, front_page, watch_page
from pipeline.domain import VideoRecord
from pipeline.preservation import history, monitor
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage.base import catalogue_for

T0 = datetime(2030, 1, 6, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


@pytest.fixture
def video(server, store, archive):
    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin",
                       description="The evening news.\nThe harvest.", upload_date="2019-04-15", channel="Sample TV",
                       keywords="news,bulletin")
    server.routes["/"] = Route(body=front_page("Sample TV", [("Evening News Bulletin", url)]))  # the site is up
    out = record_fetch(store, archive, fetch(url, archive), None)
    return out.video_id


def kinds(store, vid):
    return [e["kind"] for e in store.events(vid)]


def removed_events(store, vid):
    return [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == "removed"]


@pytest.mark.parametrize("status, reason", [(404, "HTTP Error 404: Not Found"), (410, "HTTP Error 410: Gone")])
def test_page_that_starts_answering_404_or_410_is_removed_after_two_checks_an_hour_apart(video, server, store, archive, status, reason):
    assert monitor.check_video(store, archive, video, now=T0).outcome == "available"
    server.routes["/watch/bulletin.html"] = Route(body=b"<h1>gone</h1>", status=status)

    first = monitor.check_video(store, archive, video, now=T0 + HOUR)
    assert (first.outcome, first.status, first.failed_checks) == ("suspect", "available", 1)
    too_soon = monitor.check_video(store, archive, video, now=T0 + HOUR + timedelta(minutes=30))
    assert (too_soon.outcome, too_soon.failed_checks) == ("suspect", 2)
    assert store.get_video(video)["status"] == "available" and not removed_events(store, video)

    confirmed = monitor.check_video(store, archive, video, now=T0 + 2 * HOUR)
    assert (confirmed.outcome, confirmed.status, confirmed.kind) == ("removed", "removed", "unavailable-unknown")
    row = store.get_video(video)
    assert (row["status"], row["status_kind"], row["status_reason"]) == ("removed", "unavailable-unknown", reason)
    [ev] = removed_events(store, video)
    assert ev["reason"] == reason and ev["first_failed_at"] == "2030-01-06T13:00:00Z"

    again = monitor.check_video(store, archive, video, now=T0 + 3 * HOUR)
    assert again.outcome == "still-removed" and len(removed_events(store, video)) == 1


YOUTUBE_MESSAGES = [
    ("ERROR: [youtube] abc: This video has been removed for violating YouTube's Community Guidelines",
     "removed-by-platform", "This video has been removed for violating YouTube's Community Guidelines"),
    ("ERROR: [youtube] abc: Video unavailable. This video is no longer available because the YouTube account associated "
     "with this video has been terminated.", "removed-by-platform",
     "Video unavailable. This video is no longer available because the YouTube account associated with this video has been terminated."),
    ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video. Use --cookies-from-browser or "
     "--cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how "
     "to manually pass cookies", "private", "Private video. Sign in if you've been granted access to this video"),
    ("ERROR: [youtube] abc: The uploader has not made this video available in your country", "geo-blocked",
     "The uploader has not made this video available in your country"),
    ("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader", "removed-by-uploader",
     "Video unavailable. This video has been removed by the uploader"),
    ("ERROR: [youtube] abc: Video unavailable. This video is no longer available due to a copyright claim by Sample Rights Ltd",
     "removed-by-platform", "Video unavailable. This video is no longer available due to a copyright claim by Sample Rights Ltd"),
    ("ERROR: [vk] -1_456: Video -1_456 has been removed from public access due to rightholder complaint.",
     "removed-by-platform", "Video -1_456 has been removed from public access due to rightholder complaint."),
]


@pytest.mark.parametrize("message, kind, reason", YOUTUBE_MESSAGES, ids=[m[1] + "-" + str(i) for i, m in enumerate(YOUTUBE_MESSAGES)])
def test_platform_removal_message_is_recorded_verbatim_with_its_kind(video, store, archive, monkeypatch, message, kind, reason):
    def gone(url):
        raise yt_dlp.utils.DownloadError(message)

    monkeypatch.setattr(pipeline.sources.ytdlp, "extract_info", gone)
    # The loopback site itself is up (its front page answers 200), so the platform's word counts.
    assert monitor.check_video(store, archive, video, now=T0).outcome == "suspect"
    res = monitor.check_video(store, archive, video, now=T0 + HOUR)
    assert (res.outcome, res.kind, res.reason) == ("removed", kind, reason)
    row = store.get_video(video)
    assert (row["status"], row["status_kind"], row["status_reason"]) == ("removed", kind, reason)
    assert removed_events(store, video)[0]["reason"] == reason


@pytest.mark.parametrize("message", [
    "ERROR: [youtube] abc: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the authentication.",
    "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.",
    "ERROR: [youtube] abc: This content isn't available, try again later.",
    "ERROR: [youtube] abc: Unable to download API page: HTTP Error 503: Service Unavailable (caused by <HTTPError 503>)",
], ids=["bot-check", "age-gate", "rate-limit", "http-503"])
def test_bot_checks_age_gates_and_rate_limits_are_never_removals(video, store, archive, monkeypatch, message):
    monkeypatch.setattr(pipeline.sources.ytdlp, "extract_info", lambda url: (_ for _ in ()).throw(yt_dlp.utils.DownloadError(message)))
    for n in range(3):
        assert monitor.check_video(store, archive, video, now=T0 + n * 2 * HOUR).outcome == "transient"
    row = store.get_video(video)
    assert (row["status"], row["failed_checks"]) == ("available", 0)


def test_server_down_is_never_a_removal(video, server, store, archive):
    server.stop()  # connection refused from now on
    for n in range(3):
        res = monitor.check_video(store, archive, video, now=T0 + n * 2 * HOUR)
        assert res.outcome == "transient", res
    row = store.get_video(video)
    assert (row["status"], row["failed_checks"], row["first_failed_at"]) == ("available", 0, None)
    assert "removed" not in kinds(store, video)
    assert row["last_checked_at"] == "2030-01-06T16:00:00Z"


def test_removal_message_while_the_site_does_not_answer_is_not_counted(video, server, store, archive):
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=404)
    for n in range(3):
        res = monitor.check_video(store, archive, video, now=T0 + n * 2 * HOUR, reachable=lambda url: False)
        assert res.outcome == "transient"
    assert store.get_video(video)["status"] == "available"


def test_server_errors_between_failed_checks_do_not_reset_or_confirm(video, server, store, archive):
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=404)
    assert monitor.check_video(store, archive, video, now=T0).outcome == "suspect"
    server.routes["/watch/bulletin.html"] = Route(body=b"oops", status=500)
    assert monitor.check_video(store, archive, video, now=T0 + 2 * HOUR).outcome == "transient"
    assert store.get_video(video)["status"] == "available"
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=404)
    assert monitor.check_video(store, archive, video, now=T0 + 3 * HOUR).outcome == "removed"


def test_a_video_that_answers_again_before_confirmation_is_not_removed(video, server, store, archive):
    page = server.routes["/watch/bulletin.html"]
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=404)
    monitor.check_video(store, archive, video, now=T0)
    server.routes["/watch/bulletin.html"] = page
    assert monitor.check_video(store, archive, video, now=T0 + HOUR).outcome == "available"
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=404)
    assert monitor.check_video(store, archive, video, now=T0 + 2 * HOUR).outcome == "suspect"  # counting starts again


def test_removed_video_that_returns_is_recorded_as_reappeared(video, server, store, archive):
    page = server.routes["/watch/bulletin.html"]
    server.routes["/watch/bulletin.html"] = Route(body=b"gone", status=410)
    monitor.check_video(store, archive, video, now=T0)
    assert monitor.check_video(store, archive, video, now=T0 + 2 * HOUR).outcome == "removed"
    server.routes["/watch/bulletin.html"] = page
    res = monitor.check_video(store, archive, video, now=T0 + 30 * HOUR)
    assert (res.outcome, res.status) == ("reappeared", "available")
    row = store.get_video(video)
    assert (row["status"], row["status_kind"], row["status_reason"], row["failed_checks"]) == ("available", None, None, 0)
    [ev] = [json.loads(e["detail"]) for e in store.events(video) if e["kind"] == "reappeared"]
    assert ev["was_kind"] == "unavailable-unknown" and ev["was_reason"] == "HTTP Error 410: Gone"
    assert [k for k in kinds(store, video) if k != "attested"][-2:] == ["removed", "reappeared"]  # attested: the digests of issue 21


def test_title_edited_between_runs_is_a_new_version_with_a_diff(video, server, store, archive, data_dir):
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    assert not monitor.check_video(store, archive, video, now=T0).metadata_changed
    server.routes["/watch/bulletin.html"] = Route(body=watch_page(
        "Evening News Bulletin (corrected)", "The evening news.\nThe grain harvest.", server.url("/media/bulletin.mp4"),
        "2019-04-15", "Sample TV", "news,correction"))
    res = monitor.check_video(store, archive, video, now=T0 + HOUR)
    assert res.outcome == "available" and res.metadata_changed
    assert res.diff["title"] == {"old": "Evening News Bulletin", "new": "Evening News Bulletin (corrected)"}
    assert res.diff["platform_tags"]["added"] == ["correction"] and res.diff["platform_tags"]["removed"] == ["bulletin"]
    assert "+The grain harvest." in res.diff["description"]["unified"]
    assert store.get_video(video)["title"] == "Evening News Bulletin (corrected)"
    [ev] = [json.loads(e["detail"]) for e in store.events(video) if e["kind"] == "metadata-changed"]
    assert ev["diff"]["title"]["new"] == "Evening News Bulletin (corrected)"
    assert (archive.root / ev["info_json"]).is_file() and (archive.video_dir(video) / "info.json").is_file()
    # Unchanged on the next check: no new version.
    assert not monitor.check_video(store, archive, video, now=T0 + 2 * HOUR).metadata_changed

    versions = history.history(store, video)
    assert [v.title for v in versions] == ["Evening News Bulletin", "Evening News Bulletin (corrected)"]
    assert versions[0].diff == {} and versions[1].diff["title"]["old"] == "Evening News Bulletin"

    runner = CliRunner()
    out = runner.invoke(app, ["--data-dir", str(data_dir), "history", video, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["versions"][1]["diff"]["title"]["new"] == "Evening News Bulletin (corrected)"
    text = runner.invoke(app, ["--data-dir", str(data_dir), "history", video])
    assert "(corrected)" in text.output and "version 2" in text.output


def _fake_video(store, vid: str, upload_date: str, **fields):
    store.upsert_video(VideoRecord(id=vid, extractor="Generic", platform_id=vid, webpage_url=f"http://127.0.0.1:9/{vid}",
                                   source_url=f"http://127.0.0.1:9/{vid}", upload_date=upload_date), f"videos/{vid}")
    store.set_video_fields(vid, **fields)


def test_schedule_checks_newer_videos_more_often(store):
    now = T0
    last = monitor.iso(now - timedelta(hours=8))
    _fake_video(store, "new", "2030-01-04", last_checked_at=last)            # 2 days old: every 6 h
    _fake_video(store, "month", "2029-12-20", last_checked_at=last)          # 17 days: daily
    _fake_video(store, "old", "2020-01-01", last_checked_at=last)            # years: monthly
    _fake_video(store, "never", "2010-01-01")                                 # never checked: due
    _fake_video(store, "pending", "2010-01-01", last_checked_at=monitor.iso(now - timedelta(minutes=70)),
                failed_checks=1, first_failed_at=monitor.iso(now - timedelta(minutes=70)))
    _fake_video(store, "pending-soon", "2010-01-01", last_checked_at=monitor.iso(now - timedelta(minutes=20)),
                failed_checks=1, first_failed_at=monitor.iso(now - timedelta(minutes=20)))
    store.upsert_video(VideoRecord(id="local-x", extractor="local", platform_id="x", webpage_url="", source_url="/tmp/x.mp4"), "videos/local-x")

    assert monitor.due_videos(store, now) == ["pending", "never", "new"]
    assert set(monitor.due_videos(store, now + timedelta(hours=17))) >= {"month", "pending-soon"}
    assert "old" not in monitor.due_videos(store, now + timedelta(days=20))
    assert "old" in monitor.due_videos(store, now + timedelta(days=30))
    # A smaller confirmation interval (tests, impatient archivists) makes the pending one due sooner.
    assert "pending-soon" in monitor.due_videos(store, now, monitor.Schedule(confirm_after=timedelta(minutes=15)))


def test_relist_returns_only_videos_not_yet_archived(server, sample_feed, store, archive):
    sid, found = monitor.watch_source(store, sample_feed)
    assert found.kind == "playlist" and len(found.refs) == 3
    first = found.refs[0]
    record_fetch(store, archive, fetch(first.url, archive, source_url=sample_feed), sid)
    [lst] = monitor.relist_sources(store, now=T0)
    assert lst.listed == 3 and len(lst.new) == 2
    assert first.title not in [r.title for r in lst.new]
    assert store.source(sid)["last_listed_at"] == "2030-01-06T12:00:00Z"


def test_watched_source_that_disappears_is_removed_then_reappears(server, sample_feed, store):
    sid, _ = monitor.watch_source(store, sample_feed)
    feed = server.routes["/feed.xml"]
    server.routes["/feed.xml"] = Route(body=b"gone", status=410)
    assert monitor.relist_sources(store, now=T0)[0].outcome == "suspect"
    assert monitor.relist_sources(store, now=T0 + 2 * HOUR)[0].outcome == "removed"
    server.routes["/feed.xml"] = feed
    assert monitor.relist_sources(store, now=T0 + 3 * HOUR)[0].outcome == "reappeared"
    assert [e["kind"] for e in store.events() if e["source_id"] == sid] == ["removed", "reappeared"]


def test_monitor_flow_ingests_new_videos_and_checks_due_ones(prefect_harness, server, sample_feed, settings, store):
    from flows.monitor import monitor_deployment, monitor_flow

    monitor.watch_source(store, sample_feed)
    report = monitor_flow(str(settings.data_dir), analyse_new=False, now=T0)
    assert sorted(v.status for v in report.ingested) == ["ok", "ok", "ok"]
    assert report.checks == []  # just archived: checked from the next round on
    assert sum(v["source_id"] is not None for v in store.all_videos()) == 3

    server.routes["/watch/ministry-statement.html"] = Route(body=b"gone", status=404)
    report = monitor_flow(str(settings.data_dir), analyse_new=False, now=T0 + HOUR)
    assert report.ingested == []
    assert sorted(c["outcome"] for c in report.checks) == ["available", "available", "suspect"]
    report = monitor_flow(str(settings.data_dir), relist=False, check_all=True, now=T0 + 3 * HOUR)
    assert sorted(c["outcome"] for c in report.checks) == ["available", "available", "removed"]
    assert store.status_counts().get("removed") == 1

    dep = monitor_deployment("0 */6 * * *", str(settings.data_dir))
    assert dep.name == "clipwatch-monitor" and dep.parameters["data_dir"] == str(settings.data_dir)
    assert [s.schedule.cron for s in dep.schedules] == ["0 */6 * * *"]


def test_monitor_flow_on_postgres(prefect_harness, server, sample_feed, data_dir, pg, monkeypatch):
    """With CLIPWATCH_DATABASE_URL the flow lists, archives and checks through PostgreSQL: no clipwatch.db appears."""
    import uuid

    from flows.monitor import monitor_flow
    from pipeline.config import Settings

    url = pg.create_database(f"m_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("CLIPWATCH_DATABASE_URL", url)
    s = Settings(data_dir=data_dir)
    with catalogue_for(s) as pgc:
        assert pgc.backend == "postgresql"
        monitor.watch_source(pgc, sample_feed)
    report = monitor_flow(str(data_dir), analyse_new=False, now=T0)
    assert sorted(v.status for v in report.ingested) == ["ok", "ok", "ok"]
    server.routes["/watch/ministry-statement.html"] = Route(body=b"gone", status=404)
    monitor_flow(str(data_dir), relist=False, check_all=True, now=T0 + HOUR)
    report = monitor_flow(str(data_dir), relist=False, check_all=True, now=T0 + 3 * HOUR)
    assert sorted(c["outcome"] for c in report.checks) == ["available", "available", "removed"]
    with catalogue_for(s) as pgc:
        assert pgc.status_counts() == {"available": 2, "removed": 1}
        assert [e["kind"] for e in pgc.events() if e["kind"] == "removed"] == ["removed"]
        assert pgc.chain_report().ok
    assert not s.db_path.exists()


def test_monitor_add_and_list_cli(server, sample_feed, data_dir):
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    runner = CliRunner()
    out = runner.invoke(app, ["--data-dir", str(data_dir), "monitor", "add", sample_feed, "--json"])
    assert out.exit_code == 0, out.output
    added = json.loads(out.stdout)
    assert (added["kind"], added["videos"]) == ("playlist", 3)
    out = runner.invoke(app, ["--data-dir", str(data_dir), "monitor", "list", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.stdout)
    assert [s["url"] for s in listed["sources"]] == [sample_feed] and listed["sources"][0]["watched"] == 1
    text = runner.invoke(app, ["--data-dir", str(data_dir), "monitor", "list"])
    assert text.exit_code == 0 and "watched sources" in text.output and "playlist" in text.output


def test_cron_schedule_runs_each_round_at_its_time():
    from flows.monitor import next_run_times, run_on_schedule

    assert next_run_times("0 */6 * * *", T0, 3) == [T0 + 6 * HOUR, T0 + 12 * HOUR, T0 + 18 * HOUR]
    with pytest.raises(ValueError, match="cron"):
        next_run_times("every six hours", T0)
    clock = [T0 + timedelta(minutes=5)]
    slept, runs = [], []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    assert run_on_schedule("0 */6 * * *", lambda: runs.append(clock[0]), max_runs=2, sleep=sleep, clock=lambda: clock[0]) == 2
    assert runs == [T0 + 6 * HOUR, T0 + 12 * HOUR]
    assert slept[0] == (6 * HOUR - timedelta(minutes=5)).total_seconds()


def test_monitor_serve_rejects_a_bad_cron(data_dir):
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    out = CliRunner().invoke(app, ["--data-dir", str(data_dir), "monitor", "serve", "--cron", "bogus"])
    assert out.exit_code != 0 and "cron" in str(out.exception or out.output)
