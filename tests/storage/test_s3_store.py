"""Originals on an S3-compatible store (moto's server on loopback): content-addressed keys, uploads verified before
the catalogue points at them, verify streaming from the store, the web UI serving media with Range, and faults
(missing bucket, refused connection, a store that never answers) as one error line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest
from conftest import SAMPLES, publish_page
from fastapi.testclient import TestClient

from pipeline.config import Settings
from pipeline.errors import ConfigError, StorageError
from pipeline.preservation.fixity import verify
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage.base import open_blob_store
from pipeline.storage.s3 import S3Store
from pipeline.testing.s3 import refused_endpoint, silent_server


@pytest.fixture
def bucket(s3) -> str:
    name = f"clipwatch-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


@pytest.fixture
def blobs(bucket, tmp_path) -> S3Store:
    store = open_blob_store(f"s3://{bucket}/archive", cache_dir=tmp_path / "cache")
    assert isinstance(store, S3Store)
    return store


def _object(s3, bucket: str, key: str) -> bytes:
    return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_upload_is_content_addressed_and_deduplicated(s3, bucket, blobs, tmp_path):
    src = tmp_path / "clip.MP4"
    src.write_bytes(b"\x00\x01 some video bytes" * 1000)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    stored = blobs.store_media(src, "MP4")
    assert stored.sha256 == sha and stored.size == src.stat().st_size
    assert stored.path == f"media/{sha[:2]}/{sha}.mp4"
    key = f"archive/media/{sha[:2]}/{sha}.mp4"
    assert _object(s3, bucket, key) == src.read_bytes()
    head = s3.client().head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] == sha
    first_modified = head["LastModified"]
    # The same bytes again: nothing is uploaded, the object keeps its first timestamp.
    again = blobs.store_media(src, "mp4", move=True)
    assert again == stored and not src.exists()
    assert s3.client().head_object(Bucket=bucket, Key=key)["LastModified"] == first_modified


def test_an_upload_that_does_not_verify_is_removed_and_raises(s3, bucket, blobs, tmp_path, monkeypatch):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"the real bytes" * 100)

    def damaged_upload(path, rel, sha):  # the store ends up holding other bytes than were sent
        s3.client().put_object(Bucket=bucket, Key=blobs.key(rel), Body=b"something else" * 100, Metadata={"sha256": sha})

    monkeypatch.setattr(blobs, "_upload", damaged_upload)
    with pytest.raises(StorageError, match="failed verification"):
        blobs.store_media(src, "mp4")
    assert s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


@pytest.fixture
def archived_s3(server, store, blobs):
    """One video fetched from the loopback site with its original on the object store."""
    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin",
                       description="The evening news.", upload_date="2019-04-15", channel="Sample TV")
    out = record_fetch(store, blobs, fetch(url, blobs), None)
    media = store.media_file(store.get_video(out.video_id)["media_sha256"])
    return out.video_id, media


def test_fetch_stores_the_original_under_its_sha256(archived_s3, s3, bucket, blobs):
    vid, media = archived_s3
    body = _object(s3, bucket, f"archive/{media['path']}")
    assert hashlib.sha256(body).hexdigest() == media["sha256"] == media["path"].split("/")[-1].split(".")[0]
    assert body == (SAMPLES / "evening-bulletin.mp4").read_bytes()
    # Stages that decode need a local file: it comes from the store, verified, into the cache.
    local = blobs.abspath(media["path"])
    assert local.is_file() and local.is_relative_to(blobs.root) and local.read_bytes() == body


def test_verify_streams_from_the_store_and_catches_corruption(archived_s3, s3, bucket, store, blobs):
    vid, media = archived_s3
    res = verify(store, blobs, [vid], derivatives=False)
    assert res.ok and res.bytes_hashed == media["size"]
    data = bytearray(_object(s3, bucket, f"archive/{media['path']}"))
    data[len(data) // 2] ^= 0x01
    s3.client().put_object(Bucket=bucket, Key=f"archive/{media['path']}", Body=bytes(data))
    res = verify(store, blobs, [vid], derivatives=False)
    [p] = res.problems
    assert p.status == "corrupt" and p.actual_size == p.expected_size and p.actual_sha256 != media["sha256"]
    kinds = [e["kind"] for e in store.events(vid)]
    assert kinds.count("verified") == 1 and kinds.count("corrupt") == 1
    s3.client().delete_object(Bucket=bucket, Key=f"archive/{media['path']}")
    [p] = verify(store, blobs, [vid], derivatives=False).problems
    assert p.status == "missing-file"


def test_a_corrupt_object_never_lands_in_the_local_cache(archived_s3, s3, bucket, blobs):
    vid, media = archived_s3
    s3.client().put_object(Bucket=bucket, Key=f"archive/{media['path']}", Body=b"not the original")
    with pytest.raises(StorageError, match="differs from its name"):
        blobs.abspath(media["path"])
    assert not (blobs.root / media["path"]).exists()
    assert not [p for p in (blobs.root / media["path"]).parent.iterdir()]  # no temporary file left


def test_web_serves_media_from_the_store_with_range(archived_s3, settings, bucket, monkeypatch):
    vid, media = archived_s3
    monkeypatch.setenv("CLIPWATCH_STORAGE_URL", f"s3://{bucket}/archive")
    from pipeline.web.app import create_app

    body = (SAMPLES / "evening-bulletin.mp4").read_bytes()
    with TestClient(create_app(Settings(data_dir=settings.data_dir)), base_url="http://127.0.0.1") as client:
        page = client.get(f"/api/videos/{vid}")
        assert page.status_code == 200
        assert page.json()["media_url"] == f"/files/{media['path']}"
        whole = client.get(f"/files/{media['path']}")
        assert whole.status_code == 200 and whole.content == body and whole.headers["accept-ranges"] == "bytes"
        part = client.get(f"/files/{media['path']}", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == body[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
        tail = client.get(f"/files/{media['path']}", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == body[-10:]
        beyond = client.get(f"/files/{media['path']}", headers={"Range": f"bytes={len(body) + 5}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(body)}"
        assert client.get("/files/media/00/" + "0" * 64 + ".mp4").status_code == 404
        assert client.get("/files/media/../../etc/passwd").status_code == 404


# -- faults: one error line that says what to check ---------------------------------------------------------


def test_missing_bucket(s3, tmp_path):
    blobs = S3Store("s3://no-such-bucket-here/x", cache_dir=tmp_path)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist"):
        blobs.check()
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x")
    with pytest.raises(StorageError, match="does not exist"):
        blobs.store_media(src, "mp4")


def test_refused_and_silent_stores(s3, tmp_path, monkeypatch):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x" * 100)
    monkeypatch.setenv("CLIPWATCH_S3_RETRIES", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", refused_endpoint())
    with pytest.raises(StorageError, match="cannot reach .*check AWS_ENDPOINT_URL"):
        S3Store("s3://bucket/x", cache_dir=tmp_path).store_media(src, "mp4")
    monkeypatch.setenv("CLIPWATCH_S3_TIMEOUT", "1")
    with silent_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        with pytest.raises(StorageError, match="timed out"):
            S3Store("s3://bucket/x", cache_dir=tmp_path).store_media(src, "mp4")
    assert src.exists()  # nothing moved away when the upload failed


def test_cli_verify_against_a_missing_bucket_is_one_error_line(s3, archived_s3, settings):
    env = {**__import__("os").environ, "CLIPWATCH_STORAGE_URL": "s3://no-such-bucket-here/archive",
           "CLIPWATCH_DATA": str(settings.data_dir)}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "verify", "--all"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:") and "no-such-bucket-here" in lines[-1] and "does not exist" in lines[-1]


def test_cli_verify_passes_from_the_store(s3, archived_s3, settings, bucket):
    import os

    env = {**os.environ, "CLIPWATCH_STORAGE_URL": f"s3://{bucket}/archive", "CLIPWATCH_DATA": str(settings.data_dir)}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "verify", "--all", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and out["counts"]["ok"] == 1 and out["bytes_hashed"] == archived_s3[1]["size"]
    # The video folder was written on "another machine" (the fixture's cache): its manifest and files were hashed
    # as the store holds them, streamed, never through this machine's cache (issue 21).
    folder = settings.data_dir / "s3-cache" / "videos"
    assert out["derivatives_checked"] >= 1 and not any(folder.rglob("manifest.json"))


def test_cli_export_bag_from_the_store(s3, archived_s3, settings, bucket, tmp_path):
    """`clipwatch export bag` with the archive on the object store: the original comes from the store into the bag."""
    import bagit

    env = {**os.environ, "CLIPWATCH_STORAGE_URL": f"s3://{bucket}/archive", "CLIPWATCH_DATA": str(settings.data_dir)}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "export", "bag",
                           str(tmp_path / "bag"), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] and len(out["videos"]) == 1
    bagit.Bag(str(tmp_path / "bag")).validate()
    originals = list((tmp_path / "bag" / "data" / "videos").glob("*/original/*"))
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in originals] == [archived_s3[1]["sha256"]]


def test_large_files_go_multipart_and_are_verified(s3, bucket, blobs, tmp_path):
    src = tmp_path / "big.mp4"
    src.write_bytes(os.urandom(9 << 20))  # over the 8 MiB single-PUT limit
    stored = blobs.store_media(src, "mp4")
    assert _object(s3, bucket, f"archive/{stored.path}") == src.read_bytes()
    sha, size = blobs.sha256_of(stored.path)
    assert (sha, size) == (stored.sha256, src.stat().st_size)


def test_an_upload_killed_half_way_leaves_no_partial_object(s3, bucket, tmp_path):
    """A worker killed mid-upload: the key holds nothing or the whole file, never a part; the retry completes."""
    import signal
    import time

    src = tmp_path / "big.mp4"
    src.write_bytes(os.urandom(24 << 20))
    code = ("import sys; from pathlib import Path; from pipeline.storage.s3 import S3Store; "
            f"S3Store('s3://{bucket}/archive', cache_dir=Path(sys.argv[2])).store_media(Path(sys.argv[1]), 'mp4')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(src), str(tmp_path / "cache")], env=os.environ.copy())
    time.sleep(2.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    key = f"archive/media/{sha[:2]}/{sha}.mp4"
    listed = s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] in ([], [key])
    if listed:
        assert _object(s3, bucket, key) == src.read_bytes()
    stored = S3Store(f"s3://{bucket}/archive", cache_dir=tmp_path / "cache").store_media(src, "mp4")
    assert _object(s3, bucket, f"archive/{stored.path}") == src.read_bytes()


def test_export_bag_from_postgres_and_s3(server, pg, bucket, blobs, tmp_path):
    """`export bag` from the scale-out backends on a machine with an empty cache: the catalogue on PostgreSQL, the
    original and the video's folder on the object store; the bag is valid and carries the same bytes and events."""
    import bagit

    from pipeline.preservation.bag import export_bag
    from pipeline.preservation.manifest import record_manifest
    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening News Bulletin",
                       description="The evening news.", upload_date="2019-04-15", channel="Sample TV")
    with PostgresCatalogue(pg.create_database(f"bag_{uuid.uuid4().hex[:10]}")) as cat:
        vid = record_fetch(cat, blobs, fetch(url, blobs), None).video_id
        assert record_manifest(cat, blobs, vid) is not None  # the folder goes to the object store
        elsewhere = open_blob_store(f"s3://{bucket}/archive", cache_dir=tmp_path / "elsewhere")
        result = export_bag(cat, elsewhere, tmp_path / "bag", [vid], selection="test")
        media = cat.media_file(cat.get_video(vid)["media_sha256"])
        events = [e["kind"] for e in cat.events(vid)]
    assert result.valid and result.videos == [vid]
    bag = bagit.Bag(str(tmp_path / "bag"))
    bag.validate()
    original = tmp_path / "bag" / "data" / "videos" / vid / "original" / media["path"].split("/")[-1]
    assert original.read_bytes() == (SAMPLES / "evening-bulletin.mp4").read_bytes()
    prov = json.loads((tmp_path / "bag" / "data" / "videos" / vid / "provenance.json").read_text())
    assert [e["kind"] for e in prov["events"]] + ["exported"] == events and "fetched" in events  # the export is recorded
    assert (tmp_path / "bag" / "data" / "videos" / vid / "info.json").is_file()  # from the store, not a local folder
    assert not result.unlisted and not result.skipped


def test_a_bad_retry_count_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPWATCH_S3_RETRIES", "three")
    with pytest.raises(ConfigError, match="CLIPWATCH_S3_RETRIES='three'"):
        S3Store("s3://bucket/x", cache_dir=tmp_path).client
