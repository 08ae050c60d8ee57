"""Whisper's own translate task: the transcription model decodes the audio again, straight to English."""

from __future__ import annotations

from typing import Any

from pipeline import asr
from pipeline.translate.base import Translator


class WhisperTranslator(Translator):
    kind = "whisper"

    def __init__(self, model: str | None, settings: Any) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return "whisper"

    def refuses(self, original) -> str | None:
        if self.settings.model.endswith(".en"):
            return f"model {self.settings.model} is English-only and cannot translate"
        return None

    def translate(self, original, audio=None):
        if audio is None:
            raise ValueError("Whisper translates the audio: pass the samples")
        s = self.settings
        return asr.transcribe(audio, model=s.model, engine=s.engine, language=original.language, task="translate",
                              models_dir=s.models_dir, device=s.device)
