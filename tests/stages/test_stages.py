"""One job per video: the audio is decoded once, results pass between stages, keys follow the data they read."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES, publish_page

from pipeline.config import Settings
from pipeline.media import audio as media_audio
from pipeline.sources.fetch import fetch
from pipeline.stages import STAGES, Job
from pipeline.stages.runner import record_fetch, run_stage
from pipeline.stages.tag import TagStage


@pytest.fixture
def archived_bulletin(server, store, archive):
    url = publish_page(server, "bulletin", SAMPLES / "evening-bulletin.mp4", "Evening bulletin", channel="KCTV")
    fetched = fetch(url, archive)
    record_fetch(store, archive, fetched, None)
    return fetched.video.id


@pytest.mark.slow
def test_a_job_decodes_the_audio_once_for_every_reader(archived_bulletin, store, archive, settings, monkeypatch):
    decodes = []

    class CountedDecode(media_audio._Decode):
        def __init__(self, *a, **k):
            decodes.append(a)
            super().__init__(*a, **k)

    monkeypatch.setattr(media_audio, "_Decode", CountedDecode)
    with Job(store, archive, settings, archived_bulletin) as job:
        outcomes = {cls.name: run_stage(job, cls()) for cls in STAGES}
        pcm = job._pcm
        assert pcm is not None and pcm.is_file()
    assert {k: o.status for k, o in outcomes.items()} == {
        "keyframes": "done", "copies": "done", "ocr": "done", "audio": "done", "transcribe": "done", "speakers": "done",
        "tag": "done"}
    # The audio fingerprint (copies), profile, transcript (with its music/silence flags) and the tagger's
    # audio signal all read one decode.
    assert len(decodes) == 1
    assert not pcm.exists()  # the PCM cache lives as long as the job
    folder = archive.video_dir(archived_bulletin)
    profile = json.loads((folder / "audio_profile.json").read_text())
    assert profile["speech"] > 0.5 and abs(profile["speech"] + profile["music"] + profile["silence"] + profile["noise"] - 1) < 1e-6
    from pipeline.media.profile import profile_version, read_profile
    assert read_profile(folder / "audio_profile.json").labels == profile["labels"] and profile["version"] == profile_version()
    row = store.audio_profile_row(archived_bulletin)
    assert row["model_version"] == profile_version()
    assert row["media_sha256"] == store.get_video(archived_bulletin)["media_sha256"]
    tags = {t["category"]: t for t in store.tags(archived_bulletin)}
    assert set(tags) == {"news", "music", "propaganda"}

    # A second job skips every stage and decodes nothing.
    with Job(store, archive, settings, archived_bulletin) as job:
        again = {cls.name: run_stage(job, cls()).status for cls in STAGES}
    assert set(again.values()) == {"skipped"} and len(decodes) == 1


def test_a_job_beside_another_reads_its_decoded_audio_from_two_threads(archived_bulletin, store, archive, settings,
                                                                         monkeypatch, tmp_path):
    import threading

    from pipeline.storage.sqlite.catalogue import Store

    decodes = []

    class CountedDecode(media_audio._Decode):
        def __init__(self, *a, **k):
            decodes.append(a)
            super().__init__(*a, **k)

    monkeypatch.setattr(media_audio, "_Decode", CountedDecode)
    got: dict = {}
    with Job(store, archive, settings, archived_bulletin) as job:
        def side() -> None:
            with Store(settings.db_path) as own, job.beside(own) as other:
                got["side"] = other.samples()

        t = threading.Thread(target=side)
        t.start()
        got["main"] = job.samples()
        t.join()
        pcm = job._pcm
        # one decode for both threads; the side job's end does not take the audio from under the main job
        assert len(decodes) == 1 and pcm is not None and pcm.is_file()
        assert got["side"] is got["main"]
    assert not pcm.exists()


def test_the_tag_key_follows_the_channel_registry(archived_bulletin, store, archive, settings, tmp_path, monkeypatch):
    """An edited registry re-tags on reprocess, even when its stated version was not bumped."""
    from pipeline.config import channel_registry_path

    with Job(store, archive, settings, archived_bulletin) as job:
        before = TagStage().key(job)
        edited = tmp_path / "channels.toml"
        text = channel_registry_path().read_text(encoding="utf-8")
        edited.write_text(text + '\n[[channel]]\nname = "Another Outlet"\nurls = ["https://example.org/another"]\n',
                          encoding="utf-8")
        monkeypatch.setenv("CLIPWATCH_CHANNELS", str(edited))
        after = TagStage().key(job)
    assert before != after


def test_a_job_for_a_video_without_media_is_a_clear_error(store, archive, settings):
    from pipeline.errors import NotFoundError

    with pytest.raises(NotFoundError):
        Job(store, archive, settings, "no-such-video")


def test_packaged_data_is_found_from_the_package_itself():
    """The registry, lexicon, weights and demo samples are package data (a non-editable install has them)."""
    from pipeline.config import channel_registry_path, samples_dir

    assert channel_registry_path().is_file() and "pipeline" in channel_registry_path().parts
    assert (samples_dir() / "samples.json").is_file()
    assert Settings().engine in ("faster-whisper", "openai-whisper")


def test_a_chatty_ffmpeg_cannot_stall_the_decode(tmp_path, monkeypatch):
    """ffmpeg printing a line per packet (as for files with broken timestamps) fills a stderr pipe nobody reads."""
    import threading

    monkeypatch.setattr(media_audio, "LOGLEVEL", "trace")  # far more than the 64 KB a pipe holds
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(media_audio.decode_pcm(SAMPLES / "ministry-statement.mp4",
                                                                                tmp_path / "a.f32")), daemon=True)
    worker.start()
    worker.join(120)
    assert done, "the audio decode stalled"
    samples = media_audio.open_pcm(tmp_path / "a.f32")
    assert 15 * 16000 < samples.size < 25 * 16000
    assert not list(tmp_path.glob(".*part"))


def test_a_file_that_is_not_media_is_a_media_error_and_leaves_nothing(tmp_path):
    from pipeline.errors import MediaError

    bad = tmp_path / "noise.mp4"
    bad.write_bytes(bytes(range(256)) * 400)
    with pytest.raises(MediaError):
        media_audio.decode_pcm(bad, tmp_path / "out" / "a.f32")
    assert not (tmp_path / "out" / "a.f32").exists() and not list((tmp_path / "out").glob("*"))
