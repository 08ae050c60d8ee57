"""Resemblyzer's GE2E speaker encoder (Wan et al. 2018), run from the weights its PyPI wheel ships.

``pip install resemblyzer`` brings ``resemblyzer/pretrained.pt`` (17 MB: a 3-layer LSTM over 40 mel bands and a
256-d projection, trained on LibriSpeech, VoxCeleb 1 and 2). Only that file is used: the network and its mel
features are rebuilt here with numpy alone, so that Resemblyzer's own imports (librosa, webrtcvad, which needs a
C compiler) are never loaded at run time — nor torch (~220 MB of RSS and ~1.6 s of CPU to import): the file is
torch's legacy format, read by a restricted unpickler that admits only what a state dict needs. The voice activity
comes from the audio profile and Silero instead.
The features match ``librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)`` (power
mel, Slaney scale and norm), which is what the weights were trained on; tests/speakers/test_speakers.py checks it.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np

from pipeline.media.audio import pcm_blocks, pcm_read
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
# Frames whose LSTM input projection is computed at once: (32, batch, 1024) floats, 8 MB at a batch of 64 (the whole
# 160-frame window at once was 42 MB, for no measurable speed).
PROJECT_STEPS = 32
MAX_BLOCK_FRAMES = 6000  # 60 s of frames: the most one mel block spans (~10 MB of rfft), whatever the file's length


def mel_frames(samples: np.ndarray, k0: int, k1: int, stop: int | None = None, gain: float = 1.0) -> np.ndarray:
    """Rows ``k0:k1`` of the centred power mel spectrogram of ``samples[:stop]``, reading only the samples they cover.

    The same numbers as ``mel_spectrogram(samples[:stop] * gain)[k0:k1]``, but its memory is that of the rows asked
    for, not of the whole signal: a memory map of an hour is read 25 ms either side of the rows, nothing more.

    Arguments:
        samples: 16 kHz mono float32 audio (an array or a memory map; only the slice needed is read).
        k0, k1: the first and one-past-last frame (frame k is centred on sample k * HOP).
        stop: the signal's end (default ``len(samples)``); samples at or past it count as zeros, as the centred
            spectrogram's padding does.
        gain: a factor applied to the samples first (the volume normalisation), in float32 as ``normalize_volume``.

    Returns:
        float32 array of shape (k1 - k0, N_MELS).
    """
    stop = len(samples) if stop is None else min(stop, len(samples))
    if k1 <= k0:
        return np.zeros((0, N_MELS), np.float32)
    a = k0 * HOP - N_FFT // 2
    buf = np.zeros((k1 - 1 - k0) * HOP + N_FFT, np.float32)  # what frames k0..k1-1 cover, zeros past the edges
    lo, hi = max(a, 0), min(a + len(buf), stop)
    if hi > lo:
        buf[lo - a:hi - a] = pcm_read(samples, lo, hi)
    if gain != 1.0:
        np.multiply(buf, np.float32(gain), out=buf)
    frames = np.lib.stride_tricks.as_strided(buf, (k1 - k0, N_FFT), (buf.strides[0] * HOP, buf.strides[0]))
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power.astype(np.float32) @ mel_filters().T).astype(np.float32)


def mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """Power mel spectrogram, (frames, N_MELS): centred frames (zero padding), 25 ms Hann windows every 10 ms.

    Computed in blocks of MAX_BLOCK_FRAMES (``mel_frames``), so a long signal costs the memory of one block.

    Arguments:
        y: 16 kHz mono float32 samples.

    Returns:
        float32 array with 1 + len(y) // HOP rows.
    """
    n = 1 + len(y) // HOP
    return np.concatenate([mel_frames(y, k, min(k + MAX_BLOCK_FRAMES, n)) for k in range(0, n, MAX_BLOCK_FRAMES)])


def volume_gain(y: np.ndarray, block: int = 1 << 20) -> float:
    """The factor that raises ``y`` to TARGET_DBFS (1.0 when it is louder already, or silent), read block by block.

    Arguments:
        y: float32 samples (an array or a memory map: never copied whole).
        block: samples read at a time.

    Returns:
        The gain (>= 1.0).
    """
    if not len(y):
        return 1.0
    total = sum(float(np.square(b, dtype=np.float64).sum()) for b in pcm_blocks(y, block))
    rms = float(np.sqrt(total / len(y)))
    if rms <= 1e-9:
        return 1.0
    change = TARGET_DBFS - 20 * np.log10(rms)
    return 1.0 if change <= 0 else float(10 ** (change / 20))


def normalize_volume(y: np.ndarray) -> np.ndarray:
    """Raise quiet speech to -30 dBFS (never lower it), as Resemblyzer's preprocessing does before embedding."""
    gain = volume_gain(y)
    return y if gain == 1.0 else (np.asarray(y, np.float32) * np.float32(gain)).astype(np.float32)


