"""Speech a window's decoding left out is found with the VAD and decoded again in short clips (pipeline/asr/coverage.py).

Real speech: tests/media/transcribe/conference_prompts.opus, eight prompts of asterisk-core-sounds-en (Debian,
CC BY-SA 3.0) 0.8 s apart, 29.5 s; the stretch of bench/decoding.py's track that Whisper base dropped whole in one
run (30 s of "The conference will begin when ... leader arrives" said five times over). Its text is in
conference_prompts.txt.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.asr import coverage, windows
from pipeline.asr.base import Segment, WindowResult, Word
from pipeline.media.audio import SAMPLE_RATE, load_audio

MEDIA = Path(__file__).resolve().parents[1] / "media" / "transcribe"
PROMPTS = MEDIA / "conference_prompts.opus"
# where each prompt is said, in seconds (from the lengths of the Asterisk files put together)
SAID = [(0.0, 2.23), (3.03, 5.86), (6.66, 10.23), (11.03, 15.01), (15.81, 19.77), (20.57, 23.59), (24.39, 26.23),
        (27.03, 28.72)]


@pytest.fixture(scope="module")
def prompts() -> np.ndarray:
    return load_audio(PROMPTS)


def _seg(start: float, end: float, text: str = " words", flags: list[str] | None = None) -> Segment:
    return Segment(start, end, text, -0.3, 0.1, 1.2, flags=flags or [])


# --------------------------------------------------------------------------- holes and clips


def test_holes_are_the_uncovered_stretches_of_two_seconds_or_more():
    segs = [_seg(0.5, 3.0), _seg(3.5, 6.0), _seg(9.0, 12.0), _seg(11.0, 20.0)]
    # 0.5 s at the start and 0.5 s between the first two are pauses; 6-9 is a hole; the end after 20 s is one
    assert coverage.holes(segs, end=30.0) == [(6.0, 9.0), (20.0, 30.0)]
    assert coverage.holes(segs, end=21.0) == [(6.0, 9.0)]  # a window cut at 21 s: its last second is a pause
    assert coverage.holes([], end=5.0) == [(0.0, 5.0)]
    assert coverage.holes([], end=1.5) == []
    # the order of the segments does not matter, and a flagged segment covers what it was decoded from
    assert coverage.holes(list(reversed(segs)), end=30.0) == [(6.0, 9.0), (20.0, 30.0)]
    assert coverage.holes([_seg(0, 6.0), _seg(6.0, 30.0, flags=["hallucination"])], end=30.0) == []


def test_clips_join_pieces_up_to_ten_seconds_and_keep_a_long_piece_whole():
    pieces = [(0.0, 2.0), (3.0, 5.5), (6.0, 9.8), (10.5, 12.0), (12.5, 30.0), (31.0, 32.0)]
    assert coverage.group_clips(pieces) == [(0.0, 9.8), (10.5, 12.0), (12.5, 30.0), (31.0, 32.0)]
    assert coverage.group_clips([]) == []


def test_missed_speech_finds_every_prompt_of_real_speech_that_no_segment_covers(prompts):
    clips = coverage.missed_speech(prompts, [], end=prompts.size / SAMPLE_RATE)
    assert clips and all(b - a <= coverage.CLIP_SECONDS for a, b in clips)
    assert clips == sorted(clips)
    for start, end in SAID:  # each prompt lies in one clip, within the VAD's padding
        assert any(a - 0.3 <= start and end <= b + 0.3 for a, b in clips), (start, end, clips)
    # the first three prompts decoded: only what comes after them is handed back
    later = coverage.missed_speech(prompts, [_seg(0.0, 10.3)], end=prompts.size / SAMPLE_RATE)
    assert later and later[0][0] >= 10.3 and any(a <= 27.1 and 28.6 <= b for a, b in later)

def test_a_window_covered_from_end_to_end_does_not_run_the_vad(monkeypatch, prompts):
    def no_vad(samples):
        raise AssertionError("the VAD ran on a window without a hole")

    monkeypatch.setattr(coverage, "speech_pieces", no_vad)
    assert coverage.missed_speech(prompts, [_seg(0.0, 14.0), _seg(14.5, 29.5)], end=29.5) == []


def test_silence_and_a_short_hole_are_left_alone(prompts):
    silence = np.zeros(20 * SAMPLE_RATE, np.float32)
    assert coverage.missed_speech(silence, [], end=20.0) == []
    # 1.5 s uncovered between two decoded segments: a pause, not a hole
    assert coverage.missed_speech(prompts, [_seg(0.0, 14.0), _seg(15.5, 29.5)], end=29.5) == []


def test_inside_keeps_what_lies_in_a_clip():
    clips = [(3.0, 9.0), (20.0, 25.0)]
    assert coverage.inside(_seg(3.5, 8.0), clips)
    assert coverage.inside(_seg(19.0, 23.0), clips)  # its middle, 21 s, is in the second clip
    assert not coverage.inside(_seg(10.0, 14.0), clips)
    assert not coverage.inside(_seg(0.0, 4.0), clips)


# --------------------------------------------------------------------------- transcribe() with an engine that skips


class Skipping:
    """An engine whose first decoding of a window returns only ``first``; with clips, one segment per clip."""

    engine, version, multilingual = "fake", "0", True

    def __init__(self, first: list[Segment], extra: list[Segment] | None = None) -> None:
        self.lock = threading.Lock()
        self.first, self.extra = first, extra or []
        self.calls: list[list[tuple[float, float]] | None] = []

    def run(self, audio, *, language, task, word_timestamps, vad, clips=None):
        self.calls.append(clips)
        if not clips:
            return WindowResult("en", 0.9, iter(list(self.first)))
        found = [_seg(a + 0.1, b - 0.1, f" clip {i}") for i, (a, b) in enumerate(clips)]
        return WindowResult("en", 0.9, iter(found + self.extra))


def test_transcribe_decodes_again_what_the_first_decoding_left_out(monkeypatch, prompts):
    engine = Skipping([_seg(0.0, 10.3, " The first three prompts.")], extra=[_seg(1.0, 4.0, " a repeat")])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(prompts, language="en")
    assert len(engine.calls) == 2 and engine.calls[0] is None
    clips = engine.calls[1]
    assert clips and clips[0][0] >= 10.3
    texts = [s.text for s in tr.segments]
    # the clips' segments follow the first one, in order; a segment outside the clips (a repeat) is dropped
    assert texts[0] == " The first three prompts." and texts[1:] == [f" clip {i}" for i in range(len(clips))]
    assert " a repeat" not in texts
    assert [s.start for s in tr.segments] == sorted(s.start for s in tr.segments)


def test_nothing_is_decoded_again_when_covered_or_asked_not_to(monkeypatch, prompts):
    covered = Skipping([_seg(0.0, 14.5), _seg(15.0, 29.5)])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: covered)
    windows.transcribe(prompts, language="en")
    assert covered.calls == [None]
    for options in ({"fill_gaps": False}, {"vad": False}):
        skipping = Skipping([_seg(0.0, 3.0)])
        monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: skipping)
        tr = windows.transcribe(prompts, language="en", **options)
        assert skipping.calls == [None] and len(tr.segments) == 1


def test_a_window_whose_speech_the_engine_found_none_of_is_not_checked_again(monkeypatch, prompts):
    """Music or silence: the engine's VAD kept 0 s of the window, so the pass does not run the VAD again."""

    class NoSpeech(Skipping):
        def run(self, audio, **kw):
            self.calls.append(kw.get("clips"))
            return WindowResult("en", 0.9, iter(()), speech_seconds=0.0)

    def no_vad(samples):
        raise AssertionError("the VAD ran on a window the engine's VAD found no speech in")

    engine = NoSpeech([])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    monkeypatch.setattr(coverage, "speech_pieces", no_vad)
    tr = windows.transcribe(prompts, language="en")
    assert engine.calls == [None] and tr.segments == []


