"""Tagging: each signal's behaviour, the combiner's scores and evidence, human corrections, retraining."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.asr import Segment, Transcript
from pipeline.asr.flags import mark_transcript
from pipeline.config import samples_dir
from pipeline.domain import VideoRecord
from pipeline.media import profile as audiosig
from pipeline.storage.sqlite.catalogue import Store
from pipeline.tagging.model import CATEGORIES, Tag, TaggingInput, fit_model, load_model, set_human_tag, tag_video
from pipeline.tagging.signals import text as textsig
from pipeline.tagging.signals.source import SourceSignal, load_registry

SR = 16_000
SAMPLES = samples_dir()
EVIDENCE = re.compile(r".+ \([+-]\d+\.\d\)$")


def chord_melody(seconds: float = 12.0) -> np.ndarray:
    """A sustained C-major chord bed with a plucked melody on top (harmonics, decaying notes)."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.15 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(4 * np.pi * f * t) for f in (130.81, 164.81, 196.0))
    notes = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63, 349.23, 440.0]
    step = 0.4
    for i in range(int(seconds / step)):
        a = int(i * step * SR)
        tt = np.arange(int(step * SR)) / SR
        f = notes[i % len(notes)]
        note = np.exp(-tt * 4) * (np.sin(2 * np.pi * f * tt) + 0.4 * np.sin(4 * np.pi * f * tt) + 0.2 * np.sin(6 * np.pi * f * tt))
        y[a : a + len(note)] += 0.3 * note[: len(y) - a]
    return (y / np.abs(y).max() * 0.5).astype(np.float32)


def espeak(text: str, voice: str, rate: int = SR) -> np.ndarray:
    """espeak-ng speech as float32 at ``rate`` (scripts/test installs espeak-ng and sox when they are missing)."""
    assert shutil.which("espeak-ng") and shutil.which("sox"), "needs Debian espeak-ng and sox: run the tests with scripts/test"
    es = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True)
    sx = subprocess.run(["sox", "-t", "wav", "-", "-r", str(rate), "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw", "-"],
                        input=es.stdout, capture_output=True, check=True)
    return np.frombuffer(sx.stdout, np.float32).copy()


def meta(**kw) -> TaggingInput:
    base = dict(title=None, description=None, channel=None, channel_url=None, uploader=None, webpage_url=None,
                platform_tags=[], categories=[])
    base.update(kw)
    return TaggingInput(**base)


def transcript(lines: list[str], lang: str = "en") -> Transcript:
    segs = [Segment(i * 4.0, i * 4.0 + 4.0, s) for i, s in enumerate(lines)]
    return Transcript(lang, 0.99, 4.0 * len(lines), "script", "test", "0", "transcribe", segs)


# -- audio ---------------------------------------------------------------------------

def test_synth_music_is_music_and_silence_is_silence():
    prof = audiosig.analyse_array(chord_melody(12.0))
    assert prof.music >= 0.8, prof.summary()
    sil = audiosig.analyse_array(np.zeros(5 * SR, np.float32))
    assert sil.silence == 1.0 and [s.label for s in sil.spans] == ["silence"]
    assert abs(prof.music + prof.speech + prof.silence - 1.0) < 1e-6


@pytest.mark.parametrize("voice,text", [
    ("en-us", "Good evening. Here is the news. The minister said today that the new railway will open next spring, "
              "and officials expect more passengers than last year."),
    ("ko", "안녕하십니까. 오늘의 뉴스입니다. 정부는 새 철도가 내년 봄에 개통된다고 밝혔습니다. 관계자들은 승객이 늘어날 것으로 예상합니다."),
])
def test_espeak_speech_is_speech(voice, text):
    prof = audiosig.analyse_array(espeak(text, voice))
    assert prof.speech >= 0.6 and prof.music <= 0.3, prof.summary()


def test_bundled_clips_speech_and_music_spans():
    speech = audiosig.analyse_audio(SAMPLES / "evening-bulletin.mp4")
    music = audiosig.analyse_audio(SAMPLES / "song-of-the-factory.mp4")
    assert speech.speech >= 0.6 and music.music >= 0.8
    assert all(s.label in audiosig.LABELS and 0 <= s.confidence <= 1 for s in speech.spans + music.spans)
    assert speech.spans[0].start == 0.0 and abs(speech.spans[-1].end - speech.duration) < 1e-6


