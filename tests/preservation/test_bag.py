"""BagIt export (validated with the bagit library) and catalogue CSV/JSON."""

from __future__ import annotations

import csv
import json

import bagit
import pytest
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.preservation import bag
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch, run_keyframes


@pytest.fixture
def two_videos(server, store, archive):
    """Two channels; the first video has keyframes and a transcript, like a fully ingested one."""
    from pipeline.asr import Segment, Transcript, subtitles

    a = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin",
                     description="The evening news.", upload_date="2019-04-15", channel="Sample TV")
    b = publish_page(server, "song", SAMPLES / "song-of-the-factory.mp4", "Song of the Victorious Factory",
                     description="A march.", upload_date="2018-06-25", channel="Sample Music")
    va = record_fetch(store, archive, fetch(a, archive), None).video_id
    vb = record_fetch(store, archive, fetch(b, archive), None).video_id
    run_keyframes(store, archive, va)
    tr = Transcript(language="en", language_probability=0.99, duration=17.6, model="tiny.en", engine="faster-whisper",
                    engine_version="test", segments=[Segment(0.0, 4.0, "Workers pledged to strengthen the nuclear deterrent.")])
    written = subtitles.write_transcript(tr, archive.video_dir(va), "transcript")
    store.replace_transcript(va, store.get_video(va)["media_sha256"], "original", tr, archive.relpath(written["json"]))
    from pipeline.preservation.manifest import record_manifest

    record_manifest(store, archive, va)  # what run_transcribe does: unlisted files stay out of a bag (issue 21)
    return va, vb


def test_bag_validates_and_holds_originals_derivatives_and_provenance(two_videos, store, archive, tmp_path):
    va, vb = two_videos
    dest = tmp_path / "out" / "bag"
    res = bag.export_bag(store, archive, dest, [va, vb], selection="test")
    b = bagit.Bag(str(dest))
    b.validate()  # re-hashes every payload file against the manifest
    assert "sha256" in b.algorithms and res.valid and res.files == len(list(b.payload_files()))
    assert b.info["External-Identifier"] == res.bag_id

    data = dest / "data"
    for vid in (va, vb):
        v = store.get_video(vid)
        original = data / "videos" / vid / "original" / store.media_file(v["media_sha256"])["path"].rsplit("/", 1)[1]
        assert original.is_file()
        assert b.entries[f"data/videos/{vid}/original/{original.name}"]["sha256"] == v["media_sha256"]
        assert (data / "videos" / vid / "info.json").is_file()
        assert (data / "videos" / vid / "fetch-provenance.json").is_file()
        prov = json.loads((data / "videos" / vid / "provenance.json").read_text())
        assert prov["video"]["id"] == vid and prov["media_files"][0]["sha256"] == v["media_sha256"]
        assert prov["media_files"][0]["fetcher"] == "yt-dlp" and prov["media_files"][0]["http_headers"]["Content-Type"] == "video/mp4"
        assert [e["kind"] for e in prov["events"]][0] == "fetched"
    assert len(list((data / "videos" / va / "keyframes").glob("*.jpg"))) == 3
    assert (data / "videos" / va / "transcript.json").is_file()
    prov_a = json.loads((data / "videos" / va / "provenance.json").read_text())
    assert prov_a["derivatives"]["keyframes"][0]["tool_version"] and prov_a["derivatives"]["transcripts"][0]["model"] == "tiny.en"

    top = json.loads((data / "provenance.json").read_text())
    assert set(top["videos"]) == {va, vb} and top["bag_id"] == res.bag_id
    assert top["videos"][va]["events"][0]["kind"] == "fetched"
    cat = json.loads((data / "catalogue.json").read_text())
    assert {r["id"] for r in cat} == {va, vb}

    for vid in (va, vb):
        [ev] = [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == "exported"]
        assert ev["bag"] == str(dest.resolve()) and ev["bag_id"] == res.bag_id
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no partial bag left behind


def test_bag_refuses_a_corrupt_original_and_leaves_nothing(two_videos, store, archive, tmp_path):
    va, _ = two_videos
    media = archive.abspath(store.media_file(store.get_video(va)["media_sha256"])["path"])
    media.write_bytes(media.read_bytes()[:-10])
    dest = tmp_path / "bag"
    with pytest.raises(bag.ExportError, match="verify"):
        bag.export_bag(store, archive, dest, [va])
    assert not dest.exists() and not list(tmp_path.glob(".bag.partial-*"))
    assert "exported" not in [e["kind"] for e in store.events(va)]


def test_selection_by_channel_query_and_ids(two_videos, store, archive):
    va, vb = two_videos
    assert bag.select_videos(store, channel="Sample Music") == [vb]
    assert bag.select_videos(store, query="deterrent") == [va]      # transcript text, through pipeline.search
    assert bag.select_videos(store, query="Victorious") == [vb]     # title
    assert bag.select_videos(store, video_ids=[va[:12]]) == [va]
    assert set(bag.select_videos(store)) == {va, vb}


def test_export_cli_bag_csv_json(two_videos, store, data_dir, tmp_path):
    va, vb = two_videos
    runner = CliRunner()
    out = runner.invoke(app, ["--data-dir", str(data_dir), "export", "bag", str(tmp_path / "music"), "--channel", "Sample Music", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["videos"] == [vb]
    bagit.Bag(str(tmp_path / "music")).validate()

    out = runner.invoke(app, ["--data-dir", str(data_dir), "export", "csv", str(tmp_path / "cat.csv")])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader((tmp_path / "cat.csv").open(encoding="utf-8")))
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {va, vb}
    assert by_id[va]["sha256"] == store.get_video(va)["media_sha256"] and by_id[va]["upload_date"] == "2019-04-15"
    assert by_id[va]["webpage_url"].endswith("/watch/bulletin.html") and by_id[va]["archived_at"]

    out = runner.invoke(app, ["--data-dir", str(data_dir), "export", "json", str(tmp_path / "cat.json"), vb])
    assert out.exit_code == 0, out.output
    [rec] = json.loads((tmp_path / "cat.json").read_text())
    assert rec["id"] == vb and rec["status"] == "available" and rec["size"] > 0
