"""Issue 21: `verify` certifies only what is true. One test per failed probe of the hostile round: forged
transcripts, manifests and catalogue rows; lost videos and originals; a rewritten chain against its receipts and kept
heads; S3 objects overwritten under a machine's cache; malformed manifests; unlisted files. Each failed on 9e1825c."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page

from pipeline.preservation.fixity import verify
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage import chain
from pipeline.storage.sqlite.catalogue import EVENT_TRIGGERS

FORGED = "We will launch a chemical attack on Seoul tomorrow."


def cli(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pipeline.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "1000", **(env or {})})


def _transcribed(store, archive, vid: str, text: str = "Workers pledged to strengthen the deterrent.") -> None:
    """What run_transcribe does: transcript files written, rows stored, the manifest recorded."""
    from pipeline.asr import Segment, Transcript, subtitles
    from pipeline.preservation.manifest import record_manifest

    tr = Transcript(language="en", language_probability=0.99, duration=17.6, model="tiny.en", engine="faster-whisper",
                    engine_version="test", segments=[Segment(0.0, 4.0, text), Segment(4.0, 8.0, "The harvest was good.")])
    written = subtitles.write_transcript(tr, archive.video_dir(vid), "transcript")
    store.replace_transcript(vid, store.get_video(vid)["media_sha256"], "original", tr, archive.relpath(written["json"]))
    record_manifest(store, archive, vid)


def _ingest(server, store, archive, name="bulletin", title="Evening News Bulletin", channel="Sample TV",
            media=SAMPLES / "evening-bulletin.mp4") -> str:
    url = publish_page(server, name, media, title, description="The evening news.", upload_date="2019-04-15",
                       channel=channel)
    vid = record_fetch(store, archive, fetch(url, archive), None).video_id
    _transcribed(store, archive, vid)
    return vid


@pytest.fixture
def two(server, store, archive):
    a = _ingest(server, store, archive)
    b = _ingest(server, store, archive, "song", "Song of the Factory", "Other TV", SAMPLES / "song-of-the-factory.mp4")
    assert verify(store, archive).ok
    return a, b


def _by_video(res, vid):
    return [p for p in res.problems if p.video_id == vid]


# -- 1. forged transcripts, manifests and catalogue rows ---------------------------------------------------------

def test_transcript_forged_with_its_manifest_and_the_manifests_row(two, store, archive, data_dir):
    a, _b = two
    folder = archive.video_dir(a)
    (folder / "transcript.txt").write_text(FORGED + "\n")
    m = json.loads((folder / "manifest.json").read_text())
    m["files"]["transcript.txt"] = {"sha256": hashlib.sha256((FORGED + "\n").encode()).hexdigest(),
                                    "size": len(FORGED) + 1}
    data = json.dumps(m).encode()
    (folder / "manifest.json").write_bytes(data)
    store.db.execute("UPDATE manifests SET sha256 = ? WHERE video_id = ?", (hashlib.sha256(data).hexdigest(), a))
    res = cli(data_dir, "verify", "--all")
    assert res.returncode == 1
    assert "manifest.json: the manifest was changed after it was recorded" in res.stderr
    assert "that event " in res.stderr and "Traceback" not in res.stderr


def test_manifests_row_deleted_then_transcript_edited_is_not_a_new_baseline(two, store, archive):
    a, _b = two
    store.db.execute("DELETE FROM manifests WHERE video_id = ?", (a,))
    (archive.video_dir(a) / "transcript.txt").write_text(FORGED + "\n")
    res = verify(store, archive, [a])
    [p] = res.problems
    assert p.status == "corrupt" and p.path.endswith("transcript.txt")
    assert not verify(store, archive, [a]).ok  # and it stays a finding, run after run


@pytest.mark.parametrize("column,value", [("text", FORGED), ("start", 99.0), ("flags", "hallucination")])
def test_forged_segment_rows_are_corrupt(two, store, archive, data_dir, column, value):
    a, b = two
    store.db.execute(f'UPDATE segments SET "{column}" = ? WHERE video_id = ? AND idx = 0', (value, a))
    res = verify(store, archive)
    [p] = res.problems
    assert p.video_id == a and p.status == "corrupt" and p.path == "catalogue:segments"
    assert "original transcript's lines (text, times, flags) in the catalogue differ from what event" in p.message
    assert not _by_video(res, b)


@pytest.mark.parametrize("column,value", [("title", "Forged title"), ("channel", "KCTV"), ("upload_date", "1999-01-01"),
                                          ("status", "removed")])
def test_forged_metadata_is_corrupt(two, store, archive, data_dir, column, value):
    a, _b = two
    store.db.execute(f"UPDATE videos SET {column} = ? WHERE id = ?", (value, a))
    res = cli(data_dir, "verify", a)
    assert res.returncode == 1
    assert f"corrupt {a}  {a}: the metadata (title, channel, dates, status, folder) in the catalogue differ from " \
           "what event" in res.stderr.replace("\n", " ")


def test_forged_tag_is_corrupt_and_a_human_tag_through_clipwatch_passes(two, store, archive, data_dir):
    a, _b = two
    ok = cli(data_dir, "tags", "set", a, "--category", "propaganda", "--value", "yes")
    assert ok.returncode == 0, ok.stderr
    assert verify(store, archive, [a]).ok
    store.db.execute("UPDATE tags SET decision = 0 WHERE video_id = ?", (a,))
    [p] = verify(store, archive, [a]).problems
    assert p.path == "catalogue:tags" and p.status == "corrupt"


def test_folder_set_to_null_still_checks_the_derivatives(two, store, archive):
    a, _b = two
    store.db.execute("UPDATE videos SET folder = NULL WHERE id = ?", (a,))
    (archive.video_dir(a) / "transcript.txt").write_text(FORGED + "\n")
    res = verify(store, archive, [a])
    paths = {p.path for p in res.problems}
    assert "catalogue:videos" in paths and f"videos/{a}/transcript.txt" in paths
    assert res.derivatives_checked > 0


def test_changes_made_through_clipwatch_pass(two, store, archive):
    """A reprocess (new transcript), a new fetch's metadata: new events, and verify passes."""
    a, _b = two
    _transcribed(store, archive, a, "A new transcript from a bigger model.")
    res = verify(store, archive, [a])
    assert res.ok, [p.message for p in res.problems]
    assert sum(1 for e in store.events(a) if e["kind"] == "attested") >= 2


