"""The schema itself, at the SQL level: the one test file that runs raw SQL on a catalogue (SQLite and PostgreSQL).

Everything else talks to the catalogue through its methods (``tests/storage/test_catalogue_contract.py`` runs that contract
on SQLite and PostgreSQL). Here are the guarantees that live in the database, below those methods: SQLite's triggers
keep the events append-only and chained, the FTS5 indexes follow the segments and hold the shadow text, the file is
in WAL mode; PostgreSQL's migrations, append-only events (trigger and privilege), index plans and stored shadow
text; and what an adversary who can write the database does, which ``verify`` must notice (the tampering helpers
``test_faults`` uses).
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import psycopg
import pytest
from test_postgres_catalogue import both, forgiving, pg_url  # noqa: F401  (the PostgreSQL catalogues those tests build)

from pipeline.asr import Segment, Transcript
from pipeline.search.facade import SearchQuery, search
from pipeline.storage import chain
from pipeline.storage.base import open_catalogue
from pipeline.storage.postgres import hangul
from pipeline.storage.postgres.catalogue import PostgresCatalogue
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


# -- PostgreSQL: migrations, triggers and privileges, index plans, the stored shadow text ---------------------------

def test_korean_two_syllables_use_the_bigram_index(both):
    _lite, pgc, _ = both
    with pgc.transaction():
        pgc.conn.execute("SET LOCAL enable_seqscan = off")  # the table is tiny: ask whether the index can serve
        plan = "\n".join(r["QUERY PLAN"] for r in pgc.conn.execute(
            "EXPLAIN SELECT id FROM segments s WHERE s.flags = '' AND s.bigrams @@ %s::tsquery",
            (hangul.tsquery_literal("조선"),)).fetchall())
    assert "segments_bigrams" in plan
    assert hangul.bigrams("핵무력을 강화") == [("핵무", 2), ("무력", 3), ("력을", 4), ("강화", 6)]
    assert hangul.tsquery_literal("핵무력") == "'핵무' <-> '무력'" and hangul.tsquery_literal("핵") is None


def test_rum_index_serves_the_ranked_query(both):
    _lite, pgc, _ = both
    with pgc.transaction():
        pgc.conn.execute("SET LOCAL enable_seqscan = off")  # the table is tiny: ask whether the index can serve
        plan = "\n".join(r["QUERY PLAN"] for r in pgc.conn.execute(
            "EXPLAIN SELECT id FROM segments s WHERE s.flags = '' AND s.fts @@ to_tsquery('nuclear') "
            "ORDER BY s.fts <=> to_tsquery('nuclear') LIMIT 5").fetchall())
    assert "segments_fts_rum" in plan and "Sort" not in plan


def test_events_are_append_only_by_trigger_and_privilege(pg, pg_url):
    with PostgresCatalogue(pg_url) as c:
        c.add_event("fetched", detail={"n": 1})
        for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events", "TRUNCATE events"):
            with pytest.raises(psycopg.Error, match="events are append-only"):
                c.conn.execute(sql)
        assert [e["kind"] for e in c.events()] == ["fetched"]
    role = f"worker_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'w-pass' IN ROLE clipwatch_writer")
    worker_url = pg_url.replace("postgres:" + pg.password, f"{role}:w-pass")
    with PostgresCatalogue(worker_url) as w:  # a worker writes events, videos, … but cannot rewrite events
        w.add_event("verified", detail={"n": 2})
        w.upsert_source("https://example.org/feed", kind="channel")
        for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events", "TRUNCATE events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                w.conn.execute(sql)
        assert [e["kind"] for e in w.events()] == ["fetched", "verified"]


def test_migrations_are_versioned_and_idempotent(pg_url):
    with PostgresCatalogue(pg_url) as c:
        versions = [r["version"] for r in c.conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [v for v, _, _ in PostgresCatalogue.migrations()] and len(versions) >= 3
        assert c.migrate() == []
        assert c.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()["value"] == str(versions[-1])
    with open_catalogue(pg_url) as again:  # registered by URL scheme
        assert isinstance(again, PostgresCatalogue) and again.schema_version() == versions[-1]


def test_events_are_a_hash_chain_on_postgres(pg_url):
    """Schema v2 on PostgreSQL: one chain for every writer (ids from the chain, no gap after a rollback), inserts
    that do not extend it refused, a rewritten event and a disabled trigger found by the walk."""
    import threading

    with PostgresCatalogue(pg_url) as a, PostgresCatalogue(pg_url) as b:
        a.add_event("fetched", detail={"n": 0})
        with pytest.raises(RuntimeError):
            with a.transaction():
                a.add_event("verified", detail={"rolled": "back"})
                raise RuntimeError("the stage failed")
        writers = [threading.Thread(target=lambda c=c: [c.add_event("verified", detail={"i": i}) for i in range(20)])
                   for c in (a, b)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(60)
        rep = a.chain_report()
        assert rep.ok, rep.problem
        assert rep.events == 41 and rep.head_id == 41 and [e["id"] for e in a.events()] == list(range(1, 42))
        assert a.chain_head()[:2] == (41, rep.head_hash)
        last = a.events()[-1]
        for values in ((41, last["hash"]), (42, "0" * 64)):  # a reused id; a link to the wrong event
            with pytest.raises(psycopg.Error, match="append-only and hash-chained"):
                a.conn.execute("INSERT INTO events(id, at, kind, detail, prev_hash, hash) VALUES (%s, %s, 'x', '{}', %s, %s)",
                               (values[0], last["at"], values[1], "f" * 64))
        # The owner can switch the protection off: the walk says so, and finds the rewritten event.
        a.conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
        a.conn.execute("UPDATE events SET detail = '{\"n\": 99}' WHERE id = 1")
        rep = a.chain_report()
        assert not rep.ok and rep.broken_at == 1 and "changed after it was written" in rep.problem
        assert rep.missing_triggers == ("events_no_update",)


def test_a_version_4_catalogue_is_upgraded_to_schema_v2(pg_url, monkeypatch):
    """media_files rows split into files + fetches (a shared file's second video rebuilt from its `fetched` event),
    existing events numbered and chained, `upgraded` recorded, and the result reads like a new catalogue."""
    every = PostgresCatalogue.migrations()
    monkeypatch.setattr(PostgresCatalogue, "migrations", staticmethod(lambda: [m for m in every if m[0] <= 4]))
    with PostgresCatalogue(pg_url) as old:
        assert old.schema_version() == 4
        for vid in ("v-one", "v-two"):
            old.conn.execute("INSERT INTO videos(id, extractor, platform_id, webpage_url, source_url, archived_at, "
                             "media_sha256) VALUES (%s, 'generic', %s, %s, %s, '2024-01-01T00:00:00Z', %s)",
                             (vid, vid, f"https://e.org/{vid}", f"https://e.org/{vid}", "a" * 64))
        old.conn.execute("INSERT INTO media_files(sha256, video_id, path, size, fetched_at, fetcher, format_id) "
                         "VALUES (%s, 'v-one', 'media/aa/x.mp4', 5, '2024-01-01T00:00:00Z', 'yt-dlp', '18')", ("a" * 64,))
        for vid, at in (("v-one", "2024-01-01T00:00:00Z"), ("v-two", "2024-01-02T00:00:00Z")):
            old.conn.execute("INSERT INTO events(video_id, media_sha256, at, kind, detail) VALUES (%s, %s, %s, 'fetched', %s)",
                             (vid, "a" * 64, at, json.dumps({"fetcher": "yt-dlp", "format_id": "22", "sha256": "a" * 64})))
    monkeypatch.undo()
    with PostgresCatalogue(pg_url) as c:
        assert c.upgraded is not None and c.upgraded["from"] == 4 and c.schema_version() == every[-1][0]
        assert c.upgraded["steps"][5] == {"events_chained": 2, "media_fetches": 2}
        assert c.videos_holding("a" * 64) == ["v-one", "v-two"]
        assert c.video_media("v-one")["format_id"] == "18" and c.video_media("v-two")["format_id"] == "22"
        assert [dict(m)["path"] for m in c.media_rows()] == ["media/aa/x.mp4"]
        rep = c.chain_report()
        assert rep.ok, rep.problem
        assert [e["kind"] for e in c.events()] == ["fetched", "fetched", "upgraded"]
        assert c.fetched_events("v-two", "a" * 64)[0]["id"] == 2


def test_shadow_text_is_stored_and_rebuilt_when_normalisation_changes(forgiving, monkeypatch):
    """`norm` holds the shadow text only where it differs from the text; a new normalize.VERSION rebuilds it on
    open (as SQLite rebuilds its indexes), and a catalogue opened before 0007 got it filled by the migration."""
    from pipeline.storage.postgres import catalogue as pgcat

    _lite, pgc, _ = forgiving
    rows = {r["text"]: r["norm"] for r in pgc.conn.execute("SELECT text, norm FROM segments")}
    assert rows["The ceasefire held for 25 days on Baker street."] is None
    assert rows["To hear the menu again press five to repeat."] == "To hear the menu again press 5 to repeat."
    assert rows["평양에서 이천십구년에 열린 대회"].endswith("xqaltx 2019년에")
    pgc.conn.execute("UPDATE segments SET norm = NULL, bigrams = ''")
    monkeypatch.setattr(pgcat, "SEARCH_INDEX_VERSION", "test-version")
    with PostgresCatalogue(pgc.url) as again:
        assert again._one("SELECT value FROM meta WHERE key = 'search_index_version'")["value"] == "test-version"
    monkeypatch.undo()
    assert {r["text"]: r["norm"] for r in pgc.conn.execute("SELECT text, norm FROM segments")} == rows
    assert search(pgc, SearchQuery("평양"), archive_dir=_).hit_count == 2


def test_a_version_6_catalogue_gets_the_shadow_text(pg_url, monkeypatch):
    from pipeline.domain import VideoRecord

    every = PostgresCatalogue.migrations()
    monkeypatch.setattr(PostgresCatalogue, "migrations", staticmethod(lambda: [m for m in every if m[0] <= 6]))
    with PostgresCatalogue(pg_url) as old:
        assert old.schema_version() == 6
        old.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="https://e.org/v", source_url="https://e.org/v"), "v")
        tid = old._one("INSERT INTO transcripts(video_id, media_sha256, kind, language, model, engine, created_at) "
                       "VALUES ('v', 's', 'original', 'en', 'm', 'e', '2024-01-01T00:00:00Z') RETURNING id")["id"]
        old.conn.execute("INSERT INTO segments(transcript_id, video_id, idx, start, \"end\", text, flags) VALUES "
                         "(%s, 'v', 0, 0, 2, 'Mr. Kim said five times', ''), (%s, 'v', 1, 2, 4, 'five five five', 'repetition')",
                         (tid, tid))
    monkeypatch.undo()
    with PostgresCatalogue(pg_url) as c:
        assert c.upgraded["steps"][7] == {"segments": 2, "normalised": 2}
        res = search(c, SearchQuery('"mister kim said 5"'), archive_dir=None)
        assert [h.text for h in res.hits] == ["Mr. Kim said five times"]
        assert [(h.text, h.doubtful) for h in search(c, SearchQuery("5 5"), archive_dir=None).hits] == \
            [("Mr. Kim said five times", False), ("five five five", True)]


def test_a_very_common_word_is_listed_newest_first_on_postgres(pg_url, monkeypatch):
    """As on SQLite (issue 13): a query whose every word is in more than COMMON_DOCS lines is listed newest first,
    with a notice; PostgreSQL's count comes from its statistics of the word index (ANALYZE)."""
    from pipeline.asr import Segment, Transcript
    from pipeline.domain import VideoRecord
    from pipeline.search import fulltext

    with PostgresCatalogue(pg_url) as c:
        c.upsert_video(VideoRecord(id="v", extractor="x", platform_id="v", webpage_url="u", source_url="u"), "v")
        c.replace_transcript("v", "sha", "original", Transcript("en", 1.0, 60, "m", "e", "1", segments=[
            Segment(i, i + 1, f"the people line {i}" + " people" * (i % 3)) for i in range(40)]), None)
        c.conn.execute("ANALYZE segments")
        assert c.search_index.term_docs("people") == 40 and c.search_index.term_docs("zebra") == 0
        ranked = search(c, SearchQuery("people", limit=5), archive_dir=None)
        assert ranked.notice is None and ranked.hits[0].score is not None
        monkeypatch.setattr(fulltext, "COMMON_DOCS", 30)
        res = search(c, SearchQuery("people", limit=5), archive_dir=None)
        assert "newest first" in res.notice
        assert [h.segment_start for h in res.hits] == [39, 38, 37, 36, 35]
        assert search(c, SearchQuery("\"the people\"", limit=5), archive_dir=None).notice is None
