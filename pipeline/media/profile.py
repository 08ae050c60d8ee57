"""Per-second audio profile: speech, music, speech over music, noise, silence; offline on CPU.

The audio (16 kHz mono float32) is cut into 1-second windows. A window is
*silence* when nearly all its 32 ms frames are quieter than -50 dBFS. Every
other window is labelled by a small neural network (weights shipped in
``pipeline/data/audio_model.json``, trained by ``bench/audio_profile.py --train``
on real recordings only: read and prompted speech, released music, game sound
effects from Debian and PyPI packages, and mixtures of them) from:

- spectral and temporal features of the window computed with numpy on the
  0-4 kHz band only (so telephone audio and full-band audio look alike): the
  2-8 Hz energy modulation (the syllable rate of speech), autocorrelation
  harmonicity and voiced-run length, spectral flux, flatness, centroid and
  stability, band-energy shape, a beat-periodicity measure;
- the speech probability of the Silero VAD that ships inside faster-whisper
  (``faster_whisper.vad``, ONNX, no download), its mean, max, spread and
  share of speech chunks in the window;
- the same features averaged over the ±2 and ±5 neighbouring windows.

Class probabilities are smoothed with a median over 3 windows. Consecutive
windows with the same label are merged into spans.

The audio is processed in 32-second blocks, so memory stays flat for a
3-hour file given as a path (streamed from ffmpeg) or as a memory-mapped array.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from pipeline.errors import MediaError, ModelError
from pipeline.media.audio import iter_audio, pcm_blocks

log = logging.getLogger(__name__)

SR = 16_000
FRAME = 512  # 32 ms analysis frame
HOP = 320  # 20 ms
NFFT = 1024  # room for a linear autocorrelation up to lag 267 (60 Hz)
FRAMES_PER_WINDOW = SR // HOP  # 50 frames = one 1-second window
WINDOW_S = 1.0
BLOCK_WINDOWS = 32  # windows per processing block (32 s = 1000 Silero chunks of 512 samples)
BAND_HZ = 4000.0  # features look at 0-4 kHz only: telephone and full-band audio alike
SILENCE_DB = -50.0  # a frame quieter than this (dBFS) is silent
VAD_CHUNK = 512
FEATURES_VERSION = "f3"  # bump when window_features changes (the model's inputs)
BASE_FEATURES = [
    "db_std", "low_energy_ratio", "flux_mean", "flux_std", "centroid_mean", "centroid_std", "log_flatness",
    "mod_2_8hz", "harm_mean", "harm_std", "voiced_frac", "voiced_run", "spec_stability", "rolloff_std",
    "silent_frac", "beat", "beat_2s", "repeat", "band_0", "band_1", "band_2", "band_3", "band_4", "band_5",
    "vad_mean", "vad_max", "vad_std", "vad_frac",
]
# columns of window_features(): the base features, then two that only the silence rule reads
FEATURE_NAMES = BASE_FEATURES + ["db_mean", "db_max"]
CLASSES = ("speech", "music", "speech_over_music", "noise")
LABELS = CLASSES + ("silence",)
SPEECH_LABELS = ("speech", "speech_over_music")


@dataclass
class AudioSpan:
    start: float
    end: float
    label: str  # speech | music | speech_over_music | noise | silence
    confidence: float


@dataclass
class AudioProfile:
    """Shares of the duration (0..1) and per-second labels.

    ``speech`` counts every second with speech in it, with or without a music bed
    (``speech_over_music`` is the part with a bed); ``music`` is music without
    speech. ``music + speech + noise + silence`` is 1 for a non-empty profile.
    """

    duration: float
    music: float
    speech: float
    silence: float
    spans: list[AudioSpan] = field(default_factory=list)
    model_version: str = ""  # the weights' version (``version`` adds the features' version)
    noise: float = 0.0
    speech_over_music: float = 0.0
    labels: list[str] = field(default_factory=list)  # one per 1-second window
    version: str = ""  # features + model: changes when the classifier changes

    def share_in(self, start: float, end: float, label: str | tuple[str, ...]) -> float:
        """Fraction of [start, end) covered by spans with this label (or any of these labels)."""
        want = (label,) if isinstance(label, str) else tuple(label)
        length = max(end - start, 1e-6)
        covered = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in self.spans if s.label in want)
        return min(1.0, covered / length)

    def summary(self) -> str:
        parts = [f"music {self.music:.0%}", f"speech {self.speech:.0%}"]
        if self.speech_over_music:
            parts.append(f"(over music {self.speech_over_music:.0%})")
        if self.noise:
            parts.append(f"noise {self.noise:.0%}")
        parts.append(f"silence {self.silence:.0%}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spans"] = [[round(s.start, 3), round(s.end, 3), s.label, s.confidence] for s in self.spans]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AudioProfile":
        try:
            spans = [AudioSpan(float(s[0]), float(s[1]), str(s[2]), float(s[3])) if isinstance(s, (list, tuple))
                     else AudioSpan(float(s["start"]), float(s["end"]), str(s["label"]), float(s["confidence"]))
                     for s in d.get("spans", [])]
            return cls(float(d["duration"]), float(d["music"]), float(d["speech"]), float(d["silence"]), spans,
                       str(d.get("model_version", "")), float(d.get("noise", 0.0)), float(d.get("speech_over_music", 0.0)),
                       [str(x) for x in d.get("labels", [])], str(d.get("version", "")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"stored audio profile is unreadable ({exc!r}); re-run the audio profile step") from exc


# -- features ----------------------------------------------------------------

_HANN = np.hanning(FRAME).astype(np.float32)
_FREQS = np.fft.rfftfreq(NFFT, 1 / SR)
_BAND = _FREQS <= BAND_HZ
_BAND_EDGES = [100, 250, 500, 900, 1500, 2500, 4000]  # Hz, 6 bands
_BAND_IDX = [np.flatnonzero((_FREQS >= a) & (_FREQS < b)) for a, b in zip(_BAND_EDGES[:-1], _BAND_EDGES[1:])]
_MOD_BINS = np.fft.rfftfreq(FRAMES_PER_WINDOW, HOP / SR)
_MOD_BAND = (_MOD_BINS >= 2) & (_MOD_BINS <= 8)
_MOD_REF = (_MOD_BINS >= 1) & (_MOD_BINS <= 20)


@functools.lru_cache(maxsize=1)
def _vad_model():
    from faster_whisper.vad import get_vad_model  # heavy (loads CTranslate2, onnxruntime): only when this engine runs

    return get_vad_model()


def vad_probs(y: np.ndarray) -> np.ndarray:
    """Silero VAD speech probability per 32 ms chunk (faster-whisper's bundled ONNX model)."""
    n = len(y) // VAD_CHUNK
    if n == 0:
        return np.zeros(0, np.float32)
    return np.asarray(_vad_model()(np.ascontiguousarray(y[: n * VAD_CHUNK], np.float32)), np.float32).reshape(-1)


def _block_features(y: np.ndarray, n_win: int, prev: np.ndarray | None = None) -> np.ndarray:
    """(n_win, len(FEATURE_NAMES)) for a block whose window 0 starts at y[0]; y may run on past the last window.

    ``prev`` is the second of audio before the block (zeros at the start): the rhythm features
    compare each window with the one before it.
    """
    need = n_win * SR + FRAME
    if len(y) < need:
        y = np.pad(y, (0, need - len(y)))
    vad = vad_probs(y[: n_win * SR])
    vad = np.pad(vad, (0, max(0, math.ceil(n_win * SR / VAD_CHUNK) - len(vad))))
    y = np.concatenate([prev if prev is not None and len(prev) == SR else np.zeros(SR, np.float32), y])
    n_win += 1  # the second before the block is analysed too, then dropped
    n_frames = n_win * FRAMES_PER_WINDOW
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n_frames)[:, None]
    fr = y[idx]
    energy = (fr.astype(np.float64) ** 2).mean(axis=1)
    db = 10 * np.log10(energy + 1e-10)
    spec = np.fft.rfft(fr * _HANN, NFFT)
    power_full = spec.real ** 2 + spec.imag ** 2 + 1e-12
    power = power_full[:, _BAND]
    freqs = _FREQS[_BAND]
    psum = power.sum(axis=1)
    centroid = (power * freqs).sum(axis=1) / psum / BAND_HZ
    flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
    cum = np.cumsum(power, axis=1)
    rolloff = (cum < 0.85 * psum[:, None]).sum(axis=1) / power.shape[1]
    mag = np.sqrt(power)
    nmag = mag / (np.linalg.norm(mag, axis=1, keepdims=True) + 1e-12)
    flux = np.r_[0.0, np.linalg.norm(np.diff(nmag, axis=0), axis=1)]
    lmag = np.log(mag)
    lmag = lmag - lmag.mean(axis=1, keepdims=True)
    ln = lmag / (np.linalg.norm(lmag, axis=1, keepdims=True) + 1e-12)
    stab = np.r_[(ln[2:] * ln[:-2]).sum(axis=1), np.ones(2)][: len(ln)]
    # autocorrelation of the 0-4 kHz part: harmonicity in the 60-400 Hz pitch range
    band_power = np.where(_BAND[None, :], power_full, 0.0)
    ac = np.fft.irfft(band_power, NFFT)[:, :300]
    harm = ac[:, 40:267].max(axis=1) / (ac[:, 0] + 1e-12)
    silent = db < SILENCE_DB
    harm = np.where(silent, 0.0, harm)
    bands = np.log(np.stack([power_full[:, i].sum(axis=1) for i in _BAND_IDX], axis=1) + 1e-12)
    bands = bands - np.log(psum + 1e-12)[:, None]
    fz = flux

    feats = np.zeros((n_win - 1, len(FEATURE_NAMES)), np.float32)
    for w in range(1, n_win):
        s = slice(w * FRAMES_PER_WINDOW, (w + 1) * FRAMES_PER_WINDOW)
        s2 = slice((w - 1) * FRAMES_PER_WINDOW, (w + 1) * FRAMES_PER_WINDOW)
        e, d, h = energy[s], db[s], harm[s]
        env = np.sqrt(e)
        mspec = np.abs(np.fft.rfft(env - env.mean())) ** 2
        voiced = h > 0.5
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, voiced.astype(np.int8), 0])))[::2]  # lengths of voiced runs
        f = flux[s] - flux[s].mean()
        fac = np.correlate(f, f, "full")[len(f) - 1:]
        beat = fac[12:26].max() / (fac[0] + 1e-12)  # onset periodicity at 0.24-0.5 s
        f2 = fz[s2] - fz[s2].mean()
        fac2 = np.correlate(f2, f2, "full")[len(f2) - 1:]
        beat_2s = fac2[12:51].max() / (fac2[0] + 1e-12)  # onset periodicity at 0.24-1 s over two seconds
        a, b = fz[s] - fz[s].mean(), fz[(w - 1) * FRAMES_PER_WINDOW: w * FRAMES_PER_WINDOW]
        b = b - b.mean()
        xc = np.correlate(np.r_[b, a], a, "valid")  # this second against the one before, shifted (music repeats)
        repeat = xc[:FRAMES_PER_WINDOW - 10].max() / (np.sqrt((a ** 2).sum() * (b ** 2).sum()) + 1e-9)
        v = vad[int((w - 1) * SR / VAD_CHUNK): int(w * SR / VAD_CHUNK)]
        feats[w - 1] = [
            d.std(), (e < 0.5 * e.mean()).mean(), flux[s].mean(), flux[s].std(), centroid[s].mean(), centroid[s].std(),
            np.log(flatness[s].mean() + 1e-12), mspec[_MOD_BAND].sum() / (mspec[_MOD_REF].sum() + 1e-12),
            h.mean(), h.std(), voiced.mean(), (runs.mean() if len(runs) else 0.0) / FRAMES_PER_WINDOW,
            stab[s].mean(), rolloff[s].std(), silent[s].mean(), beat, beat_2s, repeat, *bands[s].mean(axis=0),
            v.mean(), v.max(), v.std(), (v > 0.5).mean(), d.mean(), d.max(),
        ]
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)