def test_music_segments_are_flagged_in_the_transcript():
    y = np.concatenate([chord_melody(8.0), np.zeros(4 * SR, np.float32)])
    prof = audiosig.analyse_array(y)
    tr = Transcript("en", 0.5, 12.0, "tiny.en", "test", "0", segments=[
        Segment(0.0, 3.5, "Thank you for watching!", avg_logprob=-1.1, no_speech_prob=0.6),  # Whisper unsure: hallucination
        Segment(3.5, 7.0, "Glory to the victorious factory", avg_logprob=-0.2, no_speech_prob=0.05),  # heard clearly: sung words
        Segment(8.5, 11.5, "you")])
    assert mark_transcript(tr, prof) == 2
    assert [s.flags for s in tr.segments] == [["music"], [], ["silence"]]
    assert tr.text == "Glory to the victorious factory"


def test_repetitive_text_over_music_is_a_loop_however_sure_the_decoder():
    y = chord_melody(8.0)
    prof = audiosig.analyse_array(y)
    tr = Transcript("en", 0.5, 8.0, "tiny.en", "test", "0", segments=[
        Segment(0.0, 4.0, "Thank you. Thank you. Thank you. Thank you. Thank you.", avg_logprob=-0.2, no_speech_prob=0.05),
        Segment(4.0, 8.0, "Glory to the victorious factory", avg_logprob=-0.2, no_speech_prob=0.05)])
    assert mark_transcript(tr, prof) == 1
    assert [s.flags for s in tr.segments] == [["repetition"], []]


def test_profile_round_trips_through_json_and_carries_its_version():
    prof = audiosig.analyse_array(chord_melody(6.0))
    again = audiosig.AudioProfile.from_dict(json.loads(json.dumps(prof.to_dict())))
    assert again == prof
    assert len(prof.labels) == 6 and prof.version == audiosig.profile_version() and audiosig.load_model().version in prof.version
    from pipeline.errors import ModelError
    with pytest.raises(ModelError):
        audiosig.AudioProfile.from_dict({"duration": "long", "music": 1})


def test_memory_mapped_long_audio_is_profiled_block_by_block(tmp_path):
    """A memory map is read in 32 s blocks; the labels match the in-memory result across block edges."""
    y = np.concatenate([chord_melody(40.0), np.zeros(5 * SR, np.float32), chord_melody(30.0)])
    path = tmp_path / "audio.f32"
    y.tofile(path)
    mm = audiosig.analyse_array(np.memmap(path, dtype=np.float32, mode="r"))
    whole = audiosig.window_features(y)
    assert mm.labels == audiosig.classify_features(whole).labels and len(mm.labels) == 75
    assert mm.labels[41:44] == ["silence"] * 3


# -- bad input ------------------------------------------------------------------------

def _finite(prof) -> None:
    values = [prof.duration, prof.music, prof.speech, prof.silence, prof.noise, prof.speech_over_music]
    assert all(np.isfinite(v) for v in values + [s.confidence for s in prof.spans]), prof
    if prof.duration > 0:
        assert abs(prof.music + prof.speech + prof.silence + prof.noise - 1.0) < 1e-6
        assert len(prof.labels) >= 1 and prof.spans[-1].end == pytest.approx(prof.duration)


def test_noise_silence_and_clips_under_a_second_give_finite_profiles():
    rng = np.random.default_rng(0)
    hiss = audiosig.analyse_array((rng.standard_normal(8 * SR) * 0.05).astype(np.float32))
    _finite(hiss)
    assert hiss.speech <= 0.25, hiss.summary()
    quiet = audiosig.analyse_array(np.zeros(3 * SR, np.float32))
    _finite(quiet)
    assert quiet.silence == 1.0
    short = audiosig.analyse_array(chord_melody(0.6))
    _finite(short)
    assert short.duration == pytest.approx(0.6) and len(short.labels) == 1
    tiny = audiosig.analyse_array(np.full(40, 0.2, np.float32))
    _finite(tiny)
    assert len(tiny.labels) == 1
    empty = audiosig.analyse_array(np.zeros(0, np.float32))
    assert empty.duration == 0.0 and empty.spans == [] and empty.music == empty.speech == empty.silence == 0.0
    nan = audiosig.analyse_array(np.full(2 * SR, np.nan, np.float32))
    _finite(nan)
    from pipeline.errors import MediaError
    with pytest.raises(MediaError, match="mono"):
        audiosig.analyse_array(np.zeros((2, SR), np.float32))


