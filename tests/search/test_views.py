"""Trends, concordance and the browse lists (issue 13), from the library, the CLI and the web: on SQLite and on
PostgreSQL (a throwaway cluster; ``CLIPWATCH_DATABASE_URL``), the same catalogue and the same assertions."""

from __future__ import annotations

import csv
import io
import json
import os

import _search_catalogue
import pytest
from _search_catalogue import HOSTILE, build_catalogue
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline.errors import ClipwatchError, QueryError
from pipeline.search import views
from pipeline.search.export import export_hits
from pipeline.search.fulltext import SearchQuery
from pipeline.storage.base import catalogue_for
from pipeline.storage.sqlite.catalogue import Store


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    s = build_catalogue(tmp_path_factory.mktemp("views") / "data")
    store = Store(s.db_path)
    yield store, s
    store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cat(request, tmp_path_factory):
    """The search tests' catalogue in clipwatch.db, or in PostgreSQL (the CLI and web reach it through
    CLIPWATCH_DATABASE_URL / Settings.database_url)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("lite")
        return
    import uuid

    from pipeline.config import Settings
    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    url = request.getfixturevalue("pg").create_database(f"v_{uuid.uuid4().hex[:10]}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_search_catalogue, "Store", lambda _path: PostgresCatalogue(url))
        built = build_catalogue(tmp_path_factory.mktemp("views-pg") / "data")
    s = Settings(data_dir=built.data_dir, database_url=url)
    with catalogue_for(s) as store:
        yield store, s


def test_trends_count_lines_per_period_and_channel(cat):
    store, _ = cat
    t = views.trends(store, views.TrendQuery("nuclear", by="year"))
    assert t.periods == ["2017", "2018", "2019"]
    got = {(r.period, r.channel): r.hits for r in t.rows if r.hits}
    # 2017: the hostile song and its flagged loop (doubtful lines count); 2018: two translation lines; 2019: two lines
    assert got == {("2017", "Hostile <b>Channel</b>"): 2, ("2018", "KCTV Archive"): 2, ("2019", "Ministry TV"): 2}
    assert t.total_hits == 6 and t.undated_hits == 0
    month = views.trends(store, views.TrendQuery("nuclear", by="month", channel="Ministry TV"))
    assert month.periods == ["2019-07"] and month.channels == ["Ministry TV"]
    week = views.trends(store, views.TrendQuery("harvest", by="week"))
    assert week.periods == ["2016-05-02"] and week.rows[0].hits == 30 and week.rows[0].videos == 1  # 2016-05-05 was a Thursday


def test_trends_korean_and_normalised(cat):
    store, _ = cat
    t = views.trends(store, views.TrendQuery("핵", by="year"))
    assert t.mode == "bigram" and sum(r.hits for r in t.rows) == 2
    t = views.trends(store, views.TrendQuery('"number five mentions"', by="year"))
    assert sum(r.hits for r in t.rows) == 1  # "Report number 5 mentions …"


def test_trends_formats(cat):
    store, _ = cat
    t = views.trends(store, views.TrendQuery("harvest", by="year"))
    rows = list(csv.DictReader(io.StringIO(t.to_csv())))
    assert rows == [{"period": "2016", "channel": "Ministry TV", "hits": "30", "videos": "1"}]
    d = t.to_dict()
    assert d["total_hits"] == 30 and d["rows"][0]["period"] == "2016"
    assert "2016" in views.render_table(t) and "30" in views.render_table(t)


def test_empty_trends_chart_says_so(cat, tmp_path):
    store, _ = cat
    t = views.trends(store, views.TrendQuery("zebra", by="month"))
    assert t.rows == [] and t.total_hits == 0
    svg = views.plot_trends(t, "svg").decode()
    assert svg.startswith("<?xml") and "no mentions" in svg
    png = views.plot_trends(views.trends(store, views.TrendQuery("nuclear")), "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out = views.save_plot(t, tmp_path / "chart.svg")
    assert out.read_text().count("no mentions") >= 1


def test_bad_trend_inputs_are_clear_errors(cat, tmp_path):
    store, _ = cat
    with pytest.raises(QueryError, match="week, month, year"):
        views.trends(store, views.TrendQuery("nuclear", by="day"))
    with pytest.raises(QueryError, match="too long"):
        views.trends(store, views.TrendQuery("x" * 5000))
    t = views.trends(store, views.TrendQuery("nuclear"))
    with pytest.raises(QueryError, match=".png or .svg"):
        views.save_plot(t, tmp_path / "chart.pdf")
    with pytest.raises(ClipwatchError, match="does not exist"):
        views.save_plot(t, tmp_path / "nowhere" / "chart.png")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions: use a folder no one can create files in
            target = "/proc/clipwatch-chart.png"
        else:
            target = ro / "chart.png"
        with pytest.raises(ClipwatchError, match="cannot write the chart"):
            views.save_plot(t, target)
    finally:
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []  # no half-written file left behind


def test_trends_for_numerals_only_and_one_date(cat):
    store, _ = cat
    t = views.trends(store, views.TrendQuery("5"))
    assert t.periods == ["2016-05"] and t.total_hits == 1
    one = views.trends(store, views.TrendQuery("café", by="week"))
    assert len(one.periods) == 1
    assert b"<svg" in views.plot_trends(one, "svg")


def test_concordance_aligns_the_keyword(cat):
    store, s = cat
    text = export_hits(store, SearchQuery("deterrent"), "kwic", archive_dir=s.archive_dir)
    lines = text.splitlines()
    assert len(lines) == 3
    cols = [line.index("[") for line in lines]
    assert len(set(cols)) == 1                           # the keyword column lines up
    assert all("[deterrent]" in line for line in lines)
    assert lines[0].split()[0] in ("generic-ministry-bbbbbb", "youtube-hostile-cccccc")


def test_browse_lists(cat):
    store, _ = cat
    chans = {c["channel"]: c for c in views.channel_list(store)}
    assert chans["Ministry TV"]["videos"] == 2 and chans["Ministry TV"]["first_upload"] == "2016-05-05"
    assert chans["Ministry TV"]["last_upload"] == "2019-07-01"
    assert chans["Hostile <b>Channel</b>"]["removed"] == 1
    assert chans["KCTV Archive"]["registry"] is None  # not a name or alias in the registry
    removed = views.removed_list(store)
    assert [r["id"] for r in removed] == ["youtube-hostile-cccccc"]
    assert removed[0]["status_reason"].startswith("This video has been removed") and removed[0]["media_path"]
    assert removed[0]["last_seen"]
    recent = views.recent_list(store, 2)
    assert [r["id"] for r in recent] == ["generic-ministry-bbbbbb", "youtube-kb1-aaaaaa"]  # fetched 2024-02, 2024-01


def test_channel_without_upload_dates(tmp_path):
    from pipeline.asr import Segment, Transcript
    from pipeline.domain import VideoRecord

    with Store(tmp_path / "c.db") as st:
        st.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="u", source_url="u",
                                    channel="조선중앙텔레비죤"), "v")
        st.replace_transcript("v", "sha", "original", Transcript("en", 1, 1, "m", "e", "1", segments=[Segment(0, 1, "nuclear")]), None)
        ch = views.channel_list(st)[0]
        assert ch["first_upload"] is None and ch["last_upload"] is None
        assert ch["registry"]["name"] == "Korean Central Television" and ch["registry"]["kind"] == "state-media"
        t = views.trends(st, views.TrendQuery("nuclear"))
        assert t.periods == [] and t.undated_hits == 1 and "without an upload date" in t.notice
        assert "undated" in views.plot_trends(t, "svg").decode()


# -- CLI ------------------------------------------------------------------------------------

def _env(s) -> dict[str, str]:
    return {"CLIPWATCH_DATABASE_URL": s.database_url} if s.database_url else {}


def cli(s, *args):
    from pipeline.cli import app

    return CliRunner(env=_env(s)).invoke(app, ["--data-dir", str(s.data_dir), *args])


def test_cli_trends_and_browse(cat, tmp_path):
    _, s = cat
    r = cli(s, "trends", "nuclear", "--by", "year", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total_hits"] == 6
    r = cli(s, "trends", "nuclear", "--format", "csv", "--plot", str(tmp_path / "n.png"))
    assert r.exit_code == 0 and (tmp_path / "n.png").read_bytes()[:4] == b"\x89PNG"
    r = cli(s, "browse", "removed", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["id"] == "youtube-hostile-cccccc"
    r = cli(s, "browse", "channels", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 3
    r = cli(s, "browse", "recent", "--json", "--limit", "1")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 1
    r = cli(s, "search", "deterrent", "--format", "kwic")
    assert r.exit_code == 0 and r.stdout.count("[deterrent]") == 3


def test_cli_bad_inputs_are_one_error_line(cat, tmp_path):
    import subprocess
    import sys

    from pipeline.cli import main

    _, s = cat
    for args in (["trends", "nuclear", "--by", "day"], ["trends", "x" * 5000], ["trends", "nuclear", "--plot", str(tmp_path / "no" / "x.png")],
                 ["trends", "nuclear", "--format", "xml"], ["search", "x" * 5000]):
        p = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "--data-dir", str(s.data_dir), *args],
                           capture_output=True, text=True, env={**os.environ, "COLUMNS": "200", **_env(s)})
        assert p.returncode != 0, args
        assert p.stderr.startswith("error:") and "Traceback" not in p.stderr, (args, p.stderr)
    assert main  # the entry point the subprocesses run


# -- web --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(cat):
    from pipeline.web import create_app

    _, s = cat
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        yield client


def test_web_browse_pages(web):
    r = web.get("/channels")
    assert r.status_code == 200 and "KCTV Archive" in r.text and "not listed" in r.text
    assert "Hostile &lt;b&gt;Channel&lt;/b&gt;" in r.text
    r = web.get("/removed")
    assert r.status_code == 200 and "This video has been removed &lt;i&gt;for violating&lt;/i&gt; terms" in r.text
    assert HOSTILE not in r.text
    r = web.get("/recent")
    assert r.status_code == 200 and r.text.index("Ministry statement") < r.text.index("Daily report")
    assert web.get("/api/channels").json()[0]["channel"] == "Ministry TV"
    assert web.get("/api/removed").json()[0]["status"] == "removed"
    assert len(web.get("/api/recent?limit=2").json()) == 2


def test_web_search_page_carries_the_chart(web):
    r = web.get("/", params={"q": "nuclear"})
    assert 'id="trend-chart"' in r.text and "/trends.svg?q=nuclear" in r.text
    svg = web.get("/trends.svg", params={"q": "nuclear", "by": "year"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text and "2018" in svg.text
    empty = web.get("/trends.svg", params={"q": "zebra"})
    assert empty.status_code == 200 and "no mentions" in empty.text
    d = web.get("/api/trends", params={"q": "nuclear", "by": "year"}).json()
    assert d["total_hits"] == 6


@pytest.mark.parametrize("url,status", [
    ("/trends.svg?q=nuclear&by=day", 400), ("/trends.svg?q=", 400), ("/trends.svg?q=" + "x" * 5000, 400),
    ("/api/trends?q=nuclear&by=decade", 400), ("/api/trends", 422), ("/api/recent?limit=0", 422),
    ("/trends.svg?q=5", 200), ("/trends.svg?q=%22unbalanced", 200), ("/?q=" + "x" * 5000, 400),
    ("/api/search?q=5", 200), ("/api/search?q=평양abc12", 200),
])
def test_bad_view_params_are_4xx_never_500(web, url, status):
    r = web.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:300])


@pytest.mark.parametrize("query,by,channel", [("nuclear", "year", None), ("harvest", "week", None), ("the", "month", "Ministry TV")])
def test_fast_trend_counting_agrees_with_the_sql_joins(lite, query, by, channel):
    from pipeline.search.query import plan
    from pipeline.storage.sqlite import search as sql

    store, _ = lite
    p = plan(query, "auto")
    tables = [(p.table, p.match), (p.doubt_table, p.match)]
    f = sql.Filters(channel=channel)
    fast = sql.mention_counts(store.db, tables, by, f)
    slow = [dict(r) for r in sql._mention_counts_sql(store.db, tables, by, f)]
    assert fast and fast == sorted(slow, key=lambda d: (d["period"] or "", d["channel"]))


def test_cached_transcript_facts_follow_catalogue_changes(tmp_path, monkeypatch):
    from pipeline.asr import Segment, Transcript
    from pipeline.domain import VideoRecord
    from pipeline.storage.sqlite import search as sql

    monkeypatch.setattr(sql, "ALL_TRANSCRIPTS_ABOVE", 0)  # take the cached whole-catalogue path on a small catalogue
    with Store(tmp_path / "c.db") as st:
        st.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="u", source_url="u",
                                    channel="A", upload_date="2020-01-05"), "v")
        st.replace_transcript("v", "sha", "original", Transcript("en", 1, 1, "m", "e", "1", segments=[Segment(0, 1, "nuclear")]), None)
        assert views.trends(st, views.TrendQuery("nuclear", by="year")).periods == ["2020"]
        st.set_video_fields("v", upload_date="2021-02-03", channel="B")
        t = views.trends(st, views.TrendQuery("nuclear", by="year"))
        assert t.periods == ["2021"] and t.channels == ["B"]
