"""The ASR seam: result types, the ``Transcriber`` protocol every engine implements, and the engine registry.

An engine is one module with one ``Transcriber`` subclass plus one line in ``ENGINES`` (name -> "module:Class"),
imported on first use so an engine's heavy dependencies load only when it is chosen. Loaded models are kept in a
small LRU cache: a flow transcribes many videos in one process.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pipeline.config import DEVICES, Settings
from pipeline.errors import ConfigError
from pipeline.models import whisper as models
from pipeline.registry import Registry

# name -> "module:Class"; the first is the default (the names are also pipeline.config.ENGINE_NAMES).
ENGINES: Registry[type[Transcriber]] = Registry("engine", {
    "faster-whisper": "pipeline.asr.faster_whisper:FasterWhisperTranscriber",
    "openai-whisper": "pipeline.asr.openai_whisper:OpenAIWhisperTranscriber",
})
TASKS = ("transcribe", "translate")

# Decoding options shared by both engines (the whisper CLI's defaults, minus
# conditioning on previous text, which feeds repetition loops on long broadcasts).
BEAM_SIZE = 5
BEST_OF = 5
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback when a window fails the thresholds below
COMPRESSION_RATIO_THRESHOLD = 2.4
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6

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


@dataclass
class WindowResult:
    language: str | None
    language_probability: float | None
    segments: Iterator[Segment]  # times relative to the window; produced lazily where the engine allows
    # seconds of the window that the engine's VAD kept as speech; None when it ran no VAD (or does not say)
    speech_seconds: float | None = None
    # False when each stretch was decoded once, at temperature 0 (faster-whisper's batched pipeline): what fails
    # the thresholds above was not decoded again, and windows.py has it decoded again in short clips
    fallback: bool = True


def choose_device(device: str = "auto", supported: tuple[str, ...] = ("cpu", "cuda")) -> str:
    """``cpu`` or ``cuda`` for ``auto|cpu|cuda``: auto takes a GPU when CTranslate2 sees one and the engine can use it."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    if "cuda" not in supported:
        if device == "cuda":
            raise ConfigError("this engine runs on the CPU only here; use --device cpu or the faster-whisper engine")
        return "cpu"
    import ctranslate2  # heavy (~0.5 s): only when a model runs

    gpus = ctranslate2.get_cuda_device_count()
    if device == "cuda" and gpus == 0:
        raise ConfigError("--device cuda, but CTranslate2 sees no CUDA GPU (driver, CUDA 12 and cuDNN 9 libraries); "
                          "use --device cpu or auto")
    return "cuda" if gpus > 0 else "cpu"


class Transcriber(ABC):
    """One loaded model of one engine. ``run`` transcribes one in-memory window of audio."""

    engine: str = ""
    default_compute_type: str = "float32"
    compute_types: tuple[str, ...] = ("float32",)
    devices: tuple[str, ...] = ("cpu",)
    # the compute type each device runs best, for engines that run on more than the CPU
    device_compute_types: dict[str, str] = {}
    # whether the engine decodes several stretches of speech at once (``batch_size`` in its constructor)
    batches: bool = False

    def __init__(self, model: str, models_dir: Path | None = None, compute_type: str | None = None) -> None:
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
        self, audio: np.ndarray, *, language: str | None, task: str, word_timestamps: bool, vad: bool,
        clips: list[tuple[float, float]] | None = None,
    ) -> WindowResult:
        """Transcribe one window of 16 kHz mono float32 samples.

        Arguments:
            audio: the window's samples.
            language: an ISO code, or None to detect it.
            task: ``transcribe`` or ``translate``.
            word_timestamps: time each word.
            vad: decode only what Silero VAD calls speech.
            clips: decode only these ``(start, end)`` stretches (seconds), each on its own, without the VAD
                (``pipeline/asr/coverage.py`` hands back what a first decoding left out).

        Returns:
            The language and the segments, times relative to the window.
        """



_CACHE_SIZE = 2
_cache: OrderedDict[tuple, Transcriber] = OrderedDict()
_cache_lock = threading.Lock()


def engine_class(name: str) -> type[Transcriber]:
    """The ``Transcriber`` class registered as ``name``; ConfigError naming the engines for an unknown one."""
    return ENGINES.load(name)


def get_transcriber(
    engine: str = "faster-whisper", model: str = "base", models_dir: Path | None = None, compute_type: str | None = None,
    device: str = "cpu", batch_size: int | None = None,
) -> Transcriber:
    """A loaded model, kept in a small LRU cache: a flow transcribes many videos in one process.

    ``batch_size``: how many stretches of speech an engine that batches decodes at once (None: its default for the
    device; 0: one window at a time, with fallback); engines that do not batch ignore it.
    """
    cls = engine_class(engine)
    models_dir = Path(models_dir) if models_dir is not None else Settings().models_dir
    device = choose_device(device, cls.devices)
    compute_type = compute_type or cls.device_compute_types.get(device, cls.default_compute_type)
    if compute_type not in cls.compute_types:
        raise ConfigError(f"{engine} runs in {' or '.join(cls.compute_types)} here; drop or change the compute type")
    batch_size = batch_size if cls.batches else None
    if batch_size is not None and batch_size < 0:
        raise ConfigError(f"batch size {batch_size} (CLIPWATCH_WHISPER_CHUNKS): use 0 or more")
    key = (engine, str(model), str(models_dir), compute_type, device, batch_size)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        extra: dict = {"device": device} if len(cls.devices) > 1 else {}
        if batch_size is not None:
            extra["batch_size"] = batch_size
        t = cls(model, models_dir, compute_type=compute_type, **extra)
        _cache[key] = t
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return t


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


