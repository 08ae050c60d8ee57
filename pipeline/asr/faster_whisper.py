"""faster-whisper (CTranslate2) engine: the default."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterator

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
from pipeline.errors import ModelError
from pipeline.models import whisper as models

GPU_BATCH_SIZE = 16
# One 30-s chunk at a time on a CPU. Two at a time took 12-23 % less time on 2 cores (bench/decoding.py: 104.8
# against 135.3 s on 14.7 min of English speech), but the beams hold a copy of each chunk's encoder output in every
# decoder layer: 62-160 MB more at the peak with base, more with the larger models; CLIPWATCH_WHISPER_CHUNKS=2.
CPU_BATCH_SIZE = 1


class FasterWhisperTranscriber(Transcriber):
    """CTranslate2: on CPU int8, one thread per core; on a GPU float16 and faster-whisper's batched pipeline."""

    engine = "faster-whisper"
    default_compute_type = "int8"
    compute_types = ("int8", "int8_float32", "float32", "float16", "int8_float16")
    devices = ("cpu", "cuda")
    # int8 on CPU (4x smaller, fastest there), float16 on an NVIDIA GPU.
    device_compute_types = {"cpu": "int8", "cuda": "float16"}
    batches = True

    def __init__(self, model: str, models_dir: Path | None = None, compute_type: str = "int8",
                 device: str = "cpu", batch_size: int | None = None) -> None:
        # heavy (loads CTranslate2, onnxruntime): only when this engine runs
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        from pipeline.asr.mel import BlockedFeatureExtractor  # imports faster-whisper too

        super().__init__(model, models_dir)
        self.path = models.resolve_ct2(model, models_dir)
        self.compute_type = compute_type
        self.device = device
        try:
            self.model = WhisperModel(
                str(self.path), device=device, compute_type=compute_type, cpu_threads=os.cpu_count() or 1,
                local_files_only=True,
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.path}: faster-whisper cannot load this model on {device} ({exc})") from exc
        # the same spectrogram with a fifth of the transient memory (123 -> 23 MB per 120-s window): pipeline/asr/mel.py
        self.model.feature_extractor = BlockedFeatureExtractor(**self.model.feat_kwargs)
        # Decoding: faster-whisper's batched pipeline, the VAD's chunks of up to 30 s decoded once without timestamp
        # tokens (windows.py cuts them into sentences at their words). Its one decoding at temperature 0 has no
        # fallback: windows.py decodes what fails Whisper's thresholds again in short clips with the sequential
        # decoder, which has. On 14.7 min of real prompts and LibriVox (bench/decoding.py, asterisk-core-sounds-en and
        # pocketsphinx-testdata; base int8, 2 cores) clipwatch's windows took 135.3 s one chunk at a time against
        # 171.8 s with the sequential decoder, at a WER of 3.07 against 2.74 % (held out: 10.55 against 11.56 % in
        # Spanish, 16.35 against 18.50 % in French).
        self.batched = BatchedInferencePipeline(self.model)
        if batch_size is None:
            batch_size = GPU_BATCH_SIZE if device == "cuda" else CPU_BATCH_SIZE
        self.batch_size = batch_size

    @property
    def version(self) -> str:
        import ctranslate2  # heavy (~0.5 s): only when a model runs
        import faster_whisper

        where = "" if self.device == "cpu" else f", {self.device}"
        return f"{faster_whisper.__version__} (ctranslate2 {ctranslate2.__version__}, {self.compute_type}{where})"

    def run(self, audio, *, language, task, word_timestamps, vad, clips=None) -> WindowResult:
        # clips: a few short stretches, each decoded on its own; the sequential decoder takes them as clip timestamps
        where: dict = ({"vad_filter": False, "clip_timestamps": [t for clip in clips for t in clip]} if clips
                       else {"vad_filter": vad})
        # The batched pipeline decodes VAD chunks into 30-s segments that only their words' timings can cut into
        # sentences: without a VAD, without word timings (a translation) or with a batch size of 0, the sequential
        # decoder reads 30-s windows in turn, with timestamp tokens and fallback.
        sequential = bool(clips) or not vad or not word_timestamps or not self.batch_size
        if sequential:
            decode = self.model.transcribe
        else:
            decode = functools.partial(self.batched.transcribe, batch_size=self.batch_size, without_timestamps=True)
        segments, info = decode(
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
            **where,
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

        kept = float(info.duration_after_vad) if where["vad_filter"] else None
        return WindowResult(info.language, float(info.language_probability), gen(), speech_seconds=kept,
                            fallback=sequential)