# -- 2. nothing lost silently ------------------------------------------------------------------------------------

def _drop_video(store, archive, vid):
    import shutil

    folder = archive.video_dir(vid)
    with store.transaction():
        gone = store.delete_video_rows(vid)
    for rel in gone:
        archive.abspath(rel).unlink()
    shutil.rmtree(folder)


def test_a_video_deleted_from_the_catalogue_and_disk_is_missing(two, store, archive, data_dir):
    a, b = two
    _drop_video(store, archive, a)
    res = cli(data_dir, "verify", "--all")
    assert res.returncode == 1
    assert f"missing-file {a}  {a}: event" in res.stderr and "is gone from the catalogue" in res.stderr
    assert "1 verified" in res.stdout  # the other video


def test_clipwatch_delete_with_a_reason_is_not_a_loss(two, store, archive, data_dir):
    a, b = two
    res = cli(data_dir, "delete", a, "--why", "takedown order 2026-17")
    assert res.returncode == 0, res.stderr
    assert f"deleted {a}" in res.stdout
    assert not archive.video_dir(a).exists()
    ok = cli(data_dir, "verify", "--all")
    assert ok.returncode == 0, ok.stderr
    [ev] = [json.loads(e["detail"]) for e in store.events(a) if e["kind"] == "deleted"]
    assert ev["why"] == "takedown order 2026-17"
    assert "--why" in cli(data_dir, "delete", b, "--why", " ").stderr  # a reason is required
    done = json.loads(cli(data_dir, "delete", b, "--why", "a second takedown order", "--json").stdout)
    assert done["video_id"] == b and done["why"] == "a second takedown order"