def test_a_later_window_is_decoded_again_at_its_own_times(monkeypatch, prompts):
    """Two windows: the clips are in the second window's time, the segments come back in the recording's."""
    monkeypatch.setattr(windows, "WINDOW_SECONDS", 15.0)
    audio = np.concatenate([prompts, prompts])  # 59 s: windows at 0, 15, 30, 45

    class SkipsTheThird(Skipping):
        def run(self, audio, **kw):
            if kw.get("clips"):
                return super().run(audio, **kw)
            self.calls.append(None)
            if len(self.calls) == 3:  # the window from 30 s on: only its first 2 s are decoded
                return WindowResult("en", 0.9, iter([_seg(0.0, 2.0, " user will join")]))
            return WindowResult("en", 0.9, iter([_seg(0.0, audio.size / SAMPLE_RATE)]))

    engine = SkipsTheThird([])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(audio, language="en")
    refilled = [s for s in tr.segments if s.text.startswith(" clip")]
    assert refilled and all(30.0 + 2.0 <= s.start and s.end <= 45.0 for s in refilled)
    assert [s.start for s in tr.segments] == sorted(s.start for s in tr.segments)


class Batched(Skipping):
    """An engine that decoded each stretch once, without fallback (faster-whisper's batched pipeline)."""

    def run(self, audio, **kw):
        res = super().run(audio, **kw)
        res.fallback = bool(kw.get("clips"))
        return res


