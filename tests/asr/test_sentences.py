"""Long segments cut into sentences by their words (pipeline/asr/sentences.py)."""

from pipeline.asr.base import Segment, Word
from pipeline.asr.sentences import LONGEST_SECONDS, split_segment, split_segments


def _segment(words: list[tuple[float, float, str]], start: float | None = None, end: float | None = None,
             **extra) -> Segment:
    ws = [Word(a, b, w, 0.9) for a, b, w in words]
    return Segment(start=ws[0].start if start is None else start, end=ws[-1].end if end is None else end,
                   text="".join(w.word for w in ws), words=ws, **extra)


def _timed(text: str, start: float = 0.0, step: float = 0.5, pause_after: dict[int, float] | None = None):
    out, t = [], start
    for i, w in enumerate(text.split(" ")):
        out.append((t, t + step * 0.8, " " + w))
        t += step + (pause_after or {}).get(i, 0.0)
    return out


def test_a_short_segment_is_left_whole():
    seg = _segment(_timed("One sentence. And another one."))
    assert seg.end - seg.start < LONGEST_SECONDS
    assert split_segment(seg) == [seg]


def test_a_long_segment_becomes_one_segment_per_sentence_keeping_its_bounds_and_figures():
    text = ("The conference will begin when the leader arrives. The conference will begin when our glorious leader "
            "arrives. The conference will now begin. The conference has ended.")
    seg = _segment(_timed(text, start=3.0, step=0.6), start=2.5, end=25.0, avg_logprob=-0.2, no_speech_prob=0.01,
                   compression_ratio=2.1, temperature=0.0, flags=["music"])
    pieces = split_segment(seg)
    assert [p.text.strip() for p in pieces] == [
        "The conference will begin when the leader arrives.",
        "The conference will begin when our glorious leader arrives.",
        "The conference will now begin.",
        "The conference has ended.",
    ]
    assert pieces[0].start == 2.5 and pieces[-1].end == 25.0  # what the segment covered stays covered
    assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:]))
    assert pieces[1].start == pieces[1].words[0].start and pieces[1].end == pieces[1].words[-1].end
    assert sum(len(p.words) for p in pieces) == len(seg.words)
    assert all(p.avg_logprob == -0.2 and p.compression_ratio == 2.1 and p.flags == ["music"] for p in pieces)
    pieces[0].flags.append("repetition")
    assert seg.flags == ["music"] and pieces[1].flags == ["music"]  # each piece owns its flags


def test_a_one_word_sentence_stays_with_the_next():
    seg = _segment(_timed("Yes. " + "and then the speaker goes on talking about the plan for a long while " * 2))
    pieces = split_segment(seg)
    assert pieces[0].text.strip().startswith("Yes. and then")


def test_korean_full_stops_and_question_marks_cut_too():
    seg = _segment(_timed("조선중앙통신사 보도에 의하면 오늘 회의가 열렸습니다. 참가자들은 누구입니까? 대표단이 도착했습니다.",
                          step=1.5))
    assert [p.text.strip() for p in split_segment(seg)] == [
        "조선중앙통신사 보도에 의하면 오늘 회의가 열렸습니다.", "참가자들은 누구입니까?", "대표단이 도착했습니다."]


def test_a_long_sentence_without_stops_is_cut_at_its_longest_pause():
    text = " ".join(["word"] * 40)
    seg = _segment(_timed(text, step=0.5, pause_after={19: 1.5}))
    pieces = split_segment(seg)
    assert [len(p.words) for p in pieces] == [20, 20]
    # no pause long enough: left whole rather than cut inside a phrase
    flat = _segment(_timed(text, step=0.5))
    assert split_segment(flat) == [flat]


def test_a_segment_without_words_cannot_be_cut():
    seg = Segment(start=0.0, end=30.0, text="Thirty seconds of words without timings. And more.")
    assert split_segment(seg) == [seg]
    assert list(split_segments([seg, seg])) == [seg, seg]