def _write_wav(path: Path, y: np.ndarray, rate: int, channels: int = 1) -> Path:
    import wave

    pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


SENTENCE = ("Good evening. Here is the news. The minister said today that the new railway will open next spring, "
            "and officials expect more passengers than last year.")


def test_telephone_band_and_clipped_speech_stay_speech(tmp_path):
    phone = audiosig.analyse_audio(_write_wav(tmp_path / "phone.wav", espeak(SENTENCE, "en-us", rate=8000), 8000))
    _finite(phone)
    assert phone.speech >= 0.6 and phone.music <= 0.3, phone.summary()
    loud = espeak(SENTENCE, "en-us")
    overdriven = audiosig.analyse_array(np.clip(loud / np.abs(loud).max() * 8.0, -1.0, 1.0))
    _finite(overdriven)
    assert overdriven.speech >= 0.6 and overdriven.music <= 0.3, overdriven.summary()


def test_stereo_and_5_1_tracks_are_downmixed(tmp_path):
    from pipeline.media.probe import run_ffmpeg

    mono = _write_wav(tmp_path / "mono.wav", chord_melody(8.0), SR)
    stereo = _write_wav(tmp_path / "stereo.wav", chord_melody(8.0), SR, channels=2)
    surround = tmp_path / "surround.m4a"
    run_ffmpeg(["-i", str(mono), "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0", "-c:a", "aac", str(surround)])
    ref = audiosig.analyse_audio(mono)
    for p in (stereo, surround):
        prof = audiosig.analyse_audio(p)
        _finite(prof)
        assert prof.music >= 0.8 and abs(prof.duration - ref.duration) < 0.2, (p.name, prof.summary())


def test_empty_audio_stream_gives_an_empty_profile_or_a_clear_error(tmp_path):
    from pipeline.errors import MediaError

    empty = _write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    try:
        prof = audiosig.analyse_audio(empty)
    except MediaError as exc:
        assert "empty.wav" in str(exc)
    else:
        assert prof.duration == 0.0 and prof.spans == [] and prof.music == prof.speech == 0.0
        assert tag_video(meta(title="x", audio_path=empty)).tag("music").score < 0.5
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(MediaError):
        audiosig.analyse_audio(tmp_path / "zero.mp4")


# -- text ------------------------------------------------------------------------------

def test_english_lexicon_hits_longest_match_once():
    h = textsig.scan("The respected Supreme Leader Kim Jong-un gave field guidance. The U.S. imperialists and their puppets "
                     "tremble before the Juche idea.")
    assert h.counts["honorific"] == 2  # 'respected Supreme Leader' once (not also 'Supreme Leader'), 'gave field guidance'
    assert h.terms["honorific"]["respected Supreme Leader"] == 1
    assert h.counts["leader_name"] == 1 and h.counts["ideology"] == 1
    assert h.counts["epithet"] == 2
    assert textsig.scan("Our reporter says the pupils were puppeteers.").counts.get("epithet", 0) == 0  # word boundaries


def test_korean_lexicon_hits_with_particles_and_spacing():
    h = textsig.scan("경애하는 최고 령도자 김정은동지께서 비료공장을 현지지도하시였습니다. 괴뢰패당의 망동을 규탄하였다. 조선로동당 만세!")
    assert h.counts["honorific"] >= 2  # '경애하는 최고령도자' despite the space, '현지지도', '하시였'
    assert "경애하는 최고령도자" in h.terms["honorific"]
    assert h.counts["epithet"] >= 2 and h.counts["ideology"] >= 1
    news = textsig.scan("오늘 조선중앙통신은 보도하였다. 대변인은 성명을 발표했습니다.")
    assert news.counts["news"] >= 4
    assert textsig.is_korean("오늘의 뉴스입니다") and not textsig.is_korean("today's news")


# -- source ----------------------------------------------------------------------------

