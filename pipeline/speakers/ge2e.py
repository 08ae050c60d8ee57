"""Resemblyzer's GE2E speaker encoder (Wan et al. 2018), run from the weights its PyPI wheel ships.

``pip install resemblyzer`` brings ``resemblyzer/pretrained.pt`` (17 MB: a 3-layer LSTM over 40 mel bands and a
256-d projection, trained on LibriSpeech, VoxCeleb 1 and 2). Only that file is used: the network and its mel
features are rebuilt here with torch and numpy, so that Resemblyzer's own imports (librosa, webrtcvad, which needs
a C compiler) are never loaded at run time; the voice activity comes from the audio profile and Silero instead.
The features match ``librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)`` (power
mel, Slaney scale and norm), which is what the weights were trained on; tests/speakers/test_speakers.py checks it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from pipeline.speakers.base import MissingEncoder

SR = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the partial-utterance length the encoder was trained on
TARGET_DBFS = -30.0  # Resemblyzer normalises utterances up (never down) to this level
INSTALL_HINT = "pip install --no-deps resemblyzer"  # its wheel ships the GE2E weights; only pretrained.pt is read


def weights_path() -> Path:
    """Where the installed resemblyzer wheel keeps ``pretrained.pt``, found without importing the package.

    Returns:
        The file's path. MissingEncoder (a ConfigError) when resemblyzer is not installed or the file is missing.
    """
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingEncoder(f"the GE2E speaker encoder is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise MissingEncoder(f"{path} is missing: reinstall the speaker encoder ({INSTALL_HINT})")
    return path


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
    f = np.asarray(f, np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    mel[log] = 15.0 + np.log(f[log] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    f = m * (200.0 / 3)
    log = m >= 15.0
    f[log] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log] - 15.0))
    return f


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT//2+1) Slaney-normalised triangular filters, as librosa.filters.mel builds them."""
    fft_freqs = np.linspace(0, SR / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([SR / 2]))[0], N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((N_MELS, len(fft_freqs)))
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """Power mel spectrogram, (frames, N_MELS): centred frames (zero padding), 25 ms Hann windows every 10 ms.

    Arguments:
        y: 16 kHz mono float32 samples.

    Returns:
        float32 array with 1 + len(y) // HOP rows.
    """
    y = np.asarray(y, np.float32)
    padded = np.pad(y, (N_FFT // 2, N_FFT // 2))
    n = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(padded, (n, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power.astype(np.float32) @ mel_filters().T).astype(np.float32)


def normalize_volume(y: np.ndarray) -> np.ndarray:
    """Raise quiet speech to -30 dBFS (never lower it), as Resemblyzer's preprocessing does before embedding."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    if rms <= 1e-9:
        return y
    change = TARGET_DBFS - 20 * np.log10(rms)
    return y if change <= 0 else (y * (10 ** (change / 20))).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _network(path: str):
    import torch  # heavy (seconds to import): only when voices are embedded
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            e = torch.relu(self.linear(hidden[-1]))
            return e / torch.clamp(torch.norm(e, dim=1, keepdim=True), min=1e-9)

    net = Net()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        net.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
    except Exception as exc:  # a truncated or foreign file: say what to do, not a torch traceback
        raise MissingEncoder(f"cannot load the GE2E weights at {path} ({exc}); reinstall: {INSTALL_HINT}") from exc
    net.eval()
    return net


class GE2EEncoder:
    """Resemblyzer's GE2E encoder: 256-d voice embeddings of 1.6 s windows."""

    name = "ge2e"
    dim = 256
    window_s = PARTIAL_FRAMES * HOP / SR

    def __init__(self, batch: int = 64) -> None:
        self.path = weights_path()
        with self.path.open("rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        self.version = f"ge2e-{digest}-mel1"
        self.batch = batch
        self.net = _network(str(self.path))

    def embed_windows(self, samples: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """See ``SpeakerEncoder.embed_windows``: one L2-normalised 256-d row per window start.

        The mel spectrogram is computed once over the span the windows cover and sliced (starts are rounded to the
        10 ms frame); the network runs on one thread unless CLIPWATCH_SPEAKER_THREADS says otherwise: on a busy
        2-core machine two threads were 8x slower than one (measured: 8.7 s against 1.1 s for 38 windows).
        """
        import torch  # heavy (seconds to import): only when voices are embedded

        starts = np.asarray(starts, np.int64)
        if len(starts) == 0:
            return np.zeros((0, self.dim), np.float32)
        first = int(starts.min()) // HOP * HOP
        frames = (starts - first) // HOP
        stop = first + (int(frames.max()) + PARTIAL_FRAMES) * HOP
        span = np.asarray(samples[first:stop], np.float32)
        if len(span) < stop - first:
            span = np.pad(span, (0, stop - first - len(span)))
        mel = mel_spectrogram(span)
        mels = np.stack([mel[f:f + PARTIAL_FRAMES] for f in frames])
        threads = os.environ.get("CLIPWATCH_SPEAKER_THREADS", "1")
        saved = torch.get_num_threads()
        torch.set_num_threads(int(threads) if threads.isdigit() and int(threads) > 0 else saved)
        out = []
        try:
            with torch.inference_mode():
                for b in range(0, len(mels), self.batch):
                    out.append(self.net(torch.from_numpy(np.ascontiguousarray(mels[b:b + self.batch]))).numpy())
        finally:
            torch.set_num_threads(saved)
        return np.concatenate(out).astype(np.float32)