def test_original_swapped_with_only_media_files_changed_is_caught(two, store, archive):
    """The probe: other bytes at the original's path and media_files.sha256 set to their hash (media_fetches left
    alone, so the video's join to its file breaks and the old code checked nothing)."""
    a, _b = two
    old = store.get_video(a)["media_sha256"]
    row = store.media_file(old)
    new_bytes = (SAMPLES / "song-of-the-factory.mp4").read_bytes() + b"x"
    archive.abspath(row["path"]).write_bytes(new_bytes)
    store.db.execute("PRAGMA foreign_keys=OFF")
    store.db.execute("UPDATE media_files SET sha256 = ?, size = ? WHERE sha256 = ?",
                     (hashlib.sha256(new_bytes).hexdigest(), len(new_bytes), old))
    res = verify(store, archive, [a])
    assert not res.ok
    [p] = [p for p in res.problems if p.role == "original"]
    assert "no longer among" in p.message and "fetched" in p.message and p.status == "corrupt"


# -- 3. anchors outside the database -------------------------------------------------------------------------------

def _rewrite_event(store, eid: int, detail: dict) -> None:
    """What an adversary with the database does: rewrite an event and recompute every hash after it."""
    db = store.db
    triggers = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")]
    for name in EVENT_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("UPDATE events SET detail = ? WHERE id = ?", (json.dumps(detail), eid))
    prev = chain.GENESIS
    for row in db.execute("SELECT * FROM events ORDER BY id").fetchall():
        h = chain.event_hash(prev, row)
        db.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, row["id"]))
        prev = h
    for sql in triggers:
        db.execute(sql)


def test_rewritten_chain_is_caught_by_its_receipt_and_a_kept_head(two, store, archive, data_dir, tmp_path):
    from pipeline.testing.tsa import LoopbackTSA

    with LoopbackTSA() as tsa:
        res = cli(data_dir, "verify", "--all", "--tsa", tsa.url, "--json")
        assert res.returncode == 0, res.stderr
    stamp = json.loads(res.stdout)["timestamp"]
    kept = f"{stamp['head_id']}:{stamp['head_hash']}"
    assert cli(data_dir, "verify", "--all", "--head", kept).returncode == 0
    _rewrite_event(store, 1, {"forged": True})
    assert store.chain_report().ok  # the chain alone walks "intact"
    res = cli(data_dir, "verify", "--all")
    assert res.returncode == 1
    assert f"chain rewritten since {stamp['gen_time']}: {stamp['token_path']} stamps event {stamp['head_id']}" \
        in res.stderr.replace("\n", " ")
    (tmp_path / "heads.txt").write_text(f"chain head: {stamp['head_id']} {stamp['head_hash']}  (keep this line elsewhere)\n")
    res = cli(data_dir, "verify", "--all", "--heads", str(tmp_path / "heads.txt"))
    assert res.returncode == 1 and f"the head you kept says {stamp['head_hash'][:16]}" in res.stderr.replace("\n", " ")
    bad = cli(data_dir, "verify", "--all", "--head", "nonsense")
    assert bad.returncode != 0 and bad.stderr.count("error:") == 1 and "Traceback" not in bad.stderr


def test_bag_carries_the_receipts(two, store, archive, data_dir, tmp_path):
    from pipeline.preservation.bag import export_bag
    from pipeline.testing.tsa import LoopbackTSA

    with LoopbackTSA() as tsa:
        stamp = json.loads(cli(data_dir, "verify", "--all", "--tsa", tsa.url, "--json").stdout)["timestamp"]
    export_bag(store, archive, tmp_path / "bag", list(two))
    carried = tmp_path / "bag" / "data" / stamp["token_path"]
    assert carried.is_file() and hashlib.sha256(carried.read_bytes()).hexdigest() == stamp["token_sha256"]


