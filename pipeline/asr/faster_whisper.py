"""faster-whisper (CTranslate2) engine: the default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from pipeline.asr.base import (BEAM_SIZE, BEST_OF, COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD,
                               TEMPERATURES, Segment, Transcriber, WindowResult, Word)
from pipeline.errors import ModelError


class FasterWhisperTranscriber(Transcriber):
    """CTranslate2 on CPU: int8 by default, one thread per core, bundled Silero VAD."""

    engine = "faster-whisper"
    default_compute_type = "int8"
    compute_types = ("int8", "int8_float32", "float32")

    def __init__(self, model: str, models_dir: Path | None = None, compute_type: str = "int8") -> None:
        from faster_whisper import WhisperModel

        from pipeline.asr import models

        super().__init__(model, models_dir)
        self.path = models.resolve_ct2(model, models_dir)
        self.compute_type = compute_type
        try:
            self.model = WhisperModel(
                str(self.path), device="cpu", compute_type=compute_type, cpu_threads=os.cpu_count() or 1, local_files_only=True
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.path}: faster-whisper cannot load this model ({exc})") from exc

    @property
    def version(self) -> str:
        import ctranslate2
        import faster_whisper

        return f"{faster_whisper.__version__} (ctranslate2 {ctranslate2.__version__}, {self.compute_type})"

    def run(self, audio, *, language, task, word_timestamps, vad) -> WindowResult:
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=BEAM_SIZE,
            best_of=BEST_OF,
            temperature=list(TEMPERATURES),
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            log_prob_threshold=LOGPROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            condition_on_previous_text=False,
            word_timestamps=word_timestamps,
            vad_filter=vad,
        )

        def gen() -> Iterator[Segment]:
            for s in segments:
                yield Segment(
                    start=float(s.start),
                    end=float(s.end),
                    text=s.text,
                    avg_logprob=float(s.avg_logprob),
                    no_speech_prob=float(s.no_speech_prob),
                    compression_ratio=float(s.compression_ratio),
                    temperature=float(s.temperature) if s.temperature is not None else None,
                    words=[Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in (s.words or [])],
                )

        return WindowResult(info.language, float(info.language_probability), gen())