def test_what_fails_whispers_thresholds_without_fallback_is_decoded_again_in_clips(monkeypatch, prompts):
    looped = Segment(10.5, 29.5, " leader arrives" * 20, -0.2, 0.1, 6.0)  # compression ratio 6: a loop
    engine = Batched([_seg(0.0, 10.3, " The first three prompts."), looped])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(prompts, language="en")
    assert len(engine.calls) == 2 and engine.calls[1] and engine.calls[1][0][0] >= 10.3
    texts = [s.text for s in tr.segments]
    assert texts[0] == " The first three prompts." and looped.text not in texts  # the clips' text replaces it
    assert texts[1:] == [f" clip {i}" for i in range(len(engine.calls[1]))]


def test_a_failed_segment_stays_where_its_clips_give_nothing_and_a_sequential_one_is_left_alone(monkeypatch, prompts):
    unsure = Segment(10.5, 29.5, " mumbled words", -1.4, 0.1, 1.1)  # avg_logprob below -1

    class Empty(Batched):
        def run(self, audio, **kw):
            res = super().run(audio, **kw)
            return WindowResult("en", 0.9, iter(()) if kw.get("clips") else res.segments, fallback=res.fallback)

    engine = Empty([_seg(0.0, 10.3), unsure])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(prompts, language="en")
    assert len(engine.calls) == 2 and [s.text for s in tr.segments] == [" words", " mumbled words"]
    # the sequential decoder already fell back at higher temperatures: its segments are not decoded again
    sequential = Skipping([_seg(0.0, 10.3), Segment(10.5, 29.5, " mumbled words", -1.4, 0.1, 1.1)])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: sequential)
    windows.transcribe(prompts, language="en")
    assert sequential.calls == [None]


def test_a_thirty_second_segment_comes_back_as_sentences(monkeypatch, prompts):
    words = [Word(1.0 + i, 1.8 + i, w, 0.9) for i, w in enumerate(
        " The conference will begin. The conference has ended. You are now muted. Users will join the conference"
        " now. The leader has left the conference. Please enter your pin.".split(" ")[1:])]
    for w in words:
        w.word = " " + w.word
    whole = Segment(0.0, 29.5, "".join(w.word for w in words), -0.2, 0.1, 1.5, words=words)
    engine = Batched([whole])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(prompts, language="en", word_timestamps=True)
    assert [s.text.strip() for s in tr.segments][:2] == ["The conference will begin.", "The conference has ended."]
    assert len(tr.segments) == 6 and tr.segments[0].start == 0.0 and tr.segments[-1].end == 29.5