# torch's legacy (non-zip) serialisation, which pretrained.pt uses: a magic-number pickle, the protocol version, a
# system-info pickle, the object pickle (tensors point at storages by persistent id), a pickle of the storage keys in
# file order, then each storage as an int64 element count and its raw little-endian bytes.
_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "LongStorage": np.int64, "IntStorage": np.int32}
LSTM_LAYERS = 3
HIDDEN = 256


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. in the pickle: only its dtype is used."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)


class _Storage:
    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _Tensor:
    """A tensor named by the pickle, made into an array once its storage's bytes are read (they come after it)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key} has no data")
        if (len(self.size) != len(self.stride) or not all(isinstance(n, int) and n >= 0 for n in self.size)
                or not all(isinstance(s, int) and s >= 0 for s in self.stride)):
            raise ValueError("bad tensor shape")
        if 0 in self.size:
            return np.zeros(self.size, data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or last >= len(data):  # as_strided would read past the storage: refuse, never guess
            raise ValueError(f"tensor runs past its storage ({last} >= {len(data)})")
        item = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset:], self.size, tuple(s * item for s in self.stride))
        return np.array(view)  # a contiguous copy, detached from the storage


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> _Tensor:
    if not isinstance(storage, _Storage) or not isinstance(offset, int):
        raise pickle.UnpicklingError("a tensor without a storage")
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Admits only the globals a state dict needs; anything else (os.system, builtins.eval, …) is refused."""

    def __init__(self, f: BinaryIO, storages: dict[str, _Storage] | None = None) -> None:
        super().__init__(f)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[4] >= 0):
            raise pickle.UnpicklingError(f"unexpected persistent id {str(pid)[:80]}")
        key = pid[2]
        if key not in self.storages:
            self.storages[key] = _Storage(key, pid[1].dtype, pid[4])
        return self.storages[key]


