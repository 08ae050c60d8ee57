"""Reasons to distrust a Whisper segment. Segments are never dropped for looking wrong: they are flagged."""

from __future__ import annotations

import bisect
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Collection

import numpy as np

from pipeline.asr.base import (
    COMPRESSION_RATIO_THRESHOLD,
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    SILENCE_RMS,
    Segment,
    Transcript,
)
from pipeline.asr.echo import sounds_alike
from pipeline.media.audio import SAMPLE_RATE

if TYPE_CHECKING:  # annotations only: the profile's classifier is not needed to flag
    from pipeline.media.profile import AudioProfile


def compression_ratio(text: str) -> float:
    """Whisper's measure: raw UTF-8 length over zlib-compressed length (repetitive text compresses well)."""
    b = text.encode("utf-8")
    return len(b) / len(zlib.compress(b)) if b else 0.0


_MUSIC_ONLY = re.compile(r"^[\s♪♫♬♩🎵🎶*~\-]*(\(|\[)?\s*(music|musique|música|음악|applause|박수)?\s*(\)|\])?[\s♪♫♬♩🎵🎶*~\-]*$", re.I)


def _tokens(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    # CJK/Hangul without spaces: fall back to characters so repeats are still seen.
    if len(words) <= 2 and len(text.strip()) > 12:
        return [c for c in text if not c.isspace()]
    return words


# A clause repeated back to back is a decoding loop whatever the timings: Whisper ``base`` translated a 4-second
# Korean clip as one six-word clause three times, within the word rate and the compression ratio of speech. Units
# are words, and single CJK/Hangul characters (Korean often runs words together: "감사합니다감사합니다"); a unit
# weighs its speaking time, a Hangul syllable half an English word (8 syllables/s against 4 words/s, as above).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")
CJK_UNIT_WEIGHT = 0.5
MIN_CLAUSE_WEIGHT = 3.0   # a clause: three words or six syllables ("만세! 만세! 만세!" is a cheer, not a loop)
LOOP_COPIES = 3           # ... said three times back to back
MAX_CLAUSE_UNITS = 200  # units in one copy: a long sentence (a Hangul syllable is a unit)


# Short joins between copies do not make a loop speech: "He went to the 1st floor and went to the 1st floor and
# went to the 1st floor." (Whisper base, the same Korean clip) is the clause three times joined by "and". Joining
# words are left out of the units, as punctuation already is, so "X and X and X", "X, or X, or X" and "X and then
# X and then X" are the clause three times back to back (measured on real text in bench/repetition_text.py).
JOINERS = frozenset({"and", "or", "then"})


def _units(text: str) -> list[str]:
    return [u for u in _UNIT.findall(text.lower()) if u not in JOINERS]


def _weight(unit: str) -> float:
    return CJK_UNIT_WEIGHT if len(unit) == 1 and re.match(f"[{_CJK}]", unit) else 1.0


def spoken_weight(text: str) -> float:
    """The speaking time of a text in words: a word 1, a Hangul or CJK character half (joining words left out)."""
    return sum(_weight(u) for u in _units(text))


@dataclass(frozen=True)
class ClauseLoop:
    """``copies`` back-to-back copies of ``clause`` starting at unit ``start`` of the text (or segment run)."""

    start: int
    length: int  # units in one copy
    copies: int
    clause: str


def _primitive(unit: list[str]) -> bool:
    """False for a unit that is itself a shorter one repeated ("the the the" is "the" three times)."""
    n = len(unit)
    return not any(n % d == 0 and unit == unit[:d] * (n // d) for d in range(1, n // 2 + 1))


def find_clause_loops(units: list[str], min_copies: int = LOOP_COPIES) -> list[ClauseLoop]:
    """Clauses (weight >= MIN_CLAUSE_WEIGHT) repeated at least ``min_copies`` times back to back.

    A clause is a primitive unit: "the the the the the the the the the" is one word nine times (too short to be a
    clause), not "the the the" three times; a clause that holds a short repeat ("%s: %s %s") is still found.
    """
    out: list[ClauseLoop] = []
    total = len(units)
    where: dict[str, list[int]] = {}
    for k, u in enumerate(units):
        where.setdefault(u, []).append(k)
    i = 0
    while i < total:
        found = None
        # only the periods at which the unit comes back are worth trying
        occ = where[units[i]]
        limit = min(MAX_CLAUSE_UNITS, (total - i) // min_copies)
        for j in occ[bisect.bisect_right(occ, i):]:
            n = j - i
            if n > limit:
                break
            unit = units[i:j]
            if any(units[i + c * n : i + (c + 1) * n] != unit for c in range(1, min_copies)):
                continue
            if sum(_weight(u) for u in unit) < MIN_CLAUSE_WEIGHT or not _primitive(unit):
                continue
            copies = min_copies
            while units[i + copies * n : i + (copies + 1) * n] == unit:
                copies += 1
            found = (n, copies)
            break
        if found:
            n, copies = found
            out.append(ClauseLoop(i, n, copies, " ".join(units[i : i + n])))
            i += n * copies
        else:
            i += 1
    return out


def looped_segments(texts: list[str], confirm: Callable[[int], bool] | None = None,
                    spoken: Collection[int] = ()) -> list[bool]:
    """Which of consecutive segment texts hold a clause loop, within one segment or across several.

    A segment whose own text repeats the clause (two copies meet inside it) is marked on its text alone: "I don't
    even have a car." three times in one 4-second segment. When the copies are consecutive segments, the first,
    which is probably what was heard, stays trusted and the echoes (a segment holding a whole repeat, or made at
    least half of repeats) are marked when ``confirm(k)`` says segment ``k`` also looks decoded rather than heard
    (None: on the text alone). A recording that really says a line three times, one after the other (the Asterisk
    prompts "the conference will begin when our glorious leader arrives" a, b and c), is three such segments.
    The segments in ``spoken`` are those whose own repeats the audio was heard to say again
    (:func:`repeats_heard`): copies meeting inside one of them do not mark it.
    """
    units: list[str] = []
    owner: list[int] = []
    for k, text in enumerate(texts):
        us = _units(text)
        units += us
        owner += [k] * len(us)
    repeat_weight = [0.0] * len(texts)
    whole = [False] * len(texts)
    itself = [False] * len(texts)
    for loop in find_clause_loops(units):
        n, end = loop.length, loop.start + loop.length * loop.copies
        while end < len(units) and units[end] == units[end - n]:
            end += 1  # the periodic run goes on into a last, partial copy
        # Count the copies from a segment start where the run allows it: a clause said as three segments is three
        # copies at segment boundaries, not the same run read from the middle of the first segment (which would
        # make every copy straddle two segments).
        phase = next((p for p in range(loop.start, loop.start + n) if (p == 0 or owner[p - 1] != owner[p])
                      and (end - p) // n >= LOOP_COPIES), loop.start)
        for c in range(1, (end - phase) // n):
            a, b = phase + c * n, phase + (c + 1) * n
            if owner[a - 1] == owner[a]:  # two copies meet inside one segment
                itself[owner[a]] = True
            if owner[a] == owner[b - 1]:
                whole[owner[a]] = True
            for j in range(a, b):
                repeat_weight[owner[j]] += _weight(units[j])
    out = []
    for k, text in enumerate(texts):
        total = spoken_weight(text)
        echo = whole[k] or (total > 0 and repeat_weight[k] / total >= 0.5)
        out.append((itself[k] and k not in spoken) or (echo and (confirm is None or confirm(k))))
    return out


def repeats_heard(seg: Segment, audio: np.ndarray | None) -> bool | None:
    """Whether the audio says again each clause that the segment's text repeats back to back.

    A slogan said three times is speech; a decoder that loops writes copies the audio does not hold. Each copy is
    placed in ``audio`` by the segment's word timings and compared with the first copy's sound
    (:func:`pipeline.asr.echo.sounds_alike`).

    Arguments:
        seg: the segment, its word timings on the same clock as its start.
        audio: the audio under the segment (from ``seg.start``), 16 kHz mono.

    Returns:
        None when the text repeats no clause, or there is nothing to judge by (no word timings, no audio, words
        that do not spell the text, or the segment shows a decoding loop's other evidence:
        :func:`loop_evidence`); True when every copy sounds like the first; False otherwise.
    """
    units = _units(seg.text)
    loops = find_clause_loops(units, min_copies=2)
    if not loops or audio is None or not audio.size or not seg.words or loop_evidence(seg, audio) is not None:
        return None
    owner: list[int] = []  # the word each unit of the text is in
    spelled: list[str] = []
    for k, w in enumerate(seg.words):
        word_units = _units(w.word)
        owner += [k] * len(word_units)
        spelled += word_units
    if spelled != units:
        return None

    def sound(first_unit: int, n: int) -> np.ndarray:
        start, end = seg.words[owner[first_unit]].start, seg.words[owner[first_unit + n - 1]].end
        return audio[max(0, int((start - seg.start) * SAMPLE_RATE)):max(0, int((end - seg.start) * SAMPLE_RATE))]

    for loop in loops:
        first = sound(loop.start, loop.length)
        for c in range(1, loop.copies):
            other = sound(loop.start + c * loop.length, loop.length)
            # a copy squeezed into a fraction of the first's time was placed by the aligner, not heard
            if min(first.size, other.size) < 0.4 * max(first.size, other.size) or not sounds_alike(first, other):
                return False
    return True


def mark_clause_loops(segments: list[Segment], confirm: Callable[[int], bool] | None = None,
                      spoken: Collection[int] = ()) -> int:
    """Add "repetition" to the segments of a transcript that repeat a clause (:func:`looped_segments`).

    An echo in a segment of its own counts when ``confirm(k)`` agrees; by default when the segment shows evidence of
    a decoding loop (:func:`loop_evidence`: more words than its time holds, collapsed word timings, an unsure
    decoder, extreme repetition).
    """
    if confirm is None:
        def confirm(k: int) -> bool:
            return loop_evidence(segments[k]) is not None
    n = 0
    for seg, looped in zip(segments, looped_segments([s.text for s in segments], confirm, spoken)):
        if looped and "repetition" not in seg.flags:
            seg.flags.append("repetition")
            n += 1
    return n


def has_repeated_ngrams(text: str, max_n: int = 4, min_repeats: int = 4) -> bool:
    """True when some n-gram (n <= max_n) repeats back to back min_repeats times ("the the the the")."""
    toks = _tokens(text)
    for n in range(1, max_n + 1):
        need = min_repeats if n > 1 else min_repeats + 1
        for i in range(0, len(toks) - n * need + 1):
            gram = toks[i : i + n]
            if all(toks[i + k * n : i + (k + 1) * n] == gram for k in range(1, need)):
                return True
    return False


# A decoding loop writes more than the audio can hold. Fast read speech is ~4 words/s in English and ~8 syllables/s
# in Korean; these limits leave room for fast speakers and Whisper's tight segment ends.
MAX_WORDS_PER_SECOND = 6.0
MAX_CJK_CHARS_PER_SECOND = 11.0
COLLAPSED_WORD_SECONDS = 0.03     # a word this short (or zero) was placed by the aligner, not heard
COLLAPSED_SHARE = 0.25            # ... when this share of the words is that short, the timings have collapsed
LOOP_COMPRESSION_RATIO = 4.0      # text this repetitive is a loop whatever its timings (none in real speech measured)


def _rate(text: str, seconds: float) -> float:
    """Words (or CJK characters, for CJK text) per second, scaled so 1.0 is the limit."""
    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]", text))
    words = len(re.findall(r"\w+", text))
    seconds = max(seconds, 0.05)
    if cjk > words:
        return cjk / seconds / MAX_CJK_CHARS_PER_SECOND
    return words / seconds / MAX_WORDS_PER_SECOND


def loop_evidence(seg: Segment, audio: np.ndarray | None = None) -> str | None:
    """Why repetitive text is a decoding loop rather than speech that repeats, or None.

    * more words than the segment's duration can hold;
    * collapsed word timings (many words of no duration, or piled on one instant);
    * the decoder was unsure (avg_logprob < -1) or thought there was no speech (no_speech_prob > 0.6);
    * text over near-silence (below -45 dBFS);
    * repetition far beyond what speech produces (compression ratio > 4).
    """
    text = seg.text.strip()
    if _rate(text, seg.end - seg.start) > 1.0:
        return "too many words for the audio"
    words = [w for w in seg.words if w.word.strip()]
    if len(words) >= 4:
        short = sum(1 for w in words if w.end - w.start <= COLLAPSED_WORD_SECONDS)
        starts = [round(w.start, 2) for w in words]
        piled = max(starts.count(x) for x in set(starts))
        if short / len(words) >= COLLAPSED_SHARE or piled >= 3:
            return "collapsed word timings"
        span = words[-1].end - words[0].start
        if _rate(text, span) > 1.0:
            return "too many words for the time they take"
    # no_speech_prob is the window's first-token estimate (high over pauses between clear prompts): it counts only
    # when the words themselves were decoded without confidence.
    logprob = seg.avg_logprob if seg.avg_logprob is not None else 0.0
    if logprob < LOGPROB_THRESHOLD or ((seg.no_speech_prob or 0) > NO_SPEECH_THRESHOLD and logprob < -0.5):
        return "decoder unsure"
    if audio is not None and audio.size and float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < 10 ** (-45 / 20):
        return "near silence"
    if compression_ratio(text) > LOOP_COMPRESSION_RATIO:
        return "extreme repetition"
    return None


def flag_segment(seg: Segment, audio: np.ndarray | None = None) -> list[str]:
    """Reasons to distrust a segment; the segment is kept, flagged (and searched, marked doubtful).

    * repetition -- a clause (three words, six syllables) written three times back to back (:func:`looped_segments`;
      across consecutive segments see :func:`mark_clause_loops`) that the audio is not heard to say again
      (:func:`repeats_heard`: word timings and ``audio`` are needed to hear it); or repetitive text (its compression ratio > 2.4,
      or a shorter n-gram repeated back to back) *and* evidence of a decoding loop (:func:`loop_evidence`): people
      repeat themselves ("The conference is now muted. The conference is now being recorded."; "만세! 만세! 만세!"),
      decoders loop;
    * hallucination -- the model itself says "probably no speech" (no_speech_prob > 0.6)
      and is unsure of the words (avg_logprob < -1);
    * silence -- the audio under the segment is below -60 dBFS;
    * music -- the text is only a music marker (♪, [Music]).
    """
    flags: list[str] = []
    text = seg.text.strip()
    # The segment's own text: engines report the compression ratio of the whole 30 s decoding window on each of its
    # segments, so one repetitive window would otherwise mark every line in it. A clause said again in the audio is
    # speech (a slogan, a chant); one the audio does not repeat, or that nothing can check, is a loop.
    if (looped_segments([text])[0] and not repeats_heard(seg, audio)) or (
        (compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD or has_repeated_ngrams(text)) and loop_evidence(seg, audio)
    ):
        flags.append("repetition")
    if (
        seg.no_speech_prob is not None
        and seg.avg_logprob is not None
        and seg.no_speech_prob > NO_SPEECH_THRESHOLD
        and seg.avg_logprob < LOGPROB_THRESHOLD
    ):
        flags.append("hallucination")
    if audio is not None and audio.size:
        if float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS:
            flags.append("silence")
    if not text or _MUSIC_ONLY.match(text):
        flags.append("music" if text else "silence")
    elif not re.search(r"\w", text):  # only punctuation (".", "..."): nothing was said
        flags.append("silence")
    return list(dict.fromkeys(flags))


# -- the audio profile's view of a transcript -----------------------------------


def mark_transcript(transcript: Transcript, profile: AudioProfile, music_share: float = 0.6, silence_share: float = 0.8) -> int:
    """Flag segments that lie over silence ("silence"), or over music while Whisper was unsure ("music").

    Whisper invents "lyrics" over instrumentals and phrases over silence; flagged
    segments are kept in the transcript but not indexed as speech. Sung words that
    Whisper hears confidently stay indexed: scholars search songs too. Speech over
    a music bed is speech, never flagged. Changes the segments in place and
    returns how many were newly flagged.
    """
    changed = 0
    for seg in transcript.segments:
        # Unsure of the *words*: the engines report no_speech_prob for the whole 30 s window (high over the pauses
        # between clearly spoken prompts), so it counts only with a low word confidence (issue 13: telephone prompts,
        # confidently decoded at avg_logprob -0.2, were flagged as music because of it).
        logprob = seg.avg_logprob if seg.avg_logprob is not None else -1.0
        unsure = logprob < -0.7 or ((seg.no_speech_prob or 0) > 0.4 and logprob < -0.5)
        if "silence" not in seg.flags and profile.share_in(seg.start, seg.end, "silence") >= silence_share \
                and (logprob < -0.5 or (seg.no_speech_prob or 0) > 0.9):
            seg.flags.append("silence")
            changed += 1
        elif "music" not in seg.flags and profile.share_in(seg.start, seg.end, "music") >= music_share:
            if unsure:
                seg.flags.append("music")
                changed += 1
            elif "repetition" not in seg.flags and _repetitive(seg.text):
                # Repetitive text over music is a decoding loop (issue 13), however sure the decoder was: people
                # repeat themselves in speech ("만세! 만세!"), which the transcript flags let through.
                seg.flags.append("repetition")
                changed += 1
    return changed


def _repetitive(text: str) -> bool:
    return compression_ratio(text.strip()) > COMPRESSION_RATIO_THRESHOLD or has_repeated_ngrams(text)
