"""The schema itself, at the SQL level: the one test file that runs raw SQL on a catalogue.

Everything else talks to the catalogue through its methods (``tests/test_catalogue_contract.py`` runs that contract
on SQLite and PostgreSQL). Here are the guarantees that live in the database, below those methods: SQLite's triggers
keep the events append-only and chained, the FTS5 indexes follow the segments and hold the shadow text, the file is
in WAL mode; and what an adversary who can write the database file does, which ``verify`` must notice (the
tampering helpers ``test_faults`` uses).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from pipeline.asr import Segment, Transcript
from pipeline.storage import chain
from pipeline.storage.sqlite.catalogue import Store


# -- tampering, as an adversary with the database file does it ------------------------------------------------------

def swap_original_rows(store: Store, old: str, new: str, size: int, new_rel: str) -> None:
    """Make the catalogue agree with swapped bytes: the file's row, every fetch of it and every video holding it."""
    db = store.db
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("UPDATE media_files SET sha256 = ?, size = ?, path = ? WHERE sha256 = ?", (new, size, new_rel, old))
    db.execute("UPDATE media_fetches SET sha256 = ? WHERE sha256 = ?", (new, old))
    db.execute("UPDATE videos SET media_sha256 = ? WHERE media_sha256 = ?", (new, old))
    db.execute("PRAGMA foreign_keys=ON")


def rewrite_event(store: Store, event_id: int, detail: str = "{}") -> None:
    """Drop the trigger that refuses UPDATE on events, then rewrite one event's detail."""
    store.db.execute("DROP TRIGGER events_no_update")
    store.db.execute("UPDATE events SET detail = ? WHERE id = ?", (detail, event_id))


# -- the events table: append-only and chained, by trigger -----------------------------------------------------------

def test_events_cannot_be_updated_or_deleted(store, settings):
    store.add_event("verified", video_id="v1", detail={"path": "media/aa/x.mp4"})
    store.add_event("removed", video_id="v1", detail={"reason": "Video unavailable"})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE events SET kind = 'verified' WHERE kind = 'removed'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM events WHERE video_id = 'v1'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM events")
    # Not even from another connection, in a transaction, after re-opening the database.
    with Store(settings.db_path) as other:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            with other.transaction():
                other.db.execute("UPDATE events SET detail = '{}'")
    assert [(e["kind"], json.loads(e["detail"])) for e in store.events("v1")] == [
        ("verified", {"path": "media/aa/x.mp4"}), ("removed", {"reason": "Video unavailable"})]
    store.add_event("reappeared", video_id="v1")  # appending still works
    assert [e["kind"] for e in store.events("v1")] == ["verified", "removed", "reappeared"]


@pytest.fixture
def logged(store):
    for i in range(5):
        store.add_event("verified", video_id="v1", detail={"n": i})
    assert store.chain_report().ok
    return store


def test_replace_into_events_is_refused_and_when_forced_detected(logged):
    with pytest.raises(sqlite3.IntegrityError):
        logged.db.execute("REPLACE INTO events(id, video_id, at, kind, detail, prev_hash, hash) "
                          "SELECT id, video_id, at, kind, '{\"n\": 99}', prev_hash, hash FROM events WHERE id = 3")
    logged.db.execute("DROP TRIGGER events_chain_insert")
    logged.db.execute("REPLACE INTO events(id, video_id, at, kind, detail, prev_hash, hash) "
                      "SELECT id, video_id, at, kind, '{\"n\": 99}', prev_hash, hash FROM events WHERE id = 3")
    rep = logged.chain_report()
    assert not rep.ok and rep.broken_at == 3 and "changed after it was written" in rep.problem
    assert rep.missing_triggers == ("events_chain_insert",)


def test_backdated_insert_is_refused_and_when_forced_detected(logged):
    with pytest.raises(sqlite3.IntegrityError):
        logged.db.execute("INSERT INTO events(video_id, at, kind, detail) VALUES ('v1', '2001-01-01T00:00:00Z', 'verified', '{}')")
    # A forger who knows the algorithm and hashes the backdated event properly:
    logged.db.execute("DROP TRIGGER events_chain_insert")
    _id, prev, _at = logged.chain_head()
    row = {"video_id": "v1", "source_id": None, "media_sha256": None, "at": "2001-01-01T00:00:00Z", "kind": "verified",
           "detail": "{}"}
    logged.db.execute("INSERT INTO events(video_id, at, kind, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
                      ("v1", row["at"], "verified", "{}", prev, chain.event_hash(prev, row)))
    rep = logged.chain_report()
    assert not rep.ok and rep.broken_at == 6 and "backdated" in rep.problem


def test_drop_trigger_and_delete_is_detected_and_not_silently_repaired(logged, settings):
    logged.db.execute("DROP TRIGGER events_no_delete")
    logged.db.execute("DELETE FROM events WHERE id = 2")
    rep = logged.chain_report()
    assert not rep.ok and rep.broken_at == 3 and "missing" in rep.problem
    logged.close()
    with Store(settings.db_path) as again:  # reopening does not recreate the trigger behind anyone's back
        assert "events_no_delete" in again.chain_report().missing_triggers


def test_deleting_the_newest_events_is_detected(logged):
    logged.db.execute("DROP TRIGGER events_no_delete")
    logged.db.execute("DELETE FROM events WHERE id >= 4")
    rep = logged.chain_report()
    assert not rep.ok and "end of the log" in rep.problem


# -- the full-text indexes follow the segments (FTS5 triggers) -------------------------------------------------------

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
