"""Long segments cut into sentences at their words' timings.

Why: decoded without timestamp tokens, Whisper returns one segment per 30-s stretch of speech. A line of a
transcript, a search hit's snippet and a subtitle cue should be a sentence or two, and a window that ends in a
30-s segment hands the whole of it to the next window again. The words, timed by the cross-attention alignment
that clipwatch always runs for hits, say where each sentence starts and ends.

A segment of :data:`LONGEST_SECONDS` or less is left as it is (Whisper's own timestamped segments mostly are).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Iterator

from pipeline.asr.base import Segment, Word

LONGEST_SECONDS = 12.0  # a subtitle cue of two lines; Whisper's own timestamped segments rarely run longer
SHORTEST_SECONDS = 1.0  # a shorter sentence ("Yes.") stays with the next one
PAUSE_SECONDS = 0.8  # where a sentence runs longer than LONGEST_SECONDS, the longest pause between words cuts it

# the end of a sentence: full stop, question and exclamation marks (Latin, CJK and full-width), an ellipsis
_SENTENCE_END = re.compile(r"[.?!…。？！]['\"”’)\]]*$")


def _piece(seg: Segment, words: list[Word], first: bool, last: bool) -> Segment:
    # the first and last pieces keep the segment's own bounds, so that what the segment covered stays covered
    start = seg.start if first else words[0].start
    end = seg.end if last else words[-1].end
    text = "".join(w.word for w in words)
    return dataclasses.replace(seg, start=start, end=max(end, start), text=text, words=list(words),
                               flags=list(seg.flags))


def _sentences(words: list[Word]) -> list[list[Word]]:
    out: list[list[Word]] = [[]]
    for w in words:
        out[-1].append(w)
        if _SENTENCE_END.search(w.word.strip()) and out[-1][-1].end - out[-1][0].start >= SHORTEST_SECONDS:
            out.append([])
    return [s for s in out if s]


def _at_pauses(words: list[Word]) -> list[list[Word]]:
    """A run of words longer than LONGEST_SECONDS cut at its longest pauses, each of PAUSE_SECONDS or more."""
    if len(words) < 2 or words[-1].end - words[0].start <= LONGEST_SECONDS:
        return [words]
    gap, at = max((words[i + 1].start - words[i].end, i + 1) for i in range(len(words) - 1))
    if gap < PAUSE_SECONDS:
        return [words]
    return _at_pauses(words[:at]) + _at_pauses(words[at:])


def split_segment(seg: Segment) -> list[Segment]:
    """A segment longer than :data:`LONGEST_SECONDS` as one segment per sentence (by its words), else itself.

    Arguments:
        seg: a decoded segment with its words' timings (without words it cannot be cut and is returned whole).

    Returns:
        The pieces in order. Each keeps the segment's decoding figures (log probability, no-speech probability,
        compression ratio, temperature) and flags; its text is its words' text. A sentence still longer than
        LONGEST_SECONDS is cut again at its longest pauses between words.
    """
    words = [w for w in seg.words if w.word]
    if seg.end - seg.start <= LONGEST_SECONDS or len(words) < 2:
        return [seg]
    groups = [part for sentence in _sentences(words) for part in _at_pauses(sentence)]
    if len(groups) < 2:
        return [seg]
    return [_piece(seg, g, i == 0, i == len(groups) - 1) for i, g in enumerate(groups)]


def split_segments(segments: Iterable[Segment]) -> Iterator[Segment]:
    """:func:`split_segment` over a stream of segments, lazily."""
    for seg in segments:
        yield from split_segment(seg)
