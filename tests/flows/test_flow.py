"""The whole ingest flow end to end: real yt-dlp, OpenCV, Whisper, tagging and search."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import DEFAULT_MODEL
from pipeline.storage.sqlite.catalogue import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def ingested(prefect_harness, sample_feed, settings):
    from flows.ingest import ingest_flow

    # the default model, as `clipwatch demo` runs it: tiny.en decoding without timestamp tokens (the batched pipeline
    # an ingest uses) hears the bulletin's "nuclear deterrent" as "nuclear determinant"
    settings = dataclasses.replace(settings, model=DEFAULT_MODEL)
    report = ingest_flow([sample_feed], settings)
    return report, settings


def test_ingest_then_search_finds_the_spoken_phrase(ingested):
    report, settings = ingested
    assert report.failed == 0, report.to_dict()
    assert len(report.videos) == 3
    for v in report.videos:
        assert v.stages == {"fetch": "done", "keyframes": "done", "copies": "done", "ocr": "done", "audio": "done", "transcribe": "done", "speakers": "done", "tag": "done"}, v

    runner = CliRunner()
    res = runner.invoke(app, ["--data-dir", str(settings.data_dir), "search", "nuclear deterrent", "--json"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    titles = {g["title"] for g in hits["videos"]}
    # Both speech clips say "nuclear deterrent"; the instrumental does not.
    assert titles == {"Evening News Bulletin — 15 April", "Statement of the Foreign Ministry Spokesman"}
    bulletin = next(g for g in hits["videos"] if g["title"].startswith("Evening"))
    hit = bulletin["hits"][0]
    # "Workers pledged to strengthen the nuclear deterrent" is spoken at about 7–13 s; the hit is timed by the word
    # "nuclear" itself (word timestamps), not by the start of its line.
    assert 5.0 <= hit["start"] <= 13.0 and "deterrent" in hit["text"].lower()
    assert hit["timed_by"] == "word" and hit["start"] >= hit["segment_start"]
    assert "t=" in hit["link"]

    # Segments were embedded after the batch: a query in other words finds the statement by meaning.
    assert report.semantic["embedded"] >= 4 and report.semantic["total"] == report.semantic["embedded"]
    res = runner.invoke(app, ["--data-dir", str(settings.data_dir), "search", "atomic deterrence", "--semantic", "--limit", "3", "--json"])
    assert res.exit_code == 0, res.output
    top3 = [h["text"].lower() for g in json.loads(res.stdout)["videos"] for h in g["hits"]]
    assert any("nuclear deterrent" in t for t in top3), top3

    with Store(settings.db_path) as store:
        vid = bulletin["video_id"]
        kf = store.keyframes(vid)
        assert len(kf) == 3  # cuts at 6 s and 12 s → three shots
        assert store.video_by_sha256(store.get_video(vid)["media_sha256"])["id"] == vid
        tags = {t["category"]: t for t in store.tags(vid)}
        assert set(tags) == {"news", "music", "propaganda"}
        song = next(v for v in report.videos if "Song" in (v.title or ""))
        song_tags = {t["category"]: t for t in store.tags(song.video_id)}
        assert song_tags["music"]["decision"] == 1 and song_tags["music"]["score"] > tags["music"]["score"]


def test_second_run_does_no_work_again(ingested):
    from flows.ingest import ingest_flow

    _, settings = ingested
    feed = ingested[0].sources[0]["source"]
    again = ingest_flow([feed], settings)
    assert again.failed == 0 and again.semantic is None
    for v in again.videos:
        assert v.stages == {"fetch": "skipped", "keyframes": "skipped", "copies": "skipped", "ocr": "skipped", "audio": "skipped", "transcribe": "skipped", "speakers": "skipped", "tag": "skipped"}, v


def test_a_batch_with_bad_inputs_records_each_and_finishes_the_rest(prefect_harness, server, settings, tmp_path):
    """Unreachable, 404, not a video, no audio, silent audio, hostile title: one batch, nothing lost."""
    import socket

    from conftest import SAMPLES, publish_page

    from flows.ingest import ingest_flow
    from pipeline.media.probe import run_ffmpeg

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/watch/x.html"
    no_audio, silent = tmp_path / "noaudio.mp4", tmp_path / "silent.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(no_audio)])
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=4", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
                "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(silent)])
    sources = [
        dead,
        server.url("/watch/missing.html"),
        publish_page(server, "junk", b"not a video\n" * 100, "Junk"),
        publish_page(server, "noaudio", no_audio, "No audio track"),
        publish_page(server, "silent", silent, "Silent track"),
        publish_page(server, "hostile", SAMPLES / "evening-bulletin.mp4", "../../etc/passwd 🚀 <b>x</b>"),
    ]
    report = ingest_flow(sources, settings)
    by_title = {v.title: v for v in report.videos}
    errors = {s["source"]: s.get("error") for s in report.sources}
    # The unreachable host and the 404 fail at discovery, each with a one-line reason.
    assert "refused" in errors[dead].lower() and "404" in errors[sources[1]]
    assert all("\n" not in e for e in errors.values() if e)
    junk = next(v for v in report.videos if "junk" in v.ref)
    assert junk.status == "failed" and junk.stages == {"fetch": "failed"}
    assert by_title["No audio track"].stages["transcribe"] == "not-applicable"
    assert by_title["No audio track"].stages["audio"] == "not-applicable"
    assert by_title["No audio track"].stages["tag"] == "done"
    assert by_title["Silent track"].stages["transcribe"] == "done"
    hostile = by_title["../../etc/passwd 🚀 <b>x</b>"]
    assert hostile.status == "ok" and hostile.stages["transcribe"] == "done"
    assert report.failed == 3
    # Nothing partial anywhere in the archive, and every file is inside it.
    files = [p for p in settings.archive_dir.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".tmp-") or p.suffix == ".part" or ".incoming" in p.parts[-2:]]
    assert all(p.resolve().is_relative_to(settings.archive_dir.resolve()) for p in files)
    with Store(settings.db_path) as store:
        silent_id = by_title["Silent track"].video_id
        assert [s for s in store.segments(silent_id) if not s["flags"]] == []
        kinds = [e["kind"] for e in store.events()]
        assert kinds.count("fetched") == 3 and kinds.count("failed") == 1 and kinds.count("skipped") == 1
