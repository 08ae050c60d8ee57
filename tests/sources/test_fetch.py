"""Fetching for real with yt-dlp from a loopback server, including the ways it goes wrong."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page

from pipeline.demo.loopback import Route
from pipeline.domain import make_video_id
from pipeline.errors import ClipwatchError, DownloadError, MediaError, SourceError, VideoUnavailable
from pipeline.media.probe import run_ffmpeg
from pipeline.sources.discovery import discover
from pipeline.sources.fetch import FetchOptions, fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage.files import sha256_file


def archive_files(archive) -> list[str]:
    return sorted(p.relative_to(archive.root).as_posix() for p in archive.root.rglob("*") if p.is_file())


def test_feed_is_discovered_as_a_playlist(sample_feed):
    found = discover(sample_feed)
    assert found.kind == "playlist"
    assert found.title == "Clipwatch Sample Broadcasting"
    assert [r.title for r in found.refs] == [
        "Evening News Bulletin — 15 April", "Statement of the Foreign Ministry Spokesman",
        "Song of the Victorious Factory (instrumental)"]


def test_fetch_archives_original_bytes_with_provenance(server, sample_feed, archive, store):
    ref = discover(sample_feed).refs[0]
    fetched = fetch(ref.url, archive, source_url=sample_feed)
    record_fetch(store, archive, fetched, None)

    original = SAMPLES / "evening-bulletin.mp4"
    media = store.media_file(fetched.media.sha256)
    assert media["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    stored = archive.abspath(media["path"])
    assert stored.read_bytes() == original.read_bytes()
    assert media["path"].startswith(f"media/{media['sha256'][:2]}/")
    assert media["final_url"] == server.url("/media/evening-bulletin.mp4")
    assert media["http_status"] == 200
    assert f'"Content-Length": "{original.stat().st_size}"' in media["http_headers"]
    assert media["fetcher"] == "yt-dlp" and media["fetcher_version"]
    video = store.get_video(fetched.video.id)
    assert video["upload_date"] == "2019-04-15"
    assert video["channel"] == "Clipwatch Sample Broadcasting"
    assert "#__youtubedl_smuggle" not in video["webpage_url"]
    folder = archive.video_dir(video["id"])
    assert (folder / "info.json").is_file() and (folder / "provenance.json").is_file()
    kinds = [e["kind"] for e in store.events(video["id"])]
    assert kinds[0] == "fetched" and set(kinds[1:]) == {"attested"}  # attested: the digests of issue 21
    # Nothing is left in the download area.
    assert not [f for f in archive_files(archive) if ".incoming" in f]


def test_second_fetch_is_skipped_without_download(server, sample_feed, archive, store):
    ref = discover(sample_feed).refs[1]
    first = fetch(ref.url, archive)
    record_fetch(store, archive, first, None)
    server.requests.clear()
    calls = []
    again = fetch(ref.url, archive, FetchOptions(is_archived=lambda vid: store.find_video(vid) is not None,
                                                 progress=lambda done, total: calls.append(done)))
    assert again.skipped and again.video.id == first.video.id
    assert calls == []  # the downloader never ran
    assert "HEAD /media/ministry-statement.mp4" not in server.requests
    assert record_fetch(store, archive, again, None).status == "skipped"


def test_http_404_is_a_clear_error(server, archive):
    with pytest.raises(VideoUnavailable, match="404"):
        fetch(server.url("/watch/missing.html"), archive)
    assert archive_files(archive) == []


def test_refused_connection_is_a_download_error(archive):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="refused|connect"):
        fetch(f"http://127.0.0.1:{port}/watch/x.html", archive)


def test_truncated_download_leaves_no_partial_file(server, archive):
    body = (SAMPLES / "evening-bulletin.mp4").read_bytes()
    url = publish_page(server, "broken", body, "Broken transfer")
    server.routes["/media/broken.mp4"] = Route(body=body, content_type="video/mp4", truncate_to=len(body) // 3)
    with pytest.raises(ClipwatchError):
        fetch(url, archive, FetchOptions())
    assert archive_files(archive) == []


def test_truncated_file_with_matching_length_is_refused(server, archive):
    body = (SAMPLES / "evening-bulletin.mp4").read_bytes()
    url = publish_page(server, "cut", body[: len(body) // 3], "Cut short upstream")
    with pytest.raises(MediaError, match="truncated or corrupt"):
        fetch(url, archive)
    assert archive_files(archive) == []


def test_non_video_file_is_refused_and_not_archived(server, archive):
    url = publish_page(server, "notvideo", b"this is not a video at all\n" * 200, "Not a video")
    with pytest.raises((MediaError, SourceError)):
        fetch(url, archive)
    assert archive_files(archive) == []


def test_hostile_title_stays_inside_the_archive(server, archive, store, tmp_path):
    title = "../../etc/passwd 🚀🔥 <script>alert(1)</script>"
    url = publish_page(server, "..%2F..%2Fetc", SAMPLES / "song-of-the-factory.mp4", title)
    fetched = fetch(url, archive)
    record_fetch(store, archive, fetched, None)
    video = store.get_video(fetched.video.id)
    assert video["title"] == title  # kept verbatim in the catalogue…
    folder = archive.video_dir(video["id"]).resolve()
    assert folder.is_relative_to(archive.root.resolve())  # …but never used as a path
    assert all(Path(f).parts[0] in ("media", "videos") for f in archive_files(archive))


def test_local_file_and_non_media_local_file(tmp_path, archive, store):
    fetched = fetch(str(SAMPLES / "evening-bulletin.mp4"), archive)
    assert fetched.media.sha256 == sha256_file(SAMPLES / "evening-bulletin.mp4")
    assert fetched.video.extractor == "local"
    junk = tmp_path / "notes.mp4"
    junk.write_text("hello")
    with pytest.raises(MediaError, match="notes.mp4"):
        fetch(str(junk), archive)
    with pytest.raises(SourceError, match="no such file"):
        discover(str(tmp_path / "nope.mp4"))


def test_video_ids_keep_same_stem_different_files_apart():
    a = make_video_id("Generic", "clip", "http://h/clip.mp4")
    b = make_video_id("Generic", "clip", "http://h/clip.webm")
    assert a != b and a.startswith("generic-clip-")


def test_video_without_audio_is_archived(server, archive, store, tmp_path):
    silent_video = tmp_path / "noaudio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=s=160x120:r=10:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent_video)])
    url = publish_page(server, "noaudio", silent_video, "No audio")
    fetched = fetch(url, archive)
    assert fetched.media_info.has_video and not fetched.media_info.has_audio
