"""How many stretches of speech faster-whisper decodes at once: CLIPWATCH_WHISPER_CHUNKS and get_transcriber."""

from __future__ import annotations

import pytest

from pipeline.asr import base
from pipeline.config import Settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize("value, batch", [(None, None), ("", None), ("0", 0), ("2", 2), (" 16 ", 16)])
def test_the_setting_reads_a_whole_number_or_leaves_the_engines_default(monkeypatch, value, batch):
    if value is None:
        monkeypatch.delenv("CLIPWATCH_WHISPER_CHUNKS", raising=False)
    else:
        monkeypatch.setenv("CLIPWATCH_WHISPER_CHUNKS", value)
    assert Settings().whisper_chunks == batch


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_setting_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CLIPWATCH_WHISPER_CHUNKS", value)
    with pytest.raises(ConfigError, match="CLIPWATCH_WHISPER_CHUNKS"):
        Settings()


def test_the_transcribe_command_passes_the_setting_on(monkeypatch, tmp_path):
    """CLIPWATCH_WHISPER_CHUNKS reaches pipeline.asr.transcribe from `clipwatch transcribe`, as from the stage."""
    from typer.testing import CliRunner

    from pipeline import asr
    from pipeline.asr.base import Segment, Transcript
    from pipeline.cli.app import app

    seen: list[dict] = []

    def fake(path, **kw):
        seen.append(kw)
        return Transcript(language="en", language_probability=1.0, duration=2.0, model="fake", engine="fake",
                          engine_version="0", segments=[Segment(0.0, 2.0, "A line.")])

    monkeypatch.setattr(asr, "transcribe", fake)
    monkeypatch.setenv("CLIPWATCH_WHISPER_CHUNKS", "2")
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    res = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "d"), "transcribe", str(clip), "--word-timestamps"])
    assert res.exit_code == 0, res.output
    assert seen and seen[0]["batch_size"] == 2


class _Engine(base.Transcriber):
    engine = "fake"
    made: list[dict] = []

    def __init__(self, model, models_dir=None, compute_type=None, **extra):
        self.made.append(extra)

    version = "0"

    def run(self, audio, **kw):  # pragma: no cover - never decodes here
        raise AssertionError


class _Batching(_Engine):
    batches = True


@pytest.mark.parametrize("cls, passed", [(_Batching, {"batch_size": 2}), (_Engine, {})])
def test_an_engine_that_batches_is_made_with_the_batch_size_and_one_that_does_not_ignores_it(monkeypatch, tmp_path,
                                                                                              cls, passed):
    monkeypatch.setattr(base, "engine_class", lambda name: cls)
    base.clear_cache()
    cls.made = []
    first = base.get_transcriber("fake", "base", tmp_path, batch_size=2)
    assert cls.made == [passed]
    # another batch size is another decoder for a batching engine; the same one for an engine that does not batch
    other = base.get_transcriber("fake", "base", tmp_path, batch_size=1)
    assert (other is first) == (cls is _Engine)
    if cls is _Batching:
        with pytest.raises(ConfigError, match="0 or more"):
            base.get_transcriber("fake", "base", tmp_path, batch_size=-1)
    base.clear_cache()


@pytest.mark.slow
def test_real_speech_decoded_in_chunks_comes_back_whole_as_sentences(tmp_path_factory):
    """faster-whisper base on 29.5 s of real prompts (asterisk-core-sounds-en): the batched pipeline decodes the
    chunk once, without timestamp tokens, and the transcript still has every line, one sentence to a segment."""
    import re
    from pathlib import Path

    from pipeline.asr import windows
    from pipeline.asr.sentences import LONGEST_SECONDS
    from pipeline.media.audio import load_audio

    media = Path(__file__).resolve().parents[1] / "media" / "transcribe"
    audio = load_audio(media / "conference_prompts.opus")
    models = tmp_path_factory.mktemp("models")
    real = base.get_transcriber("faster-whisper", "base", models)
    once = real.run(audio, language="en", task="transcribe", word_timestamps=True, vad=True)
    assert once.fallback is False and real.batch_size == 1
    segs = list(once.segments)
    assert max(s.end - s.start for s in segs) > LONGEST_SECONDS  # one segment per chunk, before windows.py cuts it
    tr = windows.transcribe(audio, language="en", word_timestamps=True, models_dir=models)
    said = " ".join(re.sub(r"[^a-z ]", " ", tr.text.lower()).split())
    for line in ("user will join the conference", "the conference will begin when the leader arrives",
                 "the conference will now begin", "the conference has ended"):
        assert line in said, line
    assert len(tr.segments) >= 5 and all(s.end - s.start <= LONGEST_SECONDS + 0.5 for s in tr.segments)
    # a translation, or no word timings asked for: the sequential decoder, with timestamp tokens and fallback
    plain = real.run(audio, language="en", task="transcribe", word_timestamps=False, vad=True)
    assert plain.fallback is True and max(s.end - s.start for s in plain.segments) <= LONGEST_SECONDS + 0.5
