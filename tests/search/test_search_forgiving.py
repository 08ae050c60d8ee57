"""Search that forgives how speech is written down (issue 13): numbers, abbreviations, compounds, Korean
numerals and short Korean queries through the bigram index; hits timed by their first matched word."""

from __future__ import annotations

import pytest

from pipeline.asr import Segment, Transcript, Word
from pipeline.domain import VideoRecord
from pipeline.search.facade import SearchQuery, search
from pipeline.storage.sqlite.catalogue import Store
from pipeline.text import normalize

LINES_EN = [
    (0.0, 6.0, "To hear the menu again press five to repeat."),
    (6.0, 12.0, "Mr. John Dashwood spoke of the twenty-first century."),
    (12.0, 18.0, "One hundred and five delegates signed the cease-fire in St. Petersburg."),
    (18.0, 24.0, "It was a well-known fact, said Dr Watson, on the 3rd day."),
    (24.0, 30.0, "The ceasefire held for 25 days on Baker street."),
]
LINES_KO = [
    (0.0, 4.0, "평양방송을 들으십시오."),
    (4.0, 8.0, "평양에서 이천십구년에 열린 대회"),
    (8.0, 12.0, "오월 일일 2020년 보도"),
    (12.0, 16.0, "북핵 문제와 핵무력"),
]


