"""The catalogue's own guarantees: full-text indexes follow the segments, ids are stable."""

from __future__ import annotations

from pipeline.storage.sqlite.catalogue import Store, make_video_id
from pipeline.asr import Segment, Transcript


def fts(store: Store, table: str, query: str) -> list[int]:
    return [r[0] for r in store.db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (query,))]


def add_video(store: Store, vid: str = "v1") -> None:
    store.db.execute("INSERT INTO videos(id, extractor, platform_id, webpage_url, source_url, archived_at)"
                     " VALUES (?, 'x', ?, 'u', 'u', 'now')", (vid, vid))


def test_flagged_segments_stay_out_of_both_indexes_and_follow_updates(tmp_path):
    with Store(tmp_path / "c.db") as store:
        add_video(store)
        tr = Transcript("en", 1.0, 4.0, "m", "e", "1", segments=[
            Segment(0, 1, "alpha bravo"), Segment(1, 2, "charlie delta", flags=["music"])])
        store.replace_transcript("v1", "sha", "original", tr, None)
        a, c = (r["id"] for r in store.segments("v1"))
        assert fts(store, "segments_fts", "alpha") == [a] and fts(store, "segments_fts", "charlie") == []
        assert fts(store, "segments_trigram", "harli") == []
        # A correction un-flags one segment and flags the other: the indexes follow.
        store.db.execute("UPDATE segments SET flags = '' WHERE id = ?", (c,))
        store.db.execute("UPDATE segments SET flags = 'music' WHERE id = ?", (a,))
        assert fts(store, "segments_fts", "alpha") == [] and fts(store, "segments_fts", "charlie") == [c]
        store.db.execute("UPDATE segments SET text = 'echo foxtrot' WHERE id = ?", (c,))
        assert fts(store, "segments_fts", "charlie") == [] and fts(store, "segments_trigram", "foxt") == [c]
        # Replacing the transcript removes the old rows from the indexes.
        store.replace_transcript("v1", "sha", "original", Transcript("en", 1.0, 1.0, "m", "e", "1", segments=[Segment(0, 1, "golf")]), None)
        assert fts(store, "segments_fts", "echo") == [] and len(fts(store, "segments_fts", "golf")) == 1


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
