"""A clause written three times in one segment: speech when the audio says it again (pipeline.asr.echo, flags).

Real speech: tests/media/transcribe/conference_prompts.opus holds Debian's three recordings of "the conference
will begin when our glorious leader arrives" (``confbridge-begin-glorious-a``/``-b``/``-c``) between other prompts,
each at the time measured below (speech above -34 dBFS, 0.4 s of quiet between prompts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.asr.base import Segment, Word
from pipeline.asr.echo import SAMPLE_RATE, cepstra, dtw_cost, sounds_alike
from pipeline.asr.flags import flag_segment, mark_clause_loops, repeats_heard
from pipeline.media.audio import load_audio

PROMPTS = Path(__file__).resolve().parents[1] / "media" / "transcribe" / "conference_prompts.opus"
USER_WILL_JOIN = (0.16, 1.85)
WITHOUT_GLORIOUS = (20.67, 23.42)  # "the conference will begin when the leader arrives"
GLORIOUS = [(6.72, 10.07), (11.19, 14.76), (15.88, 19.53)]  # takes a, b and c
WILL_NOW_BEGIN = (24.48, 26.11)
CLAUSE = "the conference will begin when our glorious leader arrives"


@pytest.fixture(scope="module")
def prompts() -> np.ndarray:
    return load_audio(PROMPTS)


def cut(audio: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return audio[int(span[0] * SAMPLE_RATE):int(span[1] * SAMPLE_RATE)]


def timed_copies(spans: list[tuple[float, float]]) -> list[Word]:
    """The clause's words spread evenly over each span (one copy per span), as word timings place them."""
    words = []
    for a, b in spans:
        ws = CLAUSE.split()
        step = (b - a) / len(ws)
        words += [Word(round(a + i * step, 3), round(a + (i + 1) * step, 3), " " + w, 0.9) for i, w in enumerate(ws)]
    return words


def test_takes_of_one_sentence_sound_alike_and_other_sentences_do_not(prompts):
    a, b, c = (cut(prompts, s) for s in GLORIOUS)
    assert sounds_alike(a, b) and sounds_alike(a, c) and sounds_alike(b, c)
    assert not sounds_alike(a, cut(prompts, USER_WILL_JOIN))
    assert not sounds_alike(a, cut(prompts, WILL_NOW_BEGIN))
    # the same take against itself costs nothing; the cost is symmetric enough to be a distance
    ca = cepstra(a)
    assert dtw_cost(ca, ca) == pytest.approx(0.0, abs=1e-9)
    assert dtw_cost(ca, cepstra(b)) < dtw_cost(ca, cepstra(cut(prompts, USER_WILL_JOIN)))


def test_a_slogan_said_three_times_is_not_flagged_a_loop_the_audio_does_not_hold_is(prompts):
    text = " ".join([CLAUSE.capitalize() + "."] * 3)
    start, end = GLORIOUS[0][0], GLORIOUS[2][1]
    said = Segment(start, end, text, avg_logprob=-0.2, words=timed_copies(GLORIOUS))
    audio = prompts[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    assert repeats_heard(said, audio) is True
    assert "repetition" not in flag_segment(said, audio)

    # a decoder that looped: the second and third copies lie over other prompts
    end = WILL_NOW_BEGIN[1]
    looped = Segment(start, end, text, avg_logprob=-0.2, words=timed_copies([GLORIOUS[0], WITHOUT_GLORIOUS, WILL_NOW_BEGIN]))
    audio = prompts[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    assert repeats_heard(looped, audio) is False
    assert "repetition" in flag_segment(looped, audio)


def test_nothing_to_hear_the_repeat_by_keeps_the_text_alone_rule(prompts):
    text = " ".join([CLAUSE] * 3)
    start, end = GLORIOUS[0][0], GLORIOUS[2][1]
    audio = prompts[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    no_words = Segment(start, end, text, avg_logprob=-0.2)  # a translation, say: no word timings
    assert repeats_heard(no_words, audio) is None and "repetition" in flag_segment(no_words, audio)
    timed = Segment(start, end, text, avg_logprob=-0.2, words=timed_copies(GLORIOUS))
    assert repeats_heard(timed, None) is None and "repetition" in flag_segment(timed)
    # words that do not spell the text cannot place its copies
    other = Segment(start, end, text, avg_logprob=-0.2, words=timed_copies(GLORIOUS)[:-1])
    assert repeats_heard(other, audio) is None
    # no clause repeated: nothing to hear
    assert repeats_heard(Segment(start, end, CLAUSE, words=timed_copies(GLORIOUS[:1])), audio) is None


def test_copies_squeezed_into_a_fraction_of_the_first_are_not_heard(prompts):
    text = " ".join([CLAUSE] * 3)
    start, end = GLORIOUS[0][0], GLORIOUS[2][1]
    audio = prompts[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    b0 = GLORIOUS[1][0]
    squeezed = Segment(start, end, text, avg_logprob=-0.2,
                       words=timed_copies([GLORIOUS[0], (b0, b0 + 1.0), (b0 + 1.0, b0 + 2.0)]))
    assert repeats_heard(squeezed, audio) is False


def test_a_segment_heard_to_repeat_is_left_be_by_the_transcript_wide_check():
    # two copies inside the first segment and the third in the next: the run is a loop on the text alone ...
    segs = [Segment(0.0, 6.0, f"{CLAUSE}. {CLAUSE}."), Segment(6.0, 9.0, f"{CLAUSE}.")]
    assert mark_clause_loops(segs) == 1 and segs[0].flags == ["repetition"]
    # ... unless the audio was heard to say the first segment's copies again
    segs = [Segment(0.0, 6.0, f"{CLAUSE}. {CLAUSE}."), Segment(6.0, 9.0, f"{CLAUSE}.")]
    assert mark_clause_loops(segs, spoken={0}) == 0 and all(not s.flags for s in segs)