def test_a_segment_with_far_fewer_words_than_its_time_holds_is_sparse():
    said = [_seg(0.0, 2.0, " user will join the conference"), _seg(3.0, 6.0, " the conference will begin when the leader"),
            _seg(7.0, 10.0, " the conference will begin when our leader arrives")]
    rate = coverage.usual_rate(said)
    assert rate == pytest.approx(2.5)  # the median of 2.5, 2.33 and 2.67 words a second
    one_copy_of_two = _seg(11.0, 19.0, " the conference will begin when our glorious leader arrives")  # 9 in 8 s
    assert coverage.too_few_words(one_copy_of_two, rate)
    assert not coverage.too_few_words(_seg(11.0, 14.5, " the conference"), rate)  # under 4 s: a pause, not a loss
    assert not coverage.too_few_words(_seg(11.0, 15.0, " the conference will begin when our leader"), rate)  # 1.75/s
    assert coverage.usual_rate(said[:2]) is None and not coverage.too_few_words(one_copy_of_two, None)
    # Hangul syllables weigh half a word, as elsewhere in the flags
    assert coverage.spoken_weight("위대한 수령님 만세") == pytest.approx(4.0)


def test_a_line_said_twice_and_written_once_is_decoded_again_piece_by_piece(monkeypatch, prompts):
    # prompts 3 and 4 are two takes of one line; the first decoding wrote it once over the time of both
    once = Segment(SAID[2][0], SAID[3][1], " The conference will begin when our glorious leader arrives.", -0.2, 0.1, 1.2)
    engine = Batched([_seg(*SAID[0], " User will join the conference."),
                      _seg(*SAID[1], " The conference will begin when the leader arrives."), once,
                      _seg(*SAID[4], " The conference will begin when our glorious leader arrives."),
                      _seg(*SAID[5], " The conference will begin when the leader arrives."),
                      _seg(*SAID[6], " The conference will now begin."), _seg(*SAID[7], " The conference has ended.")])
    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: engine)
    tr = windows.transcribe(prompts, language="en")
    assert len(engine.calls) == 2
    clips = [c for c in engine.calls[1] if c[0] < SAID[3][1] and c[1] > SAID[2][0]]
    # one clip per take, not one clip of both (a clip that holds the line twice is written once again)
    assert len(clips) == 2 and clips[0][1] < SAID[3][0] + 0.3 and clips[1][0] > SAID[2][1] - 0.3
    assert [s.text for s in tr.segments][2:4] == [" clip 0", " clip 1"]
    assert not any(s.start == once.start and s.end == once.end for s in tr.segments)  # replaced by its pieces


# --------------------------------------------------------------------------- the real engine


def _norm(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", " ", text.lower()).split()


@pytest.mark.slow
def test_whisper_reads_the_left_out_prompts_in_clips(monkeypatch, tmp_path_factory, prompts):
    """faster-whisper base, as Whisper's skip leaves it: the window's first decoding gave nothing, and the clips
    decoded again give the prompts back, in order, at their times."""
    from pipeline.asr import get_transcriber

    real = get_transcriber("faster-whisper", "base", tmp_path_factory.mktemp("models"))
    # the engine says how much speech its VAD kept: none of 20 s of silence, most of the prompts
    quiet = real.run(np.zeros(20 * SAMPLE_RATE, np.float32), language="en", task="transcribe", word_timestamps=False,
                     vad=True)
    assert quiet.speech_seconds == 0.0 and list(quiet.segments) == []

    class SkipsFirst:
        engine, version, multilingual, lock = real.engine, real.version, True, real.lock

        def run(self, audio, **kw):
            if not kw.get("clips"):
                return WindowResult("en", 0.9, iter(()))  # what Whisper's no-speech rule leaves of a window
            return real.run(audio, **kw)

    monkeypatch.setattr(windows, "get_transcriber", lambda *a, **k: SkipsFirst())
    tr = windows.transcribe(prompts, language="en", word_timestamps=True)
    said = _norm(tr.text)
    ref = _norm((MEDIA / "conference_prompts.txt").read_text())
    # every distinct line comes back (the three "glorious leader" lines may be read as fewer: Whisper merges repeats)
    for line in ("user will join the conference", "the conference will begin when the leader arrives",
                 "the conference will begin when our glorious leader arrives", "the conference will now begin",
                 "the conference has ended"):
        assert " ".join(_norm(line)) in " ".join(said), line
    assert len(said) >= 0.7 * len(ref)
    ended = next(s for s in tr.segments if "ended" in s.text.lower())
    assert SAID[-1][0] - 1.0 <= ended.start and ended.end <= SAID[-1][1] + 1.0
    assert all(w.start >= 0 and w.end <= 29.6 for s in tr.segments for w in s.words)