@pytest.mark.parametrize("kw,name", [
    (dict(channel_url="https://www.uriminzokkiri.com/index.php?ptype=video"), "Uriminzokkiri"),
    (dict(webpage_url="http://m.dprktoday.com/videos/123"), "DPRK Today"),
    (dict(channel_url="https://www.youtube.com/user/uriminzokkiri/videos"), "Uriminzokkiri"),
    (dict(channel="조선중앙TV"), "Korean Central Television"),
    (dict(channel="kctv"), "Korean Central Television"),
    (dict(uploader="Rodong  Sinmun"), "Rodong Sinmun"),
])
def test_registry_matches_by_url_and_alias(kw, name):
    m = load_registry().match(**kw)
    assert m is not None and m.channel.name == name and m.channel.citation


@pytest.mark.parametrize("kw", [
    dict(channel_url="https://www.youtube.com/user/uriminzokkiri2"),
    dict(webpage_url="https://evilkcna.kp/x"),
    dict(webpage_url="https://example.org/?next=kcna.kp"),
    dict(channel="KCTV fan reactions"),
    dict(),
])
def test_registry_does_not_overmatch(kw):
    assert load_registry().match(**kw) is None


def test_the_demo_outlet_is_listed_only_by_the_demo_for_its_own_site(demo_channels):
    """Issue 21: the shipped registry has no loopback entry (a user's own loopback or test channel is not a state
    outlet); the demo lists its sample outlet for its site, host and port, while it runs."""
    shipped = load_registry(samples_dir().parent / "channels.toml")
    assert not [c for c in shipped.channels if c.kind == "demo" or any("127.0.0.1" in u for u in c.urls)]
    assert shipped.match(webpage_url="http://127.0.0.1:8765/watch/evening-bulletin.html") is None
    reg = load_registry()  # CLIPWATCH_CHANNELS, as the demo sets it
    m = reg.match(webpage_url="http://127.0.0.1:8765/evening-bulletin.mp4")
    assert m is not None and m.channel.name == "Clipwatch Sample Broadcasting" and m.channel.kind == "demo"
    assert m.channel.citation and {c.name for c in shipped.channels} < {c.name for c in reg.channels}
    assert reg.match(webpage_url="http://127.0.0.1:9000/watch/my-test.html") is None  # another loopback site
    evidence = _check(tag_video(meta(webpage_url="http://127.0.0.1:8765/watch/ministry-statement.html")))
    assert "channel in registry: Clipwatch Sample Broadcasting (demo/sample outlet), by page URL" in " ".join(
        evidence["propaganda"].evidence)


def test_registry_lists_state_media():
    reg = load_registry()
    names = {c.name for c in reg.channels}
    assert {"Uriminzokkiri", "DPRK Today", "Korean Central Television", "Rodong Sinmun", "Voice of Korea", "Arirang-Meari",
            "Sogwang", "Echo of Truth"} <= names
    assert all(c.citation for c in reg.channels)


# -- combiner ----------------------------------------------------------------------------

def _check(result):
    assert [t.category for t in result.tags] == list(CATEGORIES)
    for t in result.tags:
        assert isinstance(t, Tag) and 0.0 <= t.score <= 1.0 and t.evidence
        assert all(EVIDENCE.match(e) or e == "no signal: prior only" for e in t.evidence), t.evidence
    return {t.category: t for t in result.tags}


def test_metadata_only_video_still_gets_tags():
    r = tag_video(meta(title="경애하는 최고령도자 김정은동지 현지지도", channel="조선중앙통신",
                       channel_url="http://www.kcna.kp/kp/media", categories=["News & Politics"], platform_tags=["뉴스"]))
    tags = _check(r)
    assert r.audio is None
    assert tags["propaganda"].decision and tags["news"].decision and not tags["music"].decision
    assert any(e.startswith("channel in registry: Korean Central News Agency, by channel URL (+") for e in tags["propaganda"].evidence)
    assert any(e.startswith("3 leader honorifics in title") for e in tags["propaganda"].evidence)
    neutral = _check(tag_video(meta(title="Easy kimchi stew recipe", channel="Mika's Kitchen", categories=["Howto & Style"])))
    assert not any(t.decision for t in neutral.values())


