"""Who speaks (issue 24): the speakers stage on SQLite and PostgreSQL, `voices` and `show` JSON, search --voice,
names (kept, evented, escaped), WebVTT voices, the web page, and bad input (silence, music, a 1-second clip).

The truth is exact: conversations are built from espeak-ng voices that differ (a man's and a woman's variant of
different languages), with known turn times. Accuracy on real recordings is bench/speakers.py's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.asr.base import Segment, Transcript
from pipeline.cli import app
from pipeline.media.probe import run_ffmpeg
from pipeline.sources.fetch import fetch
from pipeline.stages.audio import AudioProfileStage
from pipeline.stages.base import Job
from pipeline.stages.runner import record_fetch, run_stage
from pipeline.stages.speakers import SpeakersStage
from pipeline.storage.files import Archive

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng")
runner = CliRunner()
SR = 16000
VOICES = {"A": "en-us+m3", "B": "fr+f4"}
LINES = [
    ("A", "The harvest in the northern province was excellent this autumn, and the farmers are pleased."),
    ("B", "A new railway bridge opened across the river on Tuesday, after three years of building work."),
    ("A", "The steel factory finished its yearly plan early, the ministry announced this morning."),
    ("B", "Heavy snow is expected in the mountains tomorrow, and the harvest roads may close."),
]
PAUSE = 0.8


def _espeak(text: str, voice: str, folder: Path) -> np.ndarray:
    wav = folder / f"{uuid.uuid4().hex}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text], check=True, capture_output=True)
    with wave.open(str(wav)) as w:
        rate, y = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    y = np.interp(np.arange(0, len(y), rate / SR), np.arange(len(y)), y).astype(np.float32)  # to 16 kHz
    on = np.flatnonzero(np.abs(y) > 0.01)
    return y[on[0]:on[-1] + 1]


def _write_video(path: Path, y: np.ndarray) -> Path:
    wav = path.with_suffix(".wav")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes())
    run_ffmpeg(["-f", "lavfi", "-i", f"color=c=gray:s=96x64:r=5:d={len(y) / SR:.2f}", "-i", str(wav),
                "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac", "-b:a", "64k", "-shortest", str(path)])
    wav.unlink()
    return path


def conversation(folder: Path, lines=LINES, name: str = "talk.mp4") -> tuple[Path, list[tuple[float, float, str]]]:
    """A video of the lines said in turn, and the truth: (start, end, voice) per line."""
    folder.mkdir(parents=True, exist_ok=True)
    parts, truth, t = [np.zeros(int(0.5 * SR), np.float32)], [], 0.5
    for who, text in lines:
        y = _espeak(text, VOICES[who], folder)
        truth.append((t, t + len(y) / SR, who))
        parts += [y, np.zeros(int(PAUSE * SR), np.float32)]
        t += len(y) / SR + PAUSE
    return _write_video(folder / name, np.concatenate(parts)), truth


def archive_file(store, archive, path: Path) -> str:
    fetched = fetch(str(path), archive)
    record_fetch(store, archive, fetched, None)
    return fetched.video.id


def find_speakers(store, archive, settings, video_id: str):
    with Job(store, archive, settings, video_id) as job:
        run_stage(job, AudioProfileStage())
        return run_stage(job, SpeakersStage())


def add_transcript(store, video_id: str, truth) -> None:
    """The lines as a transcript at their true times (what Whisper would give, without loading it)."""
    media = store.get_video(video_id)["media_sha256"]
    segs = [Segment(a, b, text) for (a, b, _), (_, text) in zip(truth, LINES)]
    store.replace_transcript(video_id, media, "original", Transcript("en", 1.0, truth[-1][1] + 1, "test", "test", "0",
                                                                      segments=segs), None)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    return conversation(tmp_path_factory.mktemp("talk"))


def _check_turns(turns, truth):
    """Two speakers, in the truth's order, each line's middle spoken by the speaker of its voice."""
    from pipeline.speakers.diarize import speaker_at

    said = [speaker_at(turns, (a + b) / 2, (a + b) / 2) for a, b, _ in truth]
    assert said == ["S1", "S2", "S1", "S2"], (said, turns)
    for t in turns:  # no turn runs far into a pause or across a change of voice
        inside = [w for a, b, w in truth if a - 0.6 <= t["start"] and t["end"] <= b + 0.6]
        assert inside, (t, truth)


def test_the_stage_finds_who_speaks_when_on_sqlite(talk, store, archive, settings):
    vid = archive_file(store, archive, talk[0])
    outcome = find_speakers(store, archive, settings, vid)
    assert outcome.status == "done" and outcome.detail["speakers"] == 2, outcome
    _check_turns(store.speaker_turns(vid), talk[1])
    voices = store.voices(vid)
    assert [v["speaker"] for v in voices] == ["S1", "S2"]
    assert all(v["seconds"] > 5 and abs(np.linalg.norm(v["embedding"]) - 1) < 1e-4 for v in voices)
    # Unchanged key: skipped; the stage is in the pipeline after the audio profile.
    with Job(store, archive, settings, vid) as job:
        assert run_stage(job, SpeakersStage()).status == "skipped"
    from pipeline.stages import STAGES

    names = [c.name for c in STAGES]
    assert names.index("audio") < names.index("speakers")


def test_the_stage_on_postgresql(talk, pg, data_dir):
    from pipeline.config import Settings
    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    if True:
        url = pg.create_database(f"t_{uuid.uuid4().hex[:10]}")
        s = Settings(data_dir=data_dir, model="tiny.en", translate=False)
        s.ensure_dirs()
        archive = Archive(s.archive_dir)
        with PostgresCatalogue(url) as store:
            vid = archive_file(store, archive, talk[0])
            assert find_speakers(store, archive, s, vid).status == "done"
            _check_turns(store.speaker_turns(vid), talk[1])
            assert [v["speaker"] for v in store.voices(vid)] == ["S1", "S2"]
            from pipeline.speakers.voices import name_voice, voices_report

            name_voice(store, f"{vid}:S2", "Ri <b>Chun</b> Hi")
            report = voices_report(store, vid)
            assert [s_["name"] for s_ in report["speakers"]] == [None, "Ri <b>Chun</b> Hi"]
            assert any(e["kind"] == "voice-named" for e in store.events(vid))


@pytest.fixture
def two_talks(talk, store, archive, settings, tmp_path):
    """The conversation archived, with its transcript, and a second video in which voice A alone speaks."""
    vid = archive_file(store, archive, talk[0])
    add_transcript(store, vid, talk[1])
    find_speakers(store, archive, settings, vid)
    other_path, _ = conversation(tmp_path / "other", [("A", LINES[0][1] + " " + LINES[2][1]),
                                                      ("A", "The fishing fleet returned to port with a record catch.")],
                                 name="other.mp4")
    other = archive_file(store, archive, other_path)
    find_speakers(store, archive, settings, other)
    return vid, other


def _cli(*args) -> dict:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_voices_and_show_json_say_who_speaks_and_where_else(two_talks, settings):
    vid, other = two_talks
    out = _cli("voices", vid, "--json")
    assert set(out) == {"video_id", "turns", "speakers"} and out["video_id"] == vid
    assert all(set(t) == {"start", "end", "speaker"} for t in out["turns"])
    s1, s2 = out["speakers"]
    assert (s1["speaker"], s2["speaker"]) == ("S1", "S2") and s1["name"] is None
    assert {"speaker", "seconds", "name", "matches"} <= set(s1)
    # Voice A (S1) speaks in the other video; voice B does not.
    assert [m["video_id"] for m in s1["matches"]] == [other]
    m = s1["matches"][0]
    assert m["speaker"] == "S1" and 0 <= m["similarity"] <= 1 and m["seconds"] > 5
    assert all(mm["video_id"] != other for mm in s2["matches"])
    only = _cli("voices", vid, "--speaker", "S2", "--json")
    assert [s["speaker"] for s in only["speakers"]] == ["S2"] and {t["speaker"] for t in only["turns"]} == {"S2"}
    shown = _cli("show", vid, "--json")
    segs = shown["transcripts"][0]["segments"]
    assert [s["speaker"] for s in segs] == ["S1", "S2", "S1", "S2"]
    bad = runner.invoke(app, ["voices", vid, "--speaker", "S9"])
    assert bad.exit_code != 0 and "no speaker S9" in str(bad.exception)


def test_search_narrows_to_a_voice_and_by_its_name(two_talks, store):
    vid, other = two_talks
    every = _cli("search", "harvest", "--json")
    by_speaker = {(v["video_id"], h["speaker"]) for v in every["videos"] for h in v["hits"]}
    assert (vid, "S1") in by_speaker and (vid, "S2") in by_speaker
    b = _cli("search", "harvest", "--voice", f"{vid}:S2", "--json")
    assert {(v["video_id"], h["speaker"]) for v in b["videos"] for h in v["hits"]} == {(vid, "S2")}
    named = runner.invoke(app, ["voices", "name", f"{vid}:S1", "Announcer <script>x</script>"])
    assert named.exit_code == 0, named.output
    a = _cli("search", "harvest", "--voice", "Announcer <script>x</script>", "--json")
    assert {(v["video_id"], h["speaker"]) for v in a["videos"] for h in v["hits"]} == {(vid, "S1")}
    assert any(e["kind"] == "voice-named" and e["detail"] and "Announcer" in e["detail"] for e in
               [{"kind": r["kind"], "detail": r["detail"]} for r in store.events(vid)])
    unknown = runner.invoke(app, ["search", "harvest", "--voice", "Nobody"])
    assert unknown.exit_code != 0 and "no voice is named" in str(unknown.exception)


def test_a_name_survives_the_stage_running_again(two_talks, store, archive, settings):
    vid, _ = two_talks
    _cli("voices", "name", f"{vid}:S2", "Second voice", "--json")
    with Job(store, archive, settings, vid, force=True) as job:
        assert run_stage(job, SpeakersStage()).status == "done"
    names = {s["speaker"]: s["name"] for s in _cli("voices", vid, "--json")["speakers"]}
    assert names == {"S1": None, "S2": "Second voice"}


def test_webvtt_cues_carry_the_voice(two_talks, store, archive):
    from pipeline.asr import subtitles
    from pipeline.speakers.subtitles import refresh_vtt

    vid, _ = two_talks
    folder = archive.video_dir(vid)
    segs = [Segment(a, b, text) for (a, b, _), (_, text) in zip(*[[(0.5, 4.0, "A"), (5.0, 9.0, "B")], LINES[:2]])]
    subtitles.write_transcript(Transcript("en", 1.0, 10, "t", "t", "0", segments=segs), folder, "transcript")
    turns = store.speaker_turns(vid)
    written = refresh_vtt(store, archive, vid)
    vtt = (folder / "transcript.vtt").read_text()
    assert written and vtt.startswith("WEBVTT")
    from pipeline.speakers.diarize import speaker_at

    for a, b, _ in [(0.5, 4.0, "A"), (5.0, 9.0, "B")]:
        who = speaker_at(turns, a, b)
        assert f"<v {who}>" in vtt


def test_the_web_page_shows_turns_and_this_voice_elsewhere(two_talks, settings):
    from fastapi.testclient import TestClient

    from pipeline.web import create_app

    vid, other = two_talks
    runner.invoke(app, ["voices", "name", f"{vid}:S1", "<img src=x onerror=alert(1)>"])
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        page = client.get(f"/videos/{vid}")
        assert page.status_code == 200
        html = page.text
        assert 'class="speaker" href="#voice-S1"' in html and 'href="#voice-S2"' in html
        assert "This voice elsewhere" in html and f'href="/videos/{other}#voice-S1"' in html
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        assert client.get("/videos/no-such-video").status_code == 404


@pytest.mark.parametrize("kind", ["silence", "music", "one-second"])
def test_no_speech_gives_no_speakers_never_a_crash(kind, store, archive, settings, tmp_path):
    if kind == "silence":
        y = np.zeros(6 * SR, np.float32)
    elif kind == "music":  # a chord with a beat, no voice
        t = np.arange(8 * SR) / SR
        y = (0.2 * sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)) * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0))).astype(np.float32) / 3
    else:
        y = _espeak("Hello.", VOICES["A"], tmp_path)[:SR]
    vid = archive_file(store, archive, _write_video(tmp_path / f"{kind}.mp4", y))
    outcome = find_speakers(store, archive, settings, vid)
    assert outcome.status == "done", outcome
    voices = store.voices(vid)
    if kind != "one-second":
        assert voices == [] and "no speakers" in outcome.message
    assert len(voices) <= 1
    out = _cli("voices", vid, "--json")
    assert len(out["speakers"]) == len(voices)


def test_without_the_encoder_the_stage_is_skipped_with_how_to_add_it(talk, store, archive, settings, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    from pipeline.speakers import ge2e

    monkeypatch.setattr(ge2e.importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    vid = archive_file(store, archive, talk[0])
    with Job(store, archive, settings, vid) as job:
        outcome = run_stage(job, SpeakersStage())
    assert outcome.status == "skipped" and "pip install" in outcome.message and "resemblyzer" in outcome.message
    # the run's summary names it once (components.summary_lines), with the command that adds it
    assert [n["component"] for n in outcome.detail["needs"]] == ["speaker-encoder"]
    assert "resemblyzer" in outcome.detail["needs"][0]["fix"]
    assert not store.stage_done(vid, "speakers", SpeakersStage().key(Job(store, archive, settings, vid)))


def test_the_features_are_the_mel_spectrogram_the_weights_were_trained_on():
    """A 1 kHz tone puts its energy in the mel band around 1 kHz, and the filters are Slaney-normalised triangles."""
    from pipeline.speakers import ge2e

    fb = ge2e.mel_filters()
    assert fb.shape == (40, 201) and (fb >= 0).all()
    t = np.arange(SR) / SR
    mel = ge2e.mel_spectrogram((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert mel.shape == (1 + SR // 160, 40)
    centres = ge2e._mel_to_hz(np.linspace(0, ge2e._hz_to_mel(np.array([8000.0]))[0], 42))[1:-1]
    assert abs(centres[int(mel[50].argmax())] - 1000) < 120


def test_the_features_match_librosa_where_it_is_installed():
    from pipeline.speakers import ge2e

    t = np.arange(SR) / SR
    librosa = pytest.importorskip("librosa")
    ref = librosa.feature.melspectrogram(y=(0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr=SR, n_fft=400,
                                         hop_length=160, n_mels=40).T
    np.testing.assert_allclose(ge2e.mel_spectrogram((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))[2:-2],
                               ref[2:-2], rtol=1e-3, atol=1e-6)


def test_the_count_of_speakers_is_found_not_given_up_to_thirty_and_long_inputs_are_pooled():
    """``assign`` on known embeddings: 30 distinct voices in turn give 30 speakers; 9,000 windows (over two hours
    at one window per 0.75 s) of two voices are pooled before clustering and still give two."""
    from pipeline.speakers import diarize as dz

    rnd = np.random.default_rng(3)

    def windows(n_voices: int, per_voice_s: float, noise: float):
        voices = np.abs(rnd.normal(0, 1, (n_voices, 256)))
        voices /= np.linalg.norm(voices, axis=1, keepdims=True)
        frames = int(per_voice_s / dz.FRAME_S)
        gap = int(0.6 / dz.FRAME_S)
        speech = np.zeros(n_voices * (frames + gap), bool)
        emb, centres = [], []
        for v in range(n_voices):
            a = v * (frames + gap)
            speech[a:a + frames] = True
            for c in np.arange(a * dz.FRAME_S + 0.8, (a + frames) * dz.FRAME_S - 0.8, 0.75):
                e = np.abs(voices[v] + rnd.normal(0, noise, 256))
                emb.append(e / np.linalg.norm(e))
                centres.append(c)
        return dz.Windows(speech, np.array(emb, np.float32), np.array(centres))

    many = dz.assign(windows(30, 9.0, 0.02))
    assert len(many.voices) == 30 and [t.speaker for t in many.turns] == [f"S{i}" for i in range(1, 31)]
    long = windows(2, 3400.0, 0.03)
    assert len(long.emb) > dz.MAX_POINTS
    two = dz.assign(long)
    assert [v.speaker for v in two.voices] == ["S1", "S2"] and [t.speaker for t in two.turns] == ["S1", "S2"]


def test_voices_travel_with_clipwatch_migrate_to_postgresql(two_talks, store, settings, pg):
    from pipeline.speakers.voices import voices_report
    from pipeline.storage.migrate import migrate
    from pipeline.storage.postgres.catalogue import PostgresCatalogue

    vid, _ = two_talks
    _cli("voices", "name", f"{vid}:S2", "Second voice", "--json")
    before = voices_report(store, vid)
    with PostgresCatalogue(pg.create_database(f"t_{uuid.uuid4().hex[:10]}")) as dest:
        result = migrate(store, settings.archive_dir, dest)
        assert result.rows["speaker_turns"] > len(before["turns"]) and result.rows["voices"] >= 3  # both videos
        dest.data_dir = settings.data_dir / "pg"  # its own voice-index cache
        assert voices_report(dest, vid) == before
