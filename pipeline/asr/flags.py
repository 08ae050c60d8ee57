"""Reasons to distrust a Whisper segment. Segments are never dropped for looking wrong: they are flagged."""

from __future__ import annotations

import re
import zlib

import numpy as np

from pipeline.asr.base import COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD, SILENCE_RMS, Segment


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


def flag_segment(seg: Segment, audio: np.ndarray | None = None) -> list[str]:
    """Reasons to distrust a segment; the segment is kept, flagged.

    * repetition -- compression ratio > 2.4, or an n-gram repeated back to back;
    * hallucination -- the model itself says "probably no speech" (no_speech_prob > 0.6)
      and is unsure of the words (avg_logprob < -1);
    * silence -- the audio under the segment is below -60 dBFS;
    * music -- the text is only a music marker (♪, [Music]).
    """
    flags: list[str] = []
    text = seg.text.strip()
    cr = seg.compression_ratio if seg.compression_ratio is not None else compression_ratio(text)
    if cr > COMPRESSION_RATIO_THRESHOLD or has_repeated_ngrams(text):
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
    return list(dict.fromkeys(flags))