def test_transcript_and_translation_drive_scores():
    ko = transcript(["경애하는 원수님께서 신형전술유도무기 시험사격을 참관하시였습니다.", "미제의 적대시정책은 긴장의 근원이다.",
                     "모두다 일심단결로 위대한 당을 결사옹위하자."], "ko")
    en = transcript(["The respected Marshal watched the test fire of a new weapon.", "The hostile policy of the U.S. imperialists is the root cause.",
                     "Let us defend the great Party with single-hearted unity."])
    tags = _check(tag_video(meta(title="clip 7", translation=en, transcript=ko)))
    assert tags["propaganda"].decision and tags["propaganda"].score > 0.8
    assert any("in speech" in e for e in tags["propaganda"].evidence)
    news = _check(tag_video(meta(title="clip 8", transcript=transcript([
        "Police said three people were injured when a bus collided with a truck this morning.",
        "The government announced a new budget, the minister told reporters on Tuesday."]))))
    assert news["news"].decision and not news["propaganda"].decision


def test_registry_is_a_prior_not_a_verdict():
    alone = _check(tag_video(meta(channel="DPRK Today", channel_url="http://dprktoday.com/videos")))["propaganda"].score
    cooking = transcript(["Today I will show you how to make a simple stew at home.", "First cut the pork and fry it with a little oil.",
                          "Next add the garlic and onions and let them cook until soft.", "Thanks for watching, see you next time."] * 3)
    with_text = _check(tag_video(meta(channel="DPRK Today", channel_url="http://dprktoday.com/videos",
                                      transcript=cooking)))["propaganda"].score
    assert 0.5 < alone < 0.95 and with_text < alone


def test_source_prior_by_channel_id_or_url_never_by_name_alone(tmp_path, monkeypatch):
    """Issue 21: a channel merely called "KCTV" gets no state-media prior; one whose platform channel id, channel
    URL or page host is in the registry does, whatever it is called."""
    reg = tmp_path / "channels.toml"
    reg.write_text('version = "t"\n[[channel]]\nname = "Korean Central Television"\nkind = "state-media"\n'
                   'aliases = ["KCTV", "조선중앙TV"]\nurls = ["kcna.kp"]\nchannel_ids = ["UC-kctv-official"]\n'
                   'citation = "x"\n', encoding="utf-8")
    monkeypatch.setenv("CLIPWATCH_CHANNELS", str(reg))
    sig = SourceSignal()
    for named in (meta(channel="KCTV"), meta(channel="조선중앙TV", uploader="KCTV",
                                              channel_url="https://www.youtube.com/@kctv-fan")):
        assert sig.extract(named, None) == {}
        assert "channel in registry" not in " ".join(_check(tag_video(named))["propaganda"].evidence)
    for listed, how in ((meta(channel="Some name", channel_id="UC-kctv-official"), "channel id"),
                        (meta(channel="Some name", channel_url="https://www.kcna.kp/channel/7"), "channel URL"),
                        (meta(channel="Some name", webpage_url="http://kcna.kp/video/1"), "page URL")):
        assert sig.extract(listed, None) == {"src_registry": (1.0, f"channel in registry: Korean Central Television, by {how}")}
        assert any(e.startswith(f"channel in registry: Korean Central Television, by {how} (+")
                   for e in _check(tag_video(listed))["propaganda"].evidence)


def test_audio_signal_from_media_file():
    r = tag_video(meta(title="Song of the Victorious Factory (instrumental)", audio_path=SAMPLES / "song-of-the-factory.mp4"))
    tags = _check(r)
    assert r.audio is not None and r.audio.music >= 0.8
    assert tags["music"].decision and any("of audio is music" in e for e in tags["music"].evidence)
    # a file without audio: tagged from the other signals, no error
    assert tag_video(meta(title="x", audio_path=Path(__file__))).audio is None


# -- store / CLI ---------------------------------------------------------------------------

@pytest.fixture
def store_with_video(tmp_path):
    st = Store(tmp_path / "clipwatch.db")
    for i in range(6):
        st.upsert_video(VideoRecord(id=f"v{i}", extractor="generic", platform_id=f"v{i}", webpage_url=f"http://127.0.0.1/v{i}.mp4",
                                    source_url=f"http://127.0.0.1/v{i}.mp4", title=["Evening news", "Song of the Party", "Cooking"][i % 3],
                                    channel=["Metro News", "Uriminzokkiri", "Kitchen"][i % 3]), folder=f"v{i}")
    yield st
    st.close()


