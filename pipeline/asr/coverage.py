"""Speech that Whisper left out of a window: found with the VAD, to be decoded again in short clips.

Why: Whisper's sequential decoding drops a whole 30-s segment when its first token says "no speech"
(``no_speech_prob`` > 0.6) and its text is unlikely (``avg_logprob`` < -1). Repetitive speech, the same line said
again and again as slogans and prompts are, fails the compression-ratio check at every temperature below 1.0, so the
segment is decoded again by sampling, at random. On bench/decoding.py's track of real prompts (asterisk-core-sounds-en)
30 s of "The conference will begin when the leader arrives ..." came out as nothing in one run and as one line in
another. Cut at its pauses into clips of at most 10 s, each clip holds a sentence or two, nothing repeats, and the
same decoder reads all six lines at temperature 0, in a third of the time the window's fallback took.

The check costs nothing where the segments leave no stretch of :data:`MIN_HOLE_SECONDS` uncovered; elsewhere the
VAD runs on the uncovered stretches only (Silero, about 0.2 s of CPU per 120 s of audio).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from pipeline.asr.base import Segment
from pipeline.asr.flags import spoken_weight
from pipeline.media.audio import SAMPLE_RATE

MIN_HOLE_SECONDS = 2.0  # a stretch without a segment shorter than this is a pause between sentences
MIN_SPEECH_SECONDS = 1.0  # VAD speech in a stretch below this is a breath, a click or a cut-off syllable
CLIP_SECONDS = 10.0  # a sentence or two: long enough for context, too short to repeat itself
PAUSE_MS = 300  # the VAD splits speech at pauses this long (faster-whisper's own filter waits 2 s)
PAD_MS = 200
# A segment of SPARSE_MIN_SECONDS or more holding under SPARSE_SHARE of the words its time holds at the window's usual
# rate (the median of SPARSE_MIN_SEGMENTS segments or more) left words out (see too_few_words)
SPARSE_MIN_SECONDS = 4.0
SPARSE_SHARE = 0.5
SPARSE_MIN_SEGMENTS = 3


def holes(segments: Iterable[Segment], end: float, min_hole: float = MIN_HOLE_SECONDS) -> list[tuple[float, float]]:
    """The stretches of ``[0, end)`` that no segment covers, each at least ``min_hole`` seconds long.

    Arguments:
        segments: a window's segments, flagged ones included (they were decoded; what they cover is not left out),
            times relative to the window.
        end: where the window's covered part ends (a window that is not the last ends at its last segment's start).
        min_hole: shorter stretches are pauses.

    Returns:
        ``(start, end)`` pairs in seconds, in order.
    """
    out: list[tuple[float, float]] = []
    at = 0.0
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.start - at >= min_hole:
            out.append((at, min(seg.start, end)))
        at = max(at, seg.end)
        if at >= end:
            break
    if end - at >= min_hole:
        out.append((at, end))
    return [(a, b) for a, b in out if b - a >= min_hole]


def speech_pieces(samples: np.ndarray) -> list[tuple[float, float]]:
    """Silero VAD's speech in 16 kHz mono samples, split at pauses of :data:`PAUSE_MS`: ``(start, end)`` in seconds."""
    # heavy (loads onnxruntime and faster-whisper's packaged Silero model): only when a window leaves a hole
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    chunks = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=PAUSE_MS, speech_pad_ms=PAD_MS))
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]


def group_clips(pieces: Sequence[tuple[float, float]], longest: float = CLIP_SECONDS) -> list[tuple[float, float]]:
    """Consecutive speech pieces joined into clips of at most ``longest`` seconds (a longer piece stays whole)."""
    clips: list[tuple[float, float]] = []
    for start, end in pieces:
        if clips and end - clips[-1][0] <= longest:
            clips[-1] = (clips[-1][0], end)
        else:
            clips.append((start, end))
    return clips


def missed_speech(
    samples: np.ndarray, segments: Sequence[Segment], end: float, min_speech: float = MIN_SPEECH_SECONDS
) -> list[tuple[float, float]]:
    """The clips of speech in a window that its segments leave out, ready to be decoded again.

    Arguments:
        samples: the window's 16 kHz mono float32 samples.
        segments: what the decoder returned for it, times relative to the window.
        end: where the window's covered part ends, in seconds.
        min_speech: a stretch with less VAD speech than this is left alone.

    Returns:
        ``(start, end)`` clips in seconds relative to the window, at most :data:`CLIP_SECONDS` each, in order.
    """
    clips: list[tuple[float, float]] = []
    for start, stop in holes(segments, end):
        a, b = int(start * SAMPLE_RATE), int(stop * SAMPLE_RATE)
        pieces = [(start + s, start + e) for s, e in speech_pieces(samples[a:b])]
        if sum(e - s for s, e in pieces) >= min_speech:
            clips.extend(group_clips(pieces))
    return clips


def usual_rate(segments: Sequence[Segment]) -> float | None:
    """The window's usual speaking rate: the median spoken weight per second (:func:`spoken_weight`) of its
    segments of a second or more with text; None with fewer than :data:`SPARSE_MIN_SEGMENTS` of them."""
    rates = [spoken_weight(s.text) / (s.end - s.start) for s in segments if s.end - s.start >= 1.0 and s.text.strip()]
    return float(np.median(rates)) if len(rates) >= SPARSE_MIN_SEGMENTS else None


def too_few_words(segment: Segment, rate: float | None) -> bool:
    """Whether a segment's text holds well under what its time holds at the window's usual ``rate``.

    Whisper writes a line said again as one copy over the time of both ("The conference will begin when our
    glorious leader arrives." twice, 7.8 s, decoded as one 9-word segment; the speaker's rate is 2.8 words a second).
    Such a segment is decoded again piece by piece (:func:`pieces_of`).
    """
    seconds = segment.end - segment.start
    return rate is not None and seconds >= SPARSE_MIN_SECONDS and \
        spoken_weight(segment.text) / seconds < SPARSE_SHARE * rate


def pieces_of(samples: np.ndarray, segments: Sequence[Segment]) -> list[tuple[float, float]]:
    """Clips for segments decoded again whole: each stretch of VAD speech in them (split at pauses of
    :data:`PAUSE_MS`) a clip of its own, so that a line said twice is two clips, not one that repeats itself."""
    clips: list[tuple[float, float]] = []
    for seg in segments:
        a, b = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE)
        clips += [(seg.start + s, seg.start + e) for s, e in speech_pieces(samples[a:b])]
    return clips


def inside(segment: Segment, clips: Sequence[tuple[float, float]]) -> bool:
    """Whether a segment decoded from ``clips`` lies in one of them (its middle does): what else it says is a repeat."""
    middle = (segment.start + segment.end) / 2
    return any(start <= middle <= end for start, end in clips)