# -- 4. no traceback, no escape ------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"[]", b'{"files":{"x":1}}', b"not json at all", b'{"files":{"../../etc/passwd":'
                                  b'{"sha256":"' + b"0" * 64 + b'","size":1}}}'],
                         ids=["list", "bad-entry", "not-json", "escape"])
def test_malformed_manifest_is_corrupt_and_verify_goes_on(two, store, archive, data_dir, body):
    a, b = two
    (archive.video_dir(a) / "manifest.json").write_bytes(body)
    store.db.execute("UPDATE manifests SET sha256 = ? WHERE video_id = ?", (hashlib.sha256(body).hexdigest(), a))
    res = cli(data_dir, "verify", "--all", "--json")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    out = json.loads(res.stdout)
    bad = [f for f in out["files"] if f["status"] != "ok"]
    assert [f["video_id"] for f in bad] == [a] and bad[0]["role"] == "manifest"
    assert any(f["video_id"] == b and f["status"] == "ok" for f in out["files"])  # the next video was verified


@pytest.mark.parametrize("body,why", [(b"[]", "no \"files\""), (b'{"files":{"x":1}}', "malformed entry"),
                                      (b"\xff", "not JSON"), (b'{"files":{"../../etc/passwd":{}}}', "outside"),
                                      (b'{"files":{"/etc/passwd":{}}}', "outside")])
def test_manifest_parse_never_raises_and_confines_paths(body, why):
    from pipeline.preservation.manifest import parse

    entries, reason = parse(body)
    assert entries is None and why in reason


def test_unlisted_file_fails_strict_and_stays_out_of_the_bag(two, store, archive, data_dir, tmp_path):
    a, _b = two
    planted = archive.video_dir(a) / "keyframes" / "planted.jpg"
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(b"\xff\xd8 planted")
    assert cli(data_dir, "verify", "--all").returncode == 0  # reported, not a failure by default
    res = cli(data_dir, "verify", "--all", "--strict")
    assert res.returncode == 1 and f"unlisted {a}  videos/{a}/keyframes/planted.jpg" in res.stderr
    out = cli(data_dir, "export", "bag", str(tmp_path / "bag"), a)
    assert out.returncode == 0 and "planted.jpg: not in the video's manifest (left out" in out.stderr
    assert not (tmp_path / "bag" / "data" / "videos" / a / "keyframes" / "planted.jpg").exists()
    assert cli(data_dir, "export", "bag", str(tmp_path / "bag2"), a, "--include-unlisted").returncode == 0
    assert (tmp_path / "bag2" / "data" / "videos" / a / "keyframes" / "planted.jpg").is_file()


def test_old_archive_without_digests_says_so_and_records_a_baseline(server, store, archive, data_dir):
    """An archive made before attested events: its facts are not failed, the note says they were not recorded."""
    vid = _ingest(server, store, archive)
    _rewrite_without_attested(store)
    res = cli(data_dir, "verify", "--all")
    assert res.returncode == 0, res.stderr
    assert "not recorded before clipwatch recorded catalogue digests" in res.stderr.replace("\n", " ")
    assert verify(store, archive, [vid]).ok
    store.db.execute("UPDATE segments SET text = ? WHERE video_id = ?", (FORGED, vid))
    assert not verify(store, archive, [vid]).ok  # from the baseline on, a forgery shows