def _clean(chunk: np.ndarray) -> np.ndarray:
    y = np.asarray(chunk, dtype=np.float32).reshape(-1)
    if not np.isfinite(y).all():
        y = np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(y, -1.0, 1.0)


class FeatureStream:
    """Window features of audio fed in chunks of any size, computed in 32-second blocks (flat memory)."""

    def __init__(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self._prev: np.ndarray | None = None  # the last second before _buf
        self._parts: list[np.ndarray] = []
        self.samples = 0

    def feed(self, chunk: np.ndarray) -> None:
        y = _clean(chunk)
        self.samples += len(y)
        self._buf = np.concatenate([self._buf, y]) if len(self._buf) else y
        block = BLOCK_WINDOWS * SR
        while len(self._buf) >= block + FRAME:
            self._parts.append(_block_features(self._buf[: block + FRAME], BLOCK_WINDOWS, self._prev))
            self._prev = self._buf[block - SR : block]
            self._buf = self._buf[block:]

    def finish(self) -> np.ndarray:
        rest = len(self._buf)
        if rest:
            n = rest // SR + (1 if rest % SR >= SR / 2 or rest < SR else 0)  # a trailing part of 0.5 s or more, or a clip under 1 s
            if n:
                self._parts.append(_block_features(self._buf, n, self._prev))
        self._buf = np.zeros(0, np.float32)
        return np.vstack(self._parts) if self._parts else np.zeros((0, len(FEATURE_NAMES)), np.float32)


def window_features(y: np.ndarray) -> np.ndarray:
    """(n_windows, len(FEATURE_NAMES)) for 16 kHz mono float audio (an array or a memory map)."""
    stream = FeatureStream()
    step = BLOCK_WINDOWS * SR * 4
    for a in range(0, len(y), step):
        stream.feed(y[a : a + step])
    return stream.finish()


CONTEXT = 4  # blocks of len(BASE_FEATURES) columns in the classifier's input


def context_features(feats: np.ndarray) -> np.ndarray:
    """Each window's base features beside their means over the ±2 and ±5 neighbouring windows and their
    spread over ±5 windows (the classifier's input)."""
    base = feats[:, : len(BASE_FEATURES)].astype(np.float64)
    n = len(base)
    if n == 0:
        return np.zeros((0, CONTEXT * len(BASE_FEATURES)), np.float32)
    out = [base]
    csum = np.vstack([np.zeros((1, base.shape[1])), np.cumsum(base, axis=0)])
    csq = np.vstack([np.zeros((1, base.shape[1])), np.cumsum(base ** 2, axis=0)])
    for k in (2, 5):
        lo = np.clip(np.arange(n) - k, 0, n)
        hi = np.clip(np.arange(n) + k + 1, 0, n)
        mean = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
        out.append(mean)
    sq = (csq[hi] - csq[lo]) / (hi - lo)[:, None]
    out.append(np.sqrt(np.maximum(sq - mean ** 2, 0.0)))
    return np.hstack(out).astype(np.float32)


# -- classifier --------------------------------------------------------------

@dataclass(frozen=True)
class AudioModel:
    """A small multi-layer perceptron (ReLU hidden layers, softmax over CLASSES), run with numpy."""

    version: str
    classes: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    trained_on: str = ""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        h = (np.asarray(x, np.float64) - self.mean) / self.std
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        p = np.exp(h)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> dict:
        return {"version": self.version, "features_version": FEATURES_VERSION, "trained_on": self.trained_on,
                "classes": list(self.classes), "inputs": len(self.mean), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "layers": [{"w": w.tolist(), "b": b.tolist()} for w, b in self.layers]}

    @classmethod
    def from_json(cls, d: dict) -> "AudioModel":
        if d.get("features_version") != FEATURES_VERSION:
            raise ValueError(f"weights are for features {d.get('features_version')!r}, this code computes {FEATURES_VERSION!r}")
        layers = tuple((np.asarray(l["w"], np.float64), np.asarray(l["b"], np.float64)) for l in d["layers"])
        classes = tuple(d["classes"])
        if not set(classes) <= set(CLASSES) or layers[-1][0].shape[1] != len(classes):
            raise ValueError(f"unknown classes {classes}")
        return cls(str(d["version"]), classes, np.asarray(d["mean"], np.float64), np.asarray(d["std"], np.float64),
                   layers, str(d.get("trained_on", "")))


def model_path() -> Path:
    return Path(str(resources.files("pipeline").joinpath("data/audio_model.json")))


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> AudioModel:
    p = Path(path) if path else model_path()
    try:
        return AudioModel.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"audio model {p} is missing or unreadable ({exc}); reinstall clipwatch or rerun bench/audio_profile.py --train") from exc


