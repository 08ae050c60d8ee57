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
    real = media_audio._audio_process
    monkeypatch.setattr(media_audio, "_audio_process", lambda *a, **k: decodes.append(a) or real(*a, **k))
    with Job(store, archive, settings, archived_bulletin) as job:
        outcomes = {cls.name: run_stage(job, cls()) for cls in STAGES}
        pcm = job._pcm
        assert pcm is not None and pcm.is_file()
    assert {k: o.status for k, o in outcomes.items()} == {
        "keyframes": "done", "audio": "done", "transcribe": "done", "tag": "done"}
    # Profile, transcript (with its music/silence flags) and the tagger's audio signal all read one decode.
    assert len(decodes) == 1
    assert not pcm.exists()  # the PCM cache lives as long as the job
    folder = archive.video_dir(archived_bulletin)
    profile = json.loads((folder / "audio_profile.json").read_text())
    assert profile["speech"] > 0.5 and abs(profile["speech"] + profile["music"] + profile["silence"] - 1) < 1e-6
    row = store.audio_profile_row(archived_bulletin)
    assert row["media_sha256"] == store.get_video(archived_bulletin)["media_sha256"]
    tags = {t["category"]: t for t in store.tags(archived_bulletin)}
    assert set(tags) == {"news", "music", "propaganda"}

    # A second job skips every stage and decodes nothing.
    with Job(store, archive, settings, archived_bulletin) as job:
        again = {cls.name: run_stage(job, cls()).status for cls in STAGES}
    assert set(again.values()) == {"skipped"} and len(decodes) == 1


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