def _rewrite_without_attested(store) -> None:
    """The same log as an older clipwatch would have written it: no attested events (and a valid chain)."""
    db = store.db
    triggers = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")]
    for name in EVENT_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    rows = [dict(r) for r in db.execute("SELECT * FROM events WHERE kind != 'attested' ORDER BY id").fetchall()]
    db.execute("DELETE FROM events")
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
    prev = chain.GENESIS
    for i, row in enumerate(rows, 1):
        row["id"] = i
        h = chain.event_hash(prev, row)
        db.execute("INSERT INTO events(id, video_id, source_id, media_sha256, at, kind, detail, prev_hash, hash)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (i, row["video_id"], row["source_id"], row["media_sha256"],
                                                          row["at"], row["kind"], row["detail"], prev, h))
        prev = h
    for sql in triggers:
        db.execute(sql)


# -- PostgreSQL + S3 -------------------------------------------------------------------------------------------------


def test_probes_on_postgres_and_s3(server, pg, s3, tmp_path):
    """On the scale-out backends: a forged segment and title, an S3 object overwritten under a machine's cached
    copy, a malformed manifest, a lost video — each caught, no traceback; a change through clipwatch passes."""
    from pipeline.storage.base import open_blob_store
    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    bucket = f"clipwatch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    blobs = open_blob_store(f"s3://{bucket}/archive", cache_dir=tmp_path / "cache")
    with PostgresCatalogue(pg.create_database(f"v_{uuid.uuid4().hex[:10]}")) as cat:
        a = _ingest(server, cat, blobs)
        b = _ingest(server, cat, blobs, "song", "Song of the Factory", "Other TV", SAMPLES / "song-of-the-factory.mp4")
        res = verify(cat, blobs)
        assert res.ok, [p.message for p in res.problems]
        # A forged line and title.
        cat.conn.execute("UPDATE segments SET text = %s WHERE video_id = %s AND idx = 0", (FORGED, a))
        cat.conn.execute("UPDATE videos SET title = %s WHERE id = %s", ("Forged", a))
        got = {p.path for p in verify(cat, blobs, [a]).problems}
        assert got == {"catalogue:segments", "catalogue:videos"}
        # The object overwritten in the store; this machine's cache still holds the true bytes.
        key = f"archive/videos/{b}/transcript.txt"
        assert (blobs.root / "videos" / b / "transcript.txt").is_file()
        s3.client().put_object(Bucket=bucket, Key=key, Body=FORGED.encode())
        [p] = verify(cat, blobs, [b]).problems
        assert p.path == f"videos/{b}/transcript.txt" and p.status == "corrupt"
        # A malformed manifest (its row updated to match): a finding, not a traceback.
        s3.client().put_object(Bucket=bucket, Key=f"archive/videos/{b}/manifest.json", Body=b"[]")
        cat.conn.execute("UPDATE manifests SET sha256 = %s WHERE video_id = %s", (hashlib.sha256(b"[]").hexdigest(), b))
        [p] = verify(cat, blobs, [b]).problems
        assert p.role == "manifest" and p.status == "corrupt"
        # A lost video.
        with cat.transaction():
            cat.delete_video_rows(a)
        res = verify(cat, blobs)
        assert any(p.video_id == a and p.role == "video" and p.status == "missing-file" for p in res.problems)


# -- 6. exports that any tool opens -------------------------------------------------------------------------------

EVIL = '=HYPERLINK("http://evil.example/x","Click")'
NAMES = [EVIL, "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", " =1+1", "\uff1d1+1", "KCTV\x0bnews", "esc\x1b[31m", "plain"]


def _network():
    from pipeline.copies.network import Edge, Network, Node

    nodes = [Node(channel=n, videos=2, copies=1, copy_share=0.5, registry=None, status="available") for n in NAMES]
    edges = [Edge(from_=NAMES[i], to=NAMES[i + 1], videos=1, median_delay_days=1.0) for i in range(len(NAMES) - 1)]
    return Network(nodes=nodes, edges=edges)


def _no_formula(text: str) -> list[list[str]]:
    import csv
    import io

    def is_formula(cell: str) -> bool:  # what Excel, LibreOffice and Sheets run: = + - @ (also full-width), tab, CR
        return cell.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

    rows = list(csv.reader(io.StringIO(text)))
    assert rows and not any(is_formula(cell) for row in rows for cell in row), rows
    return rows


