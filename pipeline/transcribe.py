"""Speech to timed text with Whisper (faster-whisper by default, openai-whisper as the reference engine).

Contract shared with the rest of the pipeline: ``transcribe(path, ...) -> Transcript``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    # Why a segment should not be trusted/indexed: "hallucination", "repetition", "music", "silence".
    flags: list[str] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    language: str | None
    language_probability: float | None
    duration: float
    model: str
    engine: str
    engine_version: str
    task: str = "transcribe"  # or "translate" (to English)
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if not s.flags).strip()
