"""The catalogue's own guarantees: full-text indexes follow the segments, ids are stable."""

from __future__ import annotations

from pipeline.domain import make_video_id
from pipeline.storage.sqlite.catalogue import Store
from pipeline.asr import Segment, Transcript


def fts(store: Store, table: str, query: str) -> list[int]:
    return [r[0] for r in store.db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (query,))]


def add_video(store: Store, vid: str = "v1") -> None:
    store.db.execute("INSERT INTO videos(id, extractor, platform_id, webpage_url, source_url, archived_at)"
                     " VALUES (?, 'x', ?, 'u', 'u', 'now')", (vid, vid))


def test_flagged_segments_go_to_the_doubtful_index_and_follow_updates(tmp_path):
    with Store(tmp_path / "c.db") as store:
        add_video(store)
        tr = Transcript("en", 1.0, 4.0, "m", "e", "1", segments=[
            Segment(0, 1, "alpha bravo"), Segment(1, 2, "charlie delta", flags=["music"])])
        store.replace_transcript("v1", "sha", "original", tr, None)
        a, c = (r["id"] for r in store.segments("v1"))
        assert fts(store, "norm_fts", "alpha") == [a] and fts(store, "norm_fts", "charlie") == []
        assert fts(store, "norm_doubt_fts", "charlie") == [c] and fts(store, "norm_doubt_fts", "alpha") == []
        assert fts(store, "norm_trigram", "harli") == [c]  # substring search covers every line
        # A correction un-flags one segment and flags the other: the indexes follow.
        store.db.execute("UPDATE segments SET flags = '' WHERE id = ?", (c,))
        store.db.execute("UPDATE segments SET flags = 'music' WHERE id = ?", (a,))
        assert fts(store, "norm_fts", "alpha") == [] and fts(store, "norm_fts", "charlie") == [c]
        assert fts(store, "norm_doubt_fts", "alpha") == [a]
        store.db.execute("UPDATE segments SET text = 'echo foxtrot' WHERE id = ?", (c,))
        assert fts(store, "norm_fts", "charlie") == [] and fts(store, "norm_trigram", "foxt") == [c]
        # Replacing the transcript removes the old rows from the indexes.
        store.replace_transcript("v1", "sha", "original", Transcript("en", 1.0, 1.0, "m", "e", "1", segments=[Segment(0, 1, "golf")]), None)
        assert fts(store, "norm_fts", "echo") == [] and len(fts(store, "norm_fts", "golf")) == 1
        assert fts(store, "norm_doubt_fts", "alpha") == []
        assert store.db.execute("SELECT count(*) FROM segment_norm").fetchone()[0] == 1


def test_indexes_hold_the_normalised_shadow_and_korean_bigrams(tmp_path):
    with Store(tmp_path / "c.db") as store:
        add_video(store)
        store.replace_transcript("v1", "sha", "original", Transcript("ko", 1.0, 4.0, "m", "e", "1", segments=[
            Segment(0, 1, "Press five to repeat, Mr. Dashwood."), Segment(1, 2, "평양방송을 이천십구년에")]), None)
        en, ko = (r["id"] for r in store.segments("v1"))
        assert fts(store, "norm_fts", '"press 5 to repeat"') == [en]
        assert fts(store, "norm_fts", "mister") == [en]
        assert store.segments("v1")[0]["text"] == "Press five to repeat, Mr. Dashwood."  # what users see is unchanged
        assert fts(store, "hangul_bigrams", '"평양"') == [ko] and fts(store, "hangul_bigrams", '"송을"') == [ko]
        assert fts(store, "hangul_bigrams", "방*") == [ko]
        assert fts(store, "norm_trigram", '"2019년"') == [ko]


def test_an_older_catalogue_gets_its_search_index_rebuilt_on_open(tmp_path):
    with Store(tmp_path / "c.db") as store:
        add_video(store)
        store.replace_transcript("v1", "sha", "original", Transcript("en", 1.0, 1.0, "m", "e", "1", segments=[
            Segment(0, 1, "twenty-five ministers")]), None)
        # as if written by an earlier clipwatch: no shadow text, empty indexes, no version mark
        store.db.execute("DELETE FROM segment_norm")
        store.db.execute("INSERT INTO norm_fts(norm_fts) VALUES ('delete-all')")
        store.db.execute("DELETE FROM meta WHERE key = 'search_index_version'")
        assert fts(store, "norm_fts", "25") == []
    with Store(tmp_path / "c.db") as store:
        assert len(fts(store, "norm_fts", "25")) == 1


def test_reopening_keeps_data_and_schema(tmp_path):
    with Store(tmp_path / "c.db") as store:
        add_video(store)
        store.add_event("fetched", video_id="v1")
    with Store(tmp_path / "c.db") as store:
        assert [e["kind"] for e in store.events("v1")] == ["fetched"]
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_video_id_is_stable_and_path_safe():
    a = make_video_id("Youtube", "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert a == make_video_id("Youtube", "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert a.startswith("youtube-dQw4w9WgXcQ-")
    hostile = make_video_id("Generic", "../../etc/passwd 🚀", "http://x")
    assert "/" not in hostile and ".." not in hostile
