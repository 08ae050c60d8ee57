"""Speech to timed text with Whisper (faster-whisper by default, openai-whisper as the reference engine).

Contract shared with the rest of the pipeline: ``transcribe(path, ...) -> Transcript``.

Audio is streamed from ffmpeg (16 kHz mono float32, :func:`pipeline.media.iter_audio`)
and transcribed in windows of :data:`WINDOW_SECONDS`, so memory stays flat for a
3-hour broadcast. A window that is not the last is cut at the start of its last
segment, and the next window starts there, so no sentence is split at a window
edge. The language is detected on the first window and then kept.

Segments are never dropped for looking wrong: they are *flagged* (see
:func:`flag_segment`), and ``Transcript.text`` and the subtitle writers leave
flagged segments out.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pipeline.errors import ConfigError, ModelError, NoAudioError
from pipeline.media.probe import probe
from pipeline.media.audio import SAMPLE_RATE, iter_audio

log = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "openai-whisper")
TASKS = ("transcribe", "translate")

# Decoding options shared by both engines (the whisper CLI's defaults, minus
# conditioning on previous text, which feeds repetition loops on long broadcasts).
BEAM_SIZE = 5
BEST_OF = 5
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback when a window fails the thresholds below
COMPRESSION_RATIO_THRESHOLD = 2.4
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6

# Audio held in memory at once. Peak RSS on a 10-minute clip with tiny.en int8 (bench/transcribe.py):
# 874 MB with 600 s windows, 612 MB with 300 s, 404 MB with 120 s (faster-whisper's feature
# extraction over a whole window dominates); 300 s keeps re-decoded window edges rare.
WINDOW_SECONDS = 300.0
SILENCE_RMS = 10 ** (-60 / 20)  # -60 dBFS: a segment quieter than this is text over silence

Progress = Callable[[float, float], None]


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
    temperature: float | None = None  # > 0 when the decoder had to fall back


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


# --------------------------------------------------------------------------- flags


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


# --------------------------------------------------------------------------- engines


@dataclass
class WindowResult:
    language: str | None
    language_probability: float | None
    segments: Iterator[Segment]  # times relative to the window; produced lazily where the engine allows


class Transcriber(ABC):
    """One loaded model of one engine. ``run`` transcribes one in-memory window of audio."""

    engine: str = ""

    def __init__(self, model: str, models_dir: Path | None = None) -> None:
        from pipeline.asr import models

        # One window at a time per loaded model (openai-whisper's decoder is not re-entrant;
        # on a few cores parallel windows would only compete for the same threads).
        self.lock = threading.Lock()
        self.model_name = model
        self.multilingual = models.is_multilingual(model, models_dir)

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def run(
        self, audio: np.ndarray, *, language: str | None, task: str, word_timestamps: bool, vad: bool
    ) -> WindowResult: ...


class FasterWhisperTranscriber(Transcriber):
    """CTranslate2 on CPU: int8 by default, one thread per core, bundled Silero VAD."""

    engine = "faster-whisper"

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


class OpenAIWhisperTranscriber(Transcriber):
    """The reference PyTorch implementation, fp32 on CPU, on a checkpoint converted from the packaged model."""

    engine = "openai-whisper"

    def __init__(self, model: str, models_dir: Path | None = None) -> None:
        try:
            import torch
            import whisper  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                f"the openai-whisper engine needs the openai-whisper package ({exc.name} is missing): "
                "pip install openai-whisper, or use --engine faster-whisper"
            ) from exc

        from pipeline.asr import ct2_convert
        from pipeline.asr import models

        super().__init__(model, models_dir)
        self.path = models.resolve_checkpoint(model, models_dir)
        torch.set_num_threads(os.cpu_count() or 1)
        self.model = ct2_convert.load_checkpoint(self.path, device="cpu")
        self.model.eval()

    @property
    def version(self) -> str:
        import torch
        import whisper

        return f"{whisper.__version__} (torch {torch.__version__}, fp32)"

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        import torch
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

    def run(self, audio, *, language, task, word_timestamps, vad) -> WindowResult:
        clip: list[float] | str = "0"
        speech = audio
        if vad:
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            chunks = get_speech_timestamps(audio, VadOptions())
            if not chunks:
                return WindowResult(language or ("en" if not self.multilingual else None), None, iter(()))
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
        return WindowResult(language, prob, iter(segs))


# --------------------------------------------------------------------------- model cache

_CACHE_SIZE = 2
_cache: OrderedDict[tuple, Transcriber] = OrderedDict()
_cache_lock = threading.Lock()


def get_transcriber(
    engine: str = "faster-whisper", model: str = "base", models_dir: Path | None = None, compute_type: str | None = None
) -> Transcriber:
    """A loaded model, kept in a small LRU cache: a flow transcribes many videos in one process."""
    from pipeline.config import Settings

    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    models_dir = Path(models_dir) if models_dir is not None else Settings().models_dir
    if engine == "faster-whisper":
        compute_type = compute_type or "int8"
    elif compute_type not in (None, "float32"):
        raise ConfigError("openai-whisper runs in float32 on CPU; drop the compute type")
    key = (engine, str(model), str(models_dir), compute_type)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        if engine == "faster-whisper":
            t: Transcriber = FasterWhisperTranscriber(model, models_dir, compute_type=compute_type)
        else:
            t = OpenAIWhisperTranscriber(model, models_dir)
        _cache[key] = t
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return t


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- entry point


def _known_language(code: str) -> bool:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return code in _LANGUAGE_CODES


def transcribe(
    path: Path,
    *,
    model: str = "base",
    engine: str = "faster-whisper",
    language: str | None = None,
    task: str = "transcribe",
    word_timestamps: bool = False,
    vad: bool = True,
    models_dir: Path | None = None,
    progress: Progress | None = None,
    compute_type: str | None = None,
) -> Transcript:
    """Transcribe (or translate to English) the audio of any media file.

    ``language`` forces the spoken language (ISO code such as ``ko``); None
    detects it on the first window. ``progress(done_s, total_s)`` is called as
    segments come out. NoAudioError when the file has no audio stream; a silent
    track gives a Transcript without unflagged segments.
    """
    path = Path(path)
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if language is not None:
        language = language.strip().lower()
        if not _known_language(language):
            raise ConfigError(f"language {language!r} is not one Whisper knows; use an ISO 639-1 code such as en or ko")
    info = probe(path)  # MediaError for non-media
    if not info.has_audio:
        raise NoAudioError(f"{path.name}: has no audio track to transcribe (a video-only file); nothing to do")
    transcriber = get_transcriber(engine, model, models_dir, compute_type)
    if not transcriber.multilingual:
        if language not in (None, "en"):
            raise ModelError(f"model {model!r} understands English only; use a multilingual model (base) for language {language!r}")
        if task == "translate":
            raise ModelError(f"model {model!r} is English-only and cannot translate; use a multilingual model (base)")
        language = "en"

    total = float(info.duration)
    window = int(WINDOW_SECONDS * SAMPLE_RATE)
    buf = np.zeros(0, np.float32)
    offset_samples = 0  # absolute position of buf[0]
    n_samples = 0
    detected: str | None = language
    locked: str | None = None  # language detected on the first window with speech
    detected_prob: float | None = 1.0 if language is not None else None
    out: list[Segment] = []
    stream = iter_audio(path, chunk_seconds=30.0)
    exhausted = False

    last = [0.0]

    def report(done: float, end: float | None = None) -> None:
        # Monotonic, rounded like the durations; total grows if the container under-reported it.
        if progress is not None:
            done = max(last[0], round(done, 3))
            last[0] = done
            progress(done, end if end is not None else max(total, done))

    while not exhausted or buf.size:
        while not exhausted and buf.size < window:
            chunk = next(stream, None)
            if chunk is None:
                exhausted = True
                break
            n_samples += chunk.size
            buf = np.concatenate([buf, chunk]) if buf.size else chunk
        if not buf.size:
            break
        final = exhausted and buf.size <= window
        win = buf[:window]
        offset = offset_samples / SAMPLE_RATE
        segs: list[Segment] = []
        with transcriber.lock:
            res = transcriber.run(win, language=language or locked, task=task, word_timestamps=word_timestamps, vad=vad)
            for seg in res.segments:
                segs.append(seg)
                report(offset + seg.end)
        if detected is None or (language is None and locked is None):
            detected, detected_prob = res.language, res.language_probability
            # Keep the detected language for later windows once a window had speech; a window of
            # music or silence says little about the language, so the next one detects again.
            if language is None and any(s.text.strip() and (s.no_speech_prob or 0) < NO_SPEECH_THRESHOLD for s in segs):
                locked = detected
        cut = win.size
        if not final and segs and segs[-1].start > 1.0:
            # Start the next window where the last (possibly cut) segment started.
            cut = min(int(segs[-1].start * SAMPLE_RATE), win.size)
            segs = segs[:-1]
        for seg in segs:
            a, b = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE)
            seg.flags = flag_segment(seg, win[a:b])
            seg.start, seg.end = round(seg.start + offset, 3), round(seg.end + offset, 3)
            for w in seg.words:
                w.start, w.end = round(w.start + offset, 3), round(w.end + offset, 3)
            out.append(seg)
        buf = buf[cut:]
        offset_samples += cut
        report(offset_samples / SAMPLE_RATE)
        if final:
            break

    duration = round(n_samples / SAMPLE_RATE, 3)
    if progress is not None:
        progress(max(last[0], duration), max(last[0], duration))
    return Transcript(
        language=detected,
        language_probability=detected_prob,
        duration=duration,
        model=str(model),
        engine=transcriber.engine,
        engine_version=transcriber.version,
        task=task,
        segments=out,
    )