def profile_version(model: AudioModel | None = None) -> str:
    """Version of the profile the current code and shipped weights produce (stored with every profile)."""
    return f"audio-profile-{FEATURES_VERSION}+{(model or load_model()).version}"


def silent_windows(feats: np.ndarray) -> np.ndarray:
    silent_frac = feats[:, FEATURE_NAMES.index("silent_frac")]
    return (silent_frac > 0.8) | (feats[:, FEATURE_NAMES.index("db_max")] < SILENCE_DB)


def window_probs(feats: np.ndarray, model: AudioModel | None = None) -> np.ndarray:
    """(n_windows, len(model.classes)) class probabilities, median-smoothed over 3 windows."""
    model = model or load_model()
    if len(feats) == 0:
        return np.zeros((0, len(model.classes)))
    p = model.predict_proba(context_features(feats))
    if len(p) >= 3:  # a median over 3 windows removes one-window flips
        pad = np.pad(p, ((1, 1), (0, 0)), mode="edge")
        p = np.median(np.stack([pad[:-2], pad[1:-1], pad[2:]]), axis=0)
        p = p / p.sum(axis=1, keepdims=True)
    return p


def classify_features(feats: np.ndarray, model: AudioModel | None = None, duration: float | None = None) -> AudioProfile:
    """Label 1-second windows (rows of window_features) and merge them into spans."""
    model = model or load_model()
    version = profile_version(model)
    n = len(feats)
    if n == 0:
        return AudioProfile(float(duration or 0.0), 0.0, 0.0, 0.0, [], model.version, version=version)
    p = window_probs(feats, model)
    silent = silent_windows(feats)
    best = p.argmax(axis=1)
    labels = ["silence" if silent[i] else model.classes[best[i]] for i in range(n)]
    conf = [float(feats[i, FEATURE_NAMES.index("silent_frac")]) if silent[i] else float(p[i, best[i]]) for i in range(n)]
    total = float(duration) if duration is not None else n * WINDOW_S
    spans: list[AudioSpan] = []
    for i, lab in enumerate(labels):
        end = min((i + 1) * WINDOW_S, total) if i == n - 1 else (i + 1) * WINDOW_S
        if spans and spans[-1].label == lab:
            sp = spans[-1]
            k = round(sp.end - sp.start) or 1
            sp.confidence = (sp.confidence * k + conf[i]) / (k + 1)
            sp.end = end
        else:
            spans.append(AudioSpan(i * WINDOW_S, end, lab, conf[i]))
    for sp in spans:
        sp.confidence = round(min(1.0, max(0.0, sp.confidence)), 3)
    share = {lab: labels.count(lab) / n for lab in LABELS}
    return AudioProfile(total, share["music"], share["speech"] + share["speech_over_music"], share["silence"], spans,
                        model.version, share["noise"], share["speech_over_music"], labels, version)