def read_legacy_state(path: Path, prefix: str = "model_state") -> dict[str, np.ndarray]:
    """The tensors of a torch legacy-format checkpoint's ``prefix`` dict as numpy arrays, without torch.

    A restricted unpickler rebuilds them (``_Unpickler``): no code in the file runs, whatever it holds.

    Arguments:
        path: the ``.pt`` file (torch's pre-1.6 serialisation, not a zip archive).
        prefix: the key of the checkpoint dict that holds the state dict.

    Returns:
        name -> array. ValueError / pickle.UnpicklingError / EOFError for a truncated, foreign or hostile file.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        if _Unpickler(f).load() != _MAGIC:
            raise ValueError("not a torch legacy checkpoint (bad magic number)")
        if _Unpickler(f).load() != _PROTOCOL:
            raise ValueError("unknown torch checkpoint protocol")
        _Unpickler(f).load()  # system info (endianness, type sizes): the weights were written little-endian
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(f, storages).load()
        keys = _Unpickler(f).load()
        if not isinstance(keys, list) or set(keys) != set(storages):
            raise ValueError("the storage list does not match the tensors")
        for key in keys:
            st = storages[key]
            head = f.read(8)
            if len(head) != 8:
                raise EOFError("truncated weights file")
            numel = int(np.frombuffer(head, "<i8")[0])
            nbytes = numel * st.dtype.itemsize
            if numel != st.numel or nbytes > size - f.tell():
                raise ValueError(f"storage {key}: {numel} elements where {st.numel} were announced, or past the end")
            st.data = np.frombuffer(f.read(nbytes), st.dtype.newbyteorder("<")).astype(st.dtype)
    state = obj.get(prefix) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"no {prefix!r} in the checkpoint")
    return {str(k): v.array() for k, v in state.items() if isinstance(v, _Tensor)}


class _Network:
    """The GE2E network in numpy: a 3-layer LSTM (40 -> 256), the last layer's final hidden state through
    Linear(256, 256), ReLU and L2 normalisation — what Resemblyzer's VoiceEncoder computes with torch."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.layers = []
        for layer in range(LSTM_LAYERS):
            w_ih = state[f"lstm.weight_ih_l{layer}"]
            w_hh = state[f"lstm.weight_hh_l{layer}"]
            bias = state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]
            inputs = N_MELS if layer == 0 else HIDDEN
            if w_ih.shape != (4 * HIDDEN, inputs) or w_hh.shape != (4 * HIDDEN, HIDDEN) or bias.shape != (4 * HIDDEN,):
                raise ValueError(f"LSTM layer {layer} has shapes {w_ih.shape} {w_hh.shape} {bias.shape}")
            # Gate rows reordered from PyTorch's (input, forget, cell, output) to (input, forget, output, cell): the
            # three sigmoid gates are then one slice. Transposed once, contiguous: x @ W is a plain row-major sgemm.
            order = np.r_[0:2 * HIDDEN, 3 * HIDDEN:4 * HIDDEN, 2 * HIDDEN:3 * HIDDEN]
            self.layers.append((np.ascontiguousarray(w_ih[order].T, np.float32),
                                np.ascontiguousarray(w_hh[order].T, np.float32), bias[order].astype(np.float32)))
        self.w = np.ascontiguousarray(state["linear.weight"].T, np.float32)
        self.b = state["linear.bias"].astype(np.float32)
        if self.w.shape != (HIDDEN, HIDDEN) or self.b.shape != (HIDDEN,):
            raise ValueError("linear layer has the wrong shape")

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, N_MELS) float32 -> (batch, 256) L2-normalised embeddings."""
        batch, steps = mels.shape[:2]
        x = np.ascontiguousarray(np.asarray(mels, np.float32).transpose(1, 0, 2))  # time-major: x[t] is contiguous
        h = np.zeros((batch, HIDDEN), np.float32)
        for n, (w_ih, w_hh, bias) in enumerate(self.layers):
            # The input projection of PROJECT_STEPS frames at once (one big matmul, its memory bounded whatever the
            # batch); only h @ W_hh goes step by step.
            out = np.empty((steps, batch, HIDDEN), np.float32) if n < len(self.layers) - 1 else None
            h = np.zeros((batch, HIDDEN), np.float32)
            c = np.zeros((batch, HIDDEN), np.float32)
            half = np.float32(0.5)
            for t in range(steps):
                if t % PROJECT_STEPS == 0:
                    block = x[t:t + PROJECT_STEPS]
                    pre = (block.reshape(len(block) * batch, -1) @ w_ih).reshape(len(block), batch, 4 * HIDDEN)
                    pre += bias
                g = h @ w_hh
                g += pre[t % PROJECT_STEPS]
                gates = g[:, :3 * HIDDEN]  # sigmoid(x) = (tanh(x/2) + 1) / 2, in place: no overflow, few temporaries
                gates *= half
                np.tanh(gates, out=gates)
                gates *= half
                gates += half
                cell = np.tanh(g[:, 3 * HIDDEN:])
                c *= gates[:, HIDDEN:2 * HIDDEN]
                c += gates[:, :HIDDEN] * cell
                h = gates[:, 2 * HIDDEN:] * np.tanh(c)
                if out is not None:
                    out[t] = h
            if out is not None:
                x = out
        e = np.maximum(h @ self.w + self.b, np.float32(0))
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), np.float32(1e-9))).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _network(path: str) -> _Network:
    try:
        return _Network(read_legacy_state(Path(path)))
    except Exception as exc:  # a truncated, foreign or hostile file: say what to do, never run what it holds
        raise MissingEncoder(f"cannot load the GE2E weights at {path} ({str(exc)[:200]}); "
                             f"reinstall: {INSTALL_HINT}") from exc


@functools.lru_cache(maxsize=1)
def _blas() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, made once: each embed_windows call (one per speech region,
    thousands on a long file) then only sets and restores the thread count instead of scanning the libraries again."""
    from threadpoolctl import ThreadpoolController  # only when voices are embedded

    return ThreadpoolController()


def _threads() -> int:
    threads = os.environ.get("CLIPWATCH_SPEAKER_THREADS", "1")
    return int(threads) if threads.isdigit() and int(threads) > 0 else 1


