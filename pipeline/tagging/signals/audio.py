"""Music / speech / silence segmentation, offline on CPU.

The audio is cut into 1-second windows. Each window gets 17 spectral and
temporal features computed with numpy from 64 ms frames every 10 ms (energy and
its spread, the share of low-energy frames, spectral flux, centroid, flatness,
roll-off, zero-crossing rate, 2–8 Hz energy modulation — the syllable rate of
speech —, autocorrelation harmonicity and voicing, and frame-to-frame spectral
stability). A window is *silence* when it is quiet; otherwise a small two-layer
network (weights shipped in ``pipeline/data/audio_model.json``, trained by
``bench/tagging.py --train`` on espeak-ng speech, real music recordings from
Debian packages and synthesized music) decides speech vs music from the window's
features plus the mean of its ±2 neighbours. Probabilities are smoothed over 3
windows and consecutive windows are merged into spans.

Speech over a quiet music bed counts as speech; singing over a full backing
track counts as music.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SR = 16_000
WIN = 400  # 25 ms analysis frame
HOP = 160  # 10 ms
NFFT = 1024  # room for a linear autocorrelation up to lag 624
FRAMES_PER_WINDOW = 100  # one classification window = 1 s
WINDOW_S = FRAMES_PER_WINDOW * HOP / SR
SILENCE_DB = -50.0  # a frame quieter than this (dBFS) is silent
FEATURE_NAMES = [
    "db_mean", "db_std", "low_energy_ratio", "flux_mean", "flux_std", "centroid_mean", "centroid_std",
    "log_flatness", "zcr_mean", "zcr_std", "mod_2_8hz", "harm_mean", "harm_std", "voiced_frac",
    "spec_stability", "rolloff_std", "silent_frac",
]
LABELS = ("speech", "music")


@dataclass
class AudioSpan:
    start: float
    end: float
    label: str  # speech | music | silence
    confidence: float


@dataclass
class AudioProfile:
    duration: float
    music: float  # share of the duration, 0..1
    speech: float
    silence: float
    spans: list[AudioSpan] = field(default_factory=list)
    model_version: str = ""

    def share_in(self, start: float, end: float, label: str) -> float:
        """Fraction of [start, end) covered by spans with this label."""
        length = max(end - start, 1e-6)
        covered = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in self.spans if s.label == label)
        return min(1.0, covered / length)

    def summary(self) -> str:
        return f"music {self.music:.0%}, speech {self.speech:.0%}, silence {self.silence:.0%}"


# -- features ----------------------------------------------------------------

def _frames(y: np.ndarray) -> np.ndarray:
    if len(y) < WIN:
        y = np.pad(y, (0, WIN - len(y)))
    n = 1 + (len(y) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    return y[idx]


_HANN = np.hanning(WIN).astype(np.float32)
_FREQS = np.fft.rfftfreq(NFFT, 1 / SR).astype(np.float32)


def window_features(y: np.ndarray) -> np.ndarray:
    """(n_windows, 17) features for 16 kHz mono float audio; a trailing part shorter than 0.5 s is dropped."""
    y = np.asarray(y, dtype=np.float32)
    n_win = int(len(y) // (SR * WINDOW_S) + (1 if (len(y) % int(SR * WINDOW_S)) >= SR * WINDOW_S / 2 else 0))
    if n_win == 0:
        return np.zeros((0, len(FEATURE_NAMES)), np.float32)
    fr = _frames(y)
    energy = (fr.astype(np.float64) ** 2).mean(axis=1)
    db = 10 * np.log10(energy + 1e-10)
    signs = np.signbit(fr)
    zcr = (signs[:, 1:] != signs[:, :-1]).mean(axis=1)
    spec = np.fft.rfft(fr * _HANN, NFFT)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float64) + 1e-12
    mag = np.sqrt(power)
    psum = power.sum(axis=1)
    centroid = (power * _FREQS).sum(axis=1) / psum / (SR / 2)
    flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
    cum = np.cumsum(power, axis=1)
    rolloff = (cum < 0.85 * psum[:, None]).sum(axis=1) / power.shape[1]
    nmag = mag / (np.linalg.norm(mag, axis=1, keepdims=True) + 1e-12)
    flux = np.r_[0.0, np.linalg.norm(np.diff(nmag, axis=0), axis=1)]
    lmag = np.log(mag)
    lmag = lmag - lmag.mean(axis=1, keepdims=True)
    ln = lmag / (np.linalg.norm(lmag, axis=1, keepdims=True) + 1e-12)
    stab = np.r_[(ln[3:] * ln[:-3]).sum(axis=1), np.ones(min(3, len(ln)))][: len(ln)]
    ac = np.fft.irfft(power, NFFT)[:, :300]
    harm = ac[:, 40:267].max(axis=1) / (ac[:, 0] + 1e-12)  # 60–400 Hz pitch range
    silent = db < SILENCE_DB
    harm = np.where(silent, 0.0, harm)

    feats = np.zeros((n_win, len(FEATURE_NAMES)), np.float32)
    mod_bins = np.fft.rfftfreq(FRAMES_PER_WINDOW, HOP / SR)
    band = (mod_bins >= 2) & (mod_bins <= 8)
    ref = (mod_bins >= 1) & (mod_bins <= 20)
    for w in range(n_win):
        s = slice(w * FRAMES_PER_WINDOW, (w + 1) * FRAMES_PER_WINDOW)
        e, d = energy[s], db[s]
        if len(e) == 0:
            continue
        env = np.sqrt(e)
        env_pad = np.pad(env - env.mean(), (0, FRAMES_PER_WINDOW - len(env)))
        mspec = np.abs(np.fft.rfft(env_pad)) ** 2
        feats[w] = [
            d.mean(), d.std(), (e < 0.5 * e.mean()).mean(), flux[s].mean(), flux[s].std(),
            centroid[s].mean(), centroid[s].std(), np.log(flatness[s].mean() + 1e-12), zcr[s].mean(), zcr[s].std(),
            mspec[band].sum() / (mspec[ref].sum() + 1e-12), harm[s].mean(), harm[s].std(), (harm[s] > 0.5).mean(),
            stab[s].mean(), rolloff[s].std(), silent[s].mean(),
        ]
    return feats


def context_features(feats: np.ndarray) -> np.ndarray:
    """Each window's features beside the mean over its ±2 neighbours (the classifier's input)."""
    if len(feats) == 0:
        return np.zeros((0, 2 * len(FEATURE_NAMES)), np.float32)
    k = 2
    pad = np.pad(feats, ((k, k), (0, 0)), mode="edge")
    ctx = np.mean([pad[i : i + len(feats)] for i in range(2 * k + 1)], axis=0)
    return np.hstack([feats, ctx]).astype(np.float32)


# -- classifier --------------------------------------------------------------

@dataclass(frozen=True)
class AudioModel:
    version: str
    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def music_prob(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        h = np.tanh(z @ self.w1 + self.b1)
        logit = (h @ self.w2 + self.b2).ravel()
        return 1 / (1 + np.exp(-logit))

    def to_json(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict) -> "AudioModel":
        return cls(version=d["version"], **{k: np.asarray(d[k], np.float64) for k in ("mean", "std", "w1", "b1", "w2", "b2")})


def model_path() -> Path:
    return Path(str(resources.files("pipeline").joinpath("data/audio_model.json")))


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> AudioModel:
    from pipeline.errors import ModelError

    p = Path(path) if path else model_path()
    try:
        return AudioModel.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"audio model {p} is missing or unreadable ({exc}); reinstall clipwatch or rerun bench/tagging.py --train") from exc


def classify_features(feats: np.ndarray, model: AudioModel | None = None) -> AudioProfile:
    """Label 1-second windows (rows of window_features) and merge them into spans."""
    model = model or load_model()
    n = len(feats)
    if n == 0:
        return AudioProfile(0.0, 0.0, 0.0, 0.0, [], model.version)
    p_music = model.music_prob(context_features(feats))
    if n >= 3:  # median over 3 windows removes one-window flips
        pad = np.pad(p_music, 1, mode="edge")
        p_music = np.median(np.stack([pad[:-2], pad[1:-1], pad[2:]]), axis=0)
    silent = (feats[:, FEATURE_NAMES.index("silent_frac")] > 0.8) | (feats[:, 0] < SILENCE_DB)
    labels, conf = [], []
    for i in range(n):
        if silent[i]:
            labels.append("silence"); conf.append(float(feats[i, FEATURE_NAMES.index("silent_frac")]))
        elif p_music[i] >= 0.5:
            labels.append("music"); conf.append(float(p_music[i]))
        else:
            labels.append("speech"); conf.append(float(1 - p_music[i]))
    spans: list[AudioSpan] = []
    for i, lab in enumerate(labels):
        if spans and spans[-1].label == lab:
            sp = spans[-1]
            k = round((sp.end - sp.start) / WINDOW_S)
            sp.confidence = (sp.confidence * k + conf[i]) / (k + 1)
            sp.end = (i + 1) * WINDOW_S
        else:
            spans.append(AudioSpan(i * WINDOW_S, (i + 1) * WINDOW_S, lab, conf[i]))
    for sp in spans:
        sp.confidence = round(sp.confidence, 3)
    duration = n * WINDOW_S
    share = {lab: labels.count(lab) / n for lab in ("music", "speech", "silence")}
    return AudioProfile(duration, share["music"], share["speech"], share["silence"], spans, model.version)


def analyse_array(y: np.ndarray, model: AudioModel | None = None) -> AudioProfile:
    return classify_features(window_features(y), model)


def analyse_audio(path: Path, model: AudioModel | None = None) -> AudioProfile:
    """Segment a media file's audio; streams it in 30 s chunks so memory stays flat for long videos."""
    from pipeline.media.audio import iter_audio

    parts, tail = [], np.zeros(0, np.float32)
    for chunk in iter_audio(Path(path), chunk_seconds=30.0):
        y = np.concatenate([tail, chunk])
        whole = int(len(y) // SR) * SR
        if whole:
            parts.append(window_features(y[:whole]))
        tail = y[whole:]
    if len(tail) >= SR / 2:
        parts.append(window_features(tail))
    feats = np.vstack(parts) if parts else np.zeros((0, len(FEATURE_NAMES)), np.float32)
    return classify_features(feats, model)


def mark_transcript(transcript, profile: AudioProfile, music_share: float = 0.6, silence_share: float = 0.8) -> int:
    """Flag segments that lie over silence ("silence"), or over music while Whisper was unsure ("music").

    Whisper invents "lyrics" over instrumentals and phrases over silence; flagged
    segments are kept in the transcript but not indexed as speech. Sung words that
    Whisper hears confidently stay indexed: scholars search songs too. Changes the
    segments in place and returns how many were newly flagged.
    """
    changed = 0
    for seg in transcript.segments:
        # Unsure of the *words*: the engines report no_speech_prob for the whole 30 s window (high over the pauses
        # between clearly spoken prompts), so it counts only with a low word confidence (issue 13: telephone prompts,
        # confidently decoded at avg_logprob -0.2, were flagged as music because of it).
        logprob = seg.avg_logprob if seg.avg_logprob is not None else -1.0
        unsure = logprob < -0.7 or ((seg.no_speech_prob or 0) > 0.4 and logprob < -0.5)
        if "silence" not in seg.flags and profile.share_in(seg.start, seg.end, "silence") >= silence_share \
                and (logprob < -0.5 or (seg.no_speech_prob or 0) > 0.9):
            seg.flags.append("silence")
            changed += 1
        elif "music" not in seg.flags and profile.share_in(seg.start, seg.end, "music") >= music_share:
            if unsure:
                seg.flags.append("music")
                changed += 1
            elif "repetition" not in seg.flags and _repetitive(seg.text):
                # Repetitive text over music is a decoding loop (issue 13), however sure the decoder was: people
                # repeat themselves in speech ("만세! 만세!"), which the transcript flags let through.
                seg.flags.append("repetition")
                changed += 1
    return changed


def _repetitive(text: str) -> bool:
    from pipeline.asr.flags import COMPRESSION_RATIO_THRESHOLD, compression_ratio, has_repeated_ngrams

    return compression_ratio(text.strip()) > COMPRESSION_RATIO_THRESHOLD or has_repeated_ngrams(text)