def test_network_csv_neutralises_formulas_and_keeps_the_names():
    from pipeline.copies.network import to_csv

    rows = _no_formula(to_csv(_network()))
    assert rows[1][0] == "'" + EVIL and rows[-1][1] == "plain"


def test_graphml_and_svg_with_control_characters_parse():
    import xml.etree.ElementTree as ET

    import networkx as nx

    from pipeline.copies.network import to_graphml, to_svg

    text = to_graphml(_network())
    ET.fromstring(text.encode())
    g = nx.read_graphml(__import__("io").BytesIO(text.encode()))
    assert EVIL in g.nodes and "KCTV\ufffdnews" in g.nodes and len(g.edges) == len(NAMES) - 1
    ET.fromstring(to_svg(_network()).encode())


def test_catalogue_search_and_trends_csv_neutralise_formulas(server, store, archive, tmp_path):
    from pipeline.preservation.bag import export_catalogue
    from pipeline.search.export import render
    from pipeline.search.views import TrendRow, Trends

    vid = _ingest(server, store, archive, title="-1+1", channel=EVIL)
    export_catalogue(store, tmp_path / "c.csv", "csv")
    rows = _no_formula((tmp_path / "c.csv").read_text())
    assert any("'" + EVIL in row for row in rows)
    hit = {"video_id": vid, "title": "@x", "channel": EVIL, "text": "+1", "kind": "original"}
    _no_formula(render([hit], "csv"))
    t = Trends(query=None, mode="word", rows=[TrendRow("2019-04", n, 1, 1) for n in NAMES], periods=["2019-04"],
               channels=NAMES, total_hits=len(NAMES), undated_hits=0)
    _no_formula(t.to_csv())


# -- 7. trusted text that is true ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "He went to the 1st floor and went to the 1st floor and went to the 1st floor.",
    "We will build the dam, and we will build the dam, and we will build the dam.",
    "the leader visited the farm and then the leader visited the farm and then the leader visited the farm",
    "they marched to the square or they marched to the square or they marched to the square",
])
def test_a_clause_joined_by_and_three_times_is_a_loop(text):
    from pipeline.asr import Segment
    from pipeline.asr.flags import flag_segment

    assert flag_segment(Segment(0.0, 4.0, text, -0.3, 0.1, 2.0)) == ["repetition"]


@pytest.mark.parametrize("text", [
    "Workers and farmers went to the 1st floor and then to the square.",
    "We walked and walked and walked to the station.",
    "Bread and butter, salt and pepper, and then the soup.",
])
def test_speech_with_joins_stays_trusted(text):
    from pipeline.asr import Segment
    from pipeline.asr.flags import flag_segment

    assert flag_segment(Segment(0.0, 6.0, text, -0.3, 0.1, 1.4)) == []


# -- 5. direction of copying from evidence, not claims -----------------------------------------------------------

def _audio_match(vid: str, seconds: float = 30.0):
    from pipeline.copies import fingerprint as fp

    return fp.AudioMatch(vid, 0.0, 1.0, seconds, 0, seconds, 0.0, seconds, 0.02, 40, 200, 60.0, seconds, 0.9)