class GE2EEncoder:
    """Resemblyzer's GE2E encoder: 256-d voice embeddings of 1.6 s windows."""

    name = "ge2e"
    dim = 256
    window_s = PARTIAL_FRAMES * HOP / SR

    def __init__(self, batch: int = 32) -> None:
        self.path = weights_path()
        with self.path.open("rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        # the torch network's version string: the numpy network agrees with it to ~1e-6
        # (tests/speakers/test_ge2e_numpy.py), so the voices stored before stay comparable
        self.version = f"ge2e-{digest}-mel1"
        self.batch = batch
        self.net = _network(str(self.path))

    def embed_windows(self, samples: np.ndarray, starts: np.ndarray, gain: float = 1.0) -> np.ndarray:
        """See ``SpeakerEncoder.embed_windows``: one L2-normalised 256-d row per window start.

        The mel spectrogram is that of the span the windows cover (centred frames, zeros past the span's ends;
        starts are rounded down to the 10 ms frame), computed batch by batch over the frames each batch needs
        (``mel_frames``), so memory does not grow with the span. The network runs on one BLAS thread unless
        CLIPWATCH_SPEAKER_THREADS says otherwise: on a busy 2-core machine two threads were 8x slower than one
        (measured with torch: 8.7 s against 1.1 s for 38 windows).

        Arguments:
            samples: 16 kHz mono float32 audio; a memory map is read one batch's span at a time.
            starts: sample offsets, one per window.
            gain: a factor for the samples (``volume_gain``: the volume normalisation), applied per batch.

        Returns:
            (len(starts), 256) float32.
        """
        return self.embed_regions([(samples, starts, gain)])[0]

    def embed_regions(self, regions: Iterable[tuple[np.ndarray, np.ndarray, float]]) -> list[np.ndarray]:
        """See ``SpeakerEncoder.embed_regions``: the windows of every region through the network in shared batches.

        A diarisation embeds a few windows per speech region (a median of 4 on bench/e2e.py's 5-minute clip); one
        network call per region ran at 16.6 ms of CPU a window, batches of 32 at about 9.5 ms (one BLAS thread):
        embedding that clip took 3.4 s of CPU instead of 6.3 s, with the same peak memory at the default batch of 32
        (a batch of 128 cost 60 MB more for 0.2 s less). Each region's mel spectrogram is still its own (its own
        gain, centred frames, zeros past its ends).

        Arguments:
            regions: (samples, starts, gain) per region, as ``embed_windows`` takes them.

        Returns:
            One (len(starts), 256) float32 array per region, in order.
        """
        regions = list(regions)
        outs = [np.zeros((len(starts), self.dim), np.float32) for _, starts, _ in regions]
        pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (region, its rows, their mels)

        def flush() -> None:
            emb = self.net(np.concatenate([mels for _, _, mels in pending]))
            pos = 0
            for r, rows, mels in pending:
                outs[r][rows] = emb[pos:pos + len(rows)]
                pos += len(rows)
            pending.clear()

        with _blas().limit(limits=_threads(), user_api="blas"):
            for r, (samples, starts, gain) in enumerate(regions):
                for rows, mels in self._window_mels(samples, np.asarray(starts, np.int64), gain):
                    pending.append((r, rows, mels))
                    if sum(len(x) for _, x, _ in pending) >= self.batch:
                        flush()
            if pending:
                flush()
        return outs

    def _window_mels(self, samples: np.ndarray, starts: np.ndarray, gain: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, mels): the windows at ``starts`` in runs of at most ``batch``, each run's (n, 160, 40) mel windows
        computed over the frames it needs (``mel_frames``), so memory does not grow with the span."""
        if len(starts) == 0:
            return
        first = int(starts.min()) // HOP * HOP
        frames = (starts - first) // HOP
        stop = first + (int(frames.max()) + PARTIAL_FRAMES) * HOP  # the span ends with the last window
        span = samples[first:stop]  # a view (of a memory map: nothing read yet)
        order = np.argsort(frames, kind="stable")
        for run in _batches(frames[order], self.batch):
            sel = order[run]
            f0 = int(frames[sel].min())
            mel = mel_frames(span, f0, int(frames[sel].max()) + PARTIAL_FRAMES, stop - first, gain)
            yield sel, np.stack([mel[f - f0:f - f0 + PARTIAL_FRAMES] for f in frames[sel]])


def _batches(sorted_frames: np.ndarray, most: int) -> list[slice]:
    """Runs of consecutive windows (by start frame) of at most ``most`` windows spanning at most MAX_BLOCK_FRAMES."""
    out, a = [], 0
    for b in range(1, len(sorted_frames) + 1):
        if (b == len(sorted_frames) or b - a >= most
                or sorted_frames[b] - sorted_frames[a] + PARTIAL_FRAMES > MAX_BLOCK_FRAMES):
            out.append(slice(a, b))
            a = b
    return out
