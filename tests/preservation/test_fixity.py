"""Fixity: re-hash archived originals; a flipped byte, a truncated file and a deleted file are each caught and recorded."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

from pipeline.preservation.fixity import verify
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch


@pytest.fixture
def archived(server, store, archive):
    """One video really ingested from the loopback site (no Whisper)."""
    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin",
                       description="The evening news.", upload_date="2019-04-15", channel="Sample TV")
    out = record_fetch(store, archive, fetch(url, archive), None)
    media = store.media_file(store.get_video(out.video_id)["media_sha256"])
    return out.video_id, archive.abspath(media["path"])


def _events(store, vid, kind):
    return [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == kind]


def test_intact_file_is_verified_with_progress(archived, store, archive):
    vid, path = archived
    calls = []
    res = verify(store, archive, [vid], progress=lambda done, total, name: calls.append((done, total)))
    assert res.ok and res.counts()["ok"] == 1
    assert res.bytes_hashed == path.stat().st_size
    assert calls and calls[-1] == (path.stat().st_size, path.stat().st_size)
    ev = _events(store, vid, "verified")
    assert len(ev) == 1 and ev[0]["actual_sha256"] == ev[0]["expected_sha256"]


def test_flipped_byte_is_corrupt(archived, store, archive):
    vid, path = archived
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    res = verify(store, archive, [vid])
    assert not res.ok
    [p] = res.problems
    assert p.status == "corrupt" and p.actual_size == p.expected_size and p.actual_sha256 != p.expected_sha256
    [ev] = _events(store, vid, "corrupt")
    assert ev["expected_sha256"] != ev["actual_sha256"]
    assert not _events(store, vid, "verified")


def test_truncated_file_is_corrupt(archived, store, archive):
    vid, path = archived
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    res = verify(store, archive)  # --all
    [p] = res.problems
    assert p.status == "corrupt" and p.actual_size == len(data) - 1000 and "truncated" in p.message
    assert len(_events(store, vid, "corrupt")) == 1


def test_deleted_file_is_missing(archived, store, archive):
    vid, path = archived
    path.unlink()
    res = verify(store, archive, [vid])
    [p] = res.problems
    assert p.status == "missing-file" and p.actual_sha256 is None
    [ev] = _events(store, vid, "missing-file")
    assert ev["path"] == p.path


def test_verify_cli_exits_non_zero_and_says_what_is_wrong(archived, store, data_dir):
    from pipeline.cli.app import app

    vid, path = archived
    runner = CliRunner()
    ok = runner.invoke(app, ["--data-dir", str(data_dir), "verify", "--all"])
    assert ok.exit_code == 0, ok.output
    path.write_bytes(b"not the original")
    bad = runner.invoke(app, ["--data-dir", str(data_dir), "verify", vid])
    assert bad.exit_code != 0
    assert "corrupt" in bad.output and vid in bad.output
    js = runner.invoke(app, ["--data-dir", str(data_dir), "verify", "--all", "--json"])
    assert js.exit_code != 0
    out = json.loads(js.stdout)
    assert out["ok"] is False and out["counts"]["corrupt"] == 1


def test_verify_flow(prefect_harness, archived, settings):
    from flows.verify import verify_flow

    vid, path = archived
    path.unlink()
    res = verify_flow(str(settings.data_dir))
    assert res.videos == [vid] and [p.status for p in res.problems] == ["missing-file"]