def test_a_reupload_claiming_1999_does_not_make_the_source_a_copier():
    """The probe: the true source archived first (2024), a re-upload archived last but claiming 1999."""
    from pipeline.copies.copies import VideoFacts, decide_links
    from pipeline.copies.network import NetVideo, _LinkRow, build_network

    facts = {"src": VideoFacts("src", "2024-03-01", "2024-03-02T00:00:00Z", 30.0, "KCTV")}
    reupload = VideoFacts("re", "1999-01-01", "2024-05-01T00:00:00Z", 30.0, "Relay")
    [link] = decide_links(reupload, [], [_audio_match("src")], facts)
    assert link.direction == "uncertain"
    assert link.detail["claimed_upload_dates"]["original"] == "1999-01-01"
    assert link.detail["first_archived"]["copy"] == "2024-03-02T00:00:00Z"
    videos = [NetVideo("src", "KCTV", "2024-03-01", "2024-03-02T00:00:00Z"),
              NetVideo("re", "Relay", "1999-01-01", "2024-05-01T00:00:00Z")]
    net = build_network(videos, [_LinkRow(link.original, link.copy, link.confidence, link.direction)])
    assert net.edges == [] and all(n.copies == 0 for n in net.nodes) and net.uncertain == [("re", "src")]
    # observed and claimed agree: the arrow is drawn from the first archived
    honest = VideoFacts("re", "2024-04-01", "2024-05-01T00:00:00Z", 30.0, "Relay")
    [link] = decide_links(honest, [], [_audio_match("src")], facts)
    assert (link.original, link.copy, link.direction) == ("src", "re", "observed")


def test_network_labels_channels_by_id_or_url_never_by_name_alone(tmp_path):
    from pipeline.copies.network import NetVideo, build_network
    from pipeline.tagging.signals.source import load_registry

    reg = tmp_path / "channels.toml"
    reg.write_text('version = "t"\n[[channel]]\nname = "Korean Central Television"\nkind = "state-media"\n'
                   'aliases = ["KCTV"]\nurls = ["kcna.kp"]\nchannel_ids = ["UC-kctv-official"]\ncitation = "x"\n',
                   encoding="utf-8")
    registry = load_registry(reg)
    videos = [NetVideo("a", "KCTV", channel_url="https://www.youtube.com/@someone"),
              NetVideo("b", "Official", channel_id="UC-kctv-official"),
              NetVideo("c", "Mirror", webpage_url="https://kcna.kp/video/1")]
    labels = {n.channel: n.registry for n in build_network(videos, [], registry=registry).nodes}
    assert labels == {"KCTV": None, "Official": "Korean Central Television", "Mirror": "Korean Central Television"}


def test_a_station_jingle_shared_by_many_videos_links_nothing_and_a_copy_still_links():
    """Recurring material (in >= 3 videos of >= 2 channels) is down-weighted before linking: two different 9 s
    bulletins that share only a 4.5 s jingle are not copies; a whole re-upload (jingle included) still is."""
    import numpy as np

    from pipeline.copies.copies import CopyFinder, VideoFacts
    from pipeline.copies.fingerprint import ITEM_SECONDS, AudioFingerprint

    rng = np.random.default_rng(21)
    n_jingle, n_total = int(4.5 / ITEM_SECONDS), int(9.0 / ITEM_SECONDS)

    def fp(items):
        items = np.asarray(items, np.uint32)
        return AudioFingerprint(items, np.ones(len(items), bool), len(items) * ITEM_SECONDS)

    jingle = rng.integers(1, 2**32 - 1, n_jingle, dtype=np.uint32)
    bulletins = [np.concatenate([jingle, rng.integers(1, 2**32 - 1, n_total - n_jingle, dtype=np.uint32)])
                 for _ in range(4)]
    finder = CopyFinder()
    for i, (items, channel) in enumerate(zip(bulletins[:3], ["Station", "Station", "Relay"])):
        finder.add(VideoFacts(f"b{i}", "2024-01-0%d" % (i + 1), f"2024-01-0{i + 1}T00:00:00Z", 9.0, channel), audio=fp(items))
    new = VideoFacts("b3", "2024-01-05", "2024-01-05T00:00:00Z", 9.0, "Station")
    assert finder.find(new, audio=[fp(bulletins[3])]) == []
    reupload = VideoFacts("copy", "2024-01-06", "2024-01-06T00:00:00Z", 9.0, "Relay")
    [link] = finder.find(reupload, audio=[fp(bulletins[0])])
    assert link.original == "b0" and link.method == "audio" and link.detail["recurring_seconds"] > 4.0