def words_for(start: float, end: float, text: str) -> list[Word]:
    """Evenly spaced word times, as an engine would give them (exact, so the test can check the hit time)."""
    toks = text.split()
    step = (end - start) / len(toks)
    return [Word(start + i * step, start + (i + 1) * step, " " + t, 0.9) for i, t in enumerate(toks)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    st = Store(tmp_path_factory.mktemp("forgiving") / "c.db")
    for vid, lang, lines in (("v-en", "en", LINES_EN), ("v-ko", "ko", LINES_KO)):
        st.upsert_video(VideoRecord(id=vid, extractor="x", platform_id=vid, webpage_url=f"https://example.org/{vid}",
                                    source_url=f"https://example.org/{vid}", title=vid, channel="C", upload_date="2020-01-02"), vid)
        segs = [Segment(a, b, t, words=words_for(a, b, t)) for a, b, t in lines]
        st.replace_transcript(vid, "sha-" + vid, "original", Transcript(lang, 1.0, lines[-1][1], "m", "e", "1", segments=segs), None)
    yield st
    st.close()


def texts(store, q, **kw):
    return [h.text for h in search(store, SearchQuery(q, limit=50, **kw)).hits]


@pytest.mark.parametrize("query,line", [
    ('"press 5 to repeat"', 0), ("press 5", 0), ('"press five to repeat"', 0),
    ('"mister john dashwood"', 1), ("mr dashwood", 1), ('"21st century"', 1), ('"twenty first century"', 1),
    ("105 delegates", 2), ('"one hundred five delegates"', 2), ("doctor watson", 3), ('"third day"', 3),
    ("wellknown", 3), ('"well known fact"', 3), ("twenty-five days", 4), ('"25 days"', 4),
])
def test_numbers_and_abbreviations_match_both_ways(store, query, line):
    assert LINES_EN[line][2] in texts(store, query), query


def test_compounds_match_split_hyphenated_or_joined(store):
    got = texts(store, "ceasefire")
    assert LINES_EN[2][2] in got and LINES_EN[4][2] in got      # "cease-fire" and "ceasefire"
    got = texts(store, "cease-fire")
    assert LINES_EN[2][2] in got and LINES_EN[4][2] in got


def test_saint_and_street_both_find_st(store):
    assert LINES_EN[2][2] in texts(store, "saint petersburg")
    assert LINES_EN[2][2] in texts(store, '"saint petersburg"')
    assert LINES_EN[4][2] in texts(store, "baker st")


def test_users_see_the_original_words_highlighted(store):
    h = search(store, SearchQuery('"press 5 to repeat"')).hits[0]
    assert h.text == LINES_EN[0][2]
    assert [h.snippet[a:b] for a, b in h.highlights] == ["press five to repeat"]
    h = search(store, SearchQuery("twenty-five")).hits[0]
    assert [h.snippet[a:b] for a, b in h.highlights] == ["25"]


def test_hit_time_is_the_first_matched_word(store):
    h = search(store, SearchQuery('"press five to repeat"')).hits[0]
    # "To hear the menu again press ..." : "press" is word 6 of 9 in 0-6 s
    assert h.segment_start == 0.0 and h.start == pytest.approx(5 * 6 / 9, abs=0.01) and h.timed_by == "word"
    assert h.web_path.endswith("?t=3.3") and h.link.endswith("#t=3")
    h = search(store, SearchQuery("핵무력")).hits[0]
    assert h.start == pytest.approx(12.0 + 2 * 4 / 3, abs=0.01)


@pytest.mark.parametrize("query,lines", [
    ("평양", [0, 1]), ("핵", [3]), ("송을", [0]), ("평양방송", [0]), ("2019년", [1]), ("이천십구년", [1]),
    ("5월", [2]), ("오월", [2]), ("이천이십년", [2]),
])
def test_korean_substrings_and_numerals(store, query, lines):
    got = sorted(texts(store, query))
    assert got == sorted(LINES_KO[i][2] for i in lines), query


def test_short_korean_queries_are_served_by_the_bigram_index(store):
    res = search(store, SearchQuery("평양"))
    assert res.mode == "bigram" and '"평양"' in res.fts_query
    assert search(store, SearchQuery("핵")).mode == "bigram"
    assert search(store, SearchQuery("핵무력")).mode == "substring"


@pytest.mark.parametrize("query", ["5", "1000", "평양 2020", "x" * 999, "핵 AND", "five hundred and", "a", "the 1st"])
def test_odd_queries_give_results_not_errors(store, query):
    search(store, SearchQuery(query))


def test_too_long_query_is_one_clear_error(store):
    from pipeline.errors import QueryError

    with pytest.raises(QueryError, match="too long"):
        search(store, SearchQuery("word " * 1000))


@pytest.mark.parametrize("text,shadow", [
    ("Press five to repeat.", "Press 5 to repeat."),
    ("one hundred and five", "105"),
    ("the twenty-first", "the 21st"),
    ("a thousand men", "1000 men"),
    ("1,000 men", "1000 men"),
    ("Mr. Smith", "mister. Smith"),
    ("second", "2nd"),
    ("zero", "0"),
])
def test_shadow_text(text, shadow):
    assert " ".join(normalize.shadow(text).split()).replace(" -", "").replace("- ", " ").rstrip("-") == shadow


def test_korean_numerals():
    assert normalize.korean_alternates("이천십구년에") == ["2019년에"]
    assert normalize.korean_alternates("2019년") == ["이천십구년"]
    assert normalize.korean_alternates("오월") == ["5월"]
    assert normalize.korean_alternates("삼십") == ["30"]
    for word in ("사람", "이번", "천리마", "만세", "일이", "백두산"):  # words, not numbers
        assert normalize.korean_alternates(word) == [], word


def test_a_very_common_word_is_listed_newest_first_with_a_notice(tmp_path, monkeypatch):
    from pipeline.search import fulltext

    with Store(tmp_path / "c.db") as st:
        st.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="u", source_url="u"), "v")
        st.replace_transcript("v", "sha", "original", Transcript("en", 1.0, 60, "m", "e", "1", segments=[
            Segment(i, i + 1, f"the people line {i}" + " people" * (i % 3)) for i in range(40)]), None)
        ranked = search(st, SearchQuery("people", limit=5))
        assert ranked.notice is None and ranked.hits[0].score is not None
        monkeypatch.setattr(fulltext, "COMMON_DOCS", 30)
        res = search(st, SearchQuery("people", limit=5))
        assert "newest first" in res.notice
        assert [h.text.split(" people")[0] for h in res.hits][0] == "the"
        assert [h.segment_start for h in res.hits] == [39, 38, 37, 36, 35]
        # a rarer word in the query, a phrase or a filter brings the ranking back
        assert search(st, SearchQuery("\"the people\"", limit=5)).notice is None
        assert search(st, SearchQuery("people 7", limit=5)).notice is None


def test_contractions_match_their_full_words(tmp_path):
    with Store(tmp_path / "c.db") as st:
        st.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="u", source_url="u"), "v")
        st.replace_transcript("v", "sha", "original", Transcript("en", 1.0, 4, "m", "e", "1", segments=[
            Segment(0, 2, "I'm afraid I was unable to connect."), Segment(2, 4, "We do not know, the minister's aide said.")]), None)
        assert [h.segment_start for h in search(st, SearchQuery('"I am afraid I"')).hits] == [0]
        assert [h.segment_start for h in search(st, SearchQuery('"we don\'t know"')).hits] == [2]
        assert [h.segment_start for h in search(st, SearchQuery("minister's")).hits] == [2]