def test_human_tag_survives_model_rerun(store_with_video):
    st = store_with_video
    set_human_tag(st, "v0", "news", False, "a parody, not a bulletin")
    st.replace_tags("v0", [Tag("news", 0.97, True, ["x (+3.0)"]), Tag("music", 0.1, False, ["y (-1.0)"])], "m1")
    st.replace_tags("v0", [Tag("news", 0.98, True, ["x (+3.1)"]), Tag("music", 0.1, False, ["y (-1.0)"])], "m2")
    eff = {r["category"]: r for r in st.tags("v0")}
    assert eff["news"]["origin"] == "human" and eff["news"]["decision"] == 0
    assert "a parody" in json.loads(eff["news"]["evidence"])[0]
    assert eff["music"]["origin"] == "model" and eff["music"]["model_version"] == "m2"
    from pipeline.errors import ConfigError, NotFoundError
    with pytest.raises(NotFoundError):
        set_human_tag(st, "nope", "news", True, None)
    with pytest.raises(ConfigError):
        set_human_tag(st, "v0", "sports", True, None)


def test_cli_tags_set_show_and_retrain(tmp_path, monkeypatch):
    from pipeline.cli.app import app

    data = tmp_path / "data"
    monkeypatch.setenv("CLIPWATCH_DATA", str(data))
    data.mkdir()
    with Store(data / "clipwatch.db") as st:
        for i in range(8):
            kind = i % 2
            st.upsert_video(VideoRecord(id=f"v{i}", extractor="generic", platform_id=f"v{i}", webpage_url=f"https://example.org/v{i}",
                                        source_url=f"https://example.org/v{i}",
                                        title=["Evening news bulletin", "Song of the Party (instrumental)"][kind],
                                        channel=["Metro News", "Uriminzokkiri"][kind],
                                        channel_url=[None, "https://www.uriminzokkiri.com/"][kind],  # by URL, not name
                                        categories=[["News & Politics"], ["Music"]][kind]), folder=f"v{i}")
        st.replace_tags("v0", [Tag("news", 0.9, True, ["6 news words in title/description/tags (+3.7)"])], "m1")
    runner = CliRunner()
    res = runner.invoke(app, ["tags", "set", "v0", "--category", "propaganda", "--value", "true", "--note", "checked by hand"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["tags", "show", "v0"])
    assert res.exit_code == 0 and "news 0.90" in res.output and "(human)" in res.output and "+3.7" in res.output
    shown = json.loads(runner.invoke(app, ["tags", "show", "v0", "--json"]).output)
    assert {t["category"]: t["origin"] for t in shown["tags"]} == {"news": "model", "propaganda": "human"}
    assert runner.invoke(app, ["tags", "set", "v0", "--category", "news", "--value", "maybe"]).exit_code != 0

    labels = tmp_path / "labels.csv"
    labels.write_text("video_id,news,music,propaganda\n" + "".join(
        f"v{i},{1 - i % 2},{i % 2},{i % 2}\n" for i in range(8)), encoding="utf-8")
    out = tmp_path / "model.json"
    res = runner.invoke(app, ["tags", "retrain", str(labels), "--out", str(out), "--no-audio"])
    assert res.exit_code == 0, res.output
    m = load_model(out)
    assert set(m.categories) == set(CATEGORIES) and m.categories["propaganda"].weights["src_registry"] > 0
    monkeypatch.setenv("CLIPWATCH_TAGGING_MODEL", str(out))
    assert tag_video(meta(title="Song of the Party", channel="Uriminzokkiri")).model_version.startswith(m.version)


def test_fit_model_learns_a_separable_feature():
    rows = [{"src_registry": float(i % 2), "sp_words": 0.5} for i in range(20)]
    labels = [{"news": i % 3 == 0, "music": i % 4 == 0, "propaganda": bool(i % 2)} for i in range(20)]
    m = fit_model(rows, labels)
    assert m.categories["propaganda"].weights["src_registry"] > 1.0
    assert "src_registry" not in m.categories["news"].weights  # news may not use the source signal