def analyse_stream(chunks: Iterable[np.ndarray], model: AudioModel | None = None) -> AudioProfile:
    """Profile audio given as an iterable of 16 kHz mono float32 chunks (any sizes)."""
    stream = FeatureStream()
    for chunk in chunks:
        stream.feed(chunk)
    feats = stream.finish()
    return classify_features(feats, model, duration=stream.samples / SR)


def _blocks(y: np.ndarray) -> Iterator[np.ndarray]:
    step = BLOCK_WINDOWS * SR
    yield from pcm_blocks(y, step)  # copies, the memory map's pages let go after each (flat RSS on long files)


def analyse_array(y: np.ndarray, model: AudioModel | None = None) -> AudioProfile:
    """Profile 16 kHz mono float32 audio (an array, or a np.memmap of a long file: read block by block)."""
    y = np.asarray(y) if not isinstance(y, np.memmap) else y
    if y.ndim != 1:
        raise MediaError(f"audio profile needs mono samples (a 1-D array), got shape {y.shape}; decode with one channel at 16 kHz")
    return analyse_stream(_blocks(y), model)


def analyse_audio(path: Path, model: AudioModel | None = None) -> AudioProfile:
    """Profile a media file's audio, streamed from ffmpeg in 30 s chunks (flat memory for long videos)."""
    return analyse_stream(iter_audio(Path(path), chunk_seconds=30.0), model)


# -- stored profiles -----------------------------------------------------------


def profile_dict(profile: AudioProfile) -> dict:
    """The JSON form of a profile (``audio_profile.json`` in the video folder)."""
    return profile.to_dict()


def read_profile(path: Path) -> AudioProfile | None:
    """An AudioProfile from its JSON file (None when the file is missing or unreadable: the profile is redone)."""
    try:
        return AudioProfile.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, ModelError):
        return None
