"""openai-whisper engine: the reference PyTorch implementation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipeline.asr.base import (
    BEAM_SIZE,
    BEST_OF,
    COMPRESSION_RATIO_THRESHOLD,
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    TEMPERATURES,
    Segment,
    Transcriber,
    WindowResult,
    Word,
)
from pipeline.errors import ConfigError
from pipeline.media.audio import SAMPLE_RATE
from pipeline.models import ct2_convert
from pipeline.models import whisper as models


class OpenAIWhisperTranscriber(Transcriber):
    """The reference PyTorch implementation, fp32 on CPU, on a checkpoint converted from the packaged model."""

    engine = "openai-whisper"

    def __init__(self, model: str, models_dir: Path | None = None, compute_type: str = "float32") -> None:
        try:
            import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion
            import whisper  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                f"the openai-whisper engine needs the openai-whisper package ({exc.name} is missing): "
                "pip install openai-whisper, or use --engine faster-whisper"
            ) from exc

        super().__init__(model, models_dir)
        self.path = models.resolve_checkpoint(model, models_dir)
        torch.set_num_threads(os.cpu_count() or 1)
        self.model = ct2_convert.load_checkpoint(self.path, device="cpu")
        self.model.eval()

    @property
    def version(self) -> str:
        import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion
        import whisper

        return f"{whisper.__version__} (torch {torch.__version__}, fp32)"

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion
        import whisper

        if not self.model.is_multilingual:
            return "en", 1.0
        mel = whisper.log_mel_spectrogram(
            torch.from_numpy(audio[: whisper.audio.N_SAMPLES]), self.model.dims.n_mels, padding=whisper.audio.N_SAMPLES
        )[:, : whisper.audio.N_FRAMES]
        with torch.no_grad():
            _, probs = self.model.detect_language(mel)
        lang = max(probs, key=probs.get)
        return lang, float(probs[lang])

    def run(self, audio, *, language, task, word_timestamps, vad, clips=None) -> WindowResult:
        clip: list[float] | str = "0"
        speech = audio
        if clips:
            clip = [t for c in clips for t in c]
            speech = np.concatenate([audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in clips])
        elif vad:
            # heavy (loads CTranslate2, onnxruntime): only when this engine runs
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            chunks = get_speech_timestamps(audio, VadOptions())
            if not chunks:
                return WindowResult(language or ("en" if not self.multilingual else None), None, iter(()),
                                    speech_seconds=0.0)
            clip = [t / SAMPLE_RATE for c in chunks for t in (c["start"], c["end"])]
            speech = np.concatenate([audio[c["start"] : c["end"]] for c in chunks])
        prob = None
        if language is None:
            language, prob = self.detect_language(speech)
        result = self.model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=BEAM_SIZE,
            best_of=BEST_OF,
            temperature=TEMPERATURES,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            logprob_threshold=LOGPROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            condition_on_previous_text=False,
            word_timestamps=word_timestamps,
            clip_timestamps=clip,
            fp16=False,
            verbose=None,
        )
        segs = [
            Segment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=s["text"],
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
                compression_ratio=float(s["compression_ratio"]),
                temperature=float(s["temperature"]),
                words=[Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"])) for w in s.get("words", [])],
            )
            for s in result["segments"]
        ]
        kept = speech.size / SAMPLE_RATE if vad and not clips else None
        return WindowResult(language, prob, iter(segs), speech_seconds=kept)


