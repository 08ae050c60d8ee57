"""The GE2E encoder without torch (issue 19): the numpy network gives torch's numbers, the weights file is read
without running anything in it, an ingest never imports torch, and nothing the encoder does grows with the audio's
length (mel spectrograms and reads in bounded blocks)."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.speakers import diarize, ge2e
from pipeline.speakers.base import MissingEncoder

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "tests" / "media" / "transcribe" / "en_short.opus"
SAMPLES = ROOT / "pipeline" / "data" / "samples"
REAL = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", "/work/media")) / "speech" / "librivox"

needs_weights = pytest.mark.skipif(not pytest.importorskip("importlib.util").find_spec("resemblyzer"),
                                   reason="needs the resemblyzer wheel's weights (pip install --no-deps resemblyzer)")


def _speech() -> np.ndarray:
    """Speech: the shipped demo bulletin and the committed clip, plus real LibriVox recordings where present."""
    from pipeline.media.audio import load_audio

    parts = [load_audio(SAMPLES / "evening-bulletin.mp4"), load_audio(CLIP)]
    parts += [load_audio(p) for p in sorted(REAL.glob("*.wav"))[:3]] if REAL.is_dir() else []
    return np.concatenate(parts)


def _torch_reference(mels: np.ndarray) -> np.ndarray:
    """The network as torch's own nn.LSTM computes it (Resemblyzer's VoiceEncoder), on the same weights."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(ge2e.N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, m):
            _, (hidden, _) = self.lstm(m)
            e = torch.relu(self.linear(hidden[-1]))
            return e / torch.clamp(torch.norm(e, dim=1, keepdim=True), min=1e-9)

    net = Net()
    state = torch.load(ge2e.weights_path(), map_location="cpu", weights_only=True)["model_state"]
    net.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
    net.eval()
    with torch.inference_mode():
        return net(torch.from_numpy(np.ascontiguousarray(mels))).numpy()


@needs_weights
def test_the_numpy_network_gives_torchs_embeddings_on_speech():
    y = _speech()
    starts = np.arange(0, len(y) - 25600, 8000)[:200]
    enc = ge2e.GE2EEncoder(batch=48)  # several batches
    gain = ge2e.volume_gain(y)
    ours = enc.embed_windows(y, starts, gain=gain)
    # torch's side: the whole span's mel (the way the stage computed it before), sliced per window
    mel = ge2e.mel_spectrogram(ge2e.normalize_volume(y)[: int(starts.max()) + 25600])
    theirs = _torch_reference(np.stack([mel[s // ge2e.HOP:s // ge2e.HOP + ge2e.PARTIAL_FRAMES] for s in starts]))
    assert ours.shape == theirs.shape == (len(starts), 256)
    assert np.abs(ours - theirs).max() < 1e-5  # so the version string, and the voices stored before, stay valid
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # the torch-free reader gives torch.load's tensors bit for bit
    torch = pytest.importorskip("torch")
    state = torch.load(ge2e.weights_path(), map_location="cpu", weights_only=True)["model_state"]
    ours_state = ge2e.read_legacy_state(ge2e.weights_path())
    assert set(ours_state) == set(state)
    assert all(np.array_equal(ours_state[k], v.numpy()) for k, v in state.items())


@needs_weights
def test_short_regions_share_network_batches_and_keep_their_embeddings():
    """Diarisation hands the encoder many short speech regions (a median of 4 windows each on a real clip): their
    windows go through the network in shared batches, with the embeddings each region gets on its own."""
    y = _speech()
    enc = ge2e.GE2EEncoder(batch=32)
    rng = np.random.default_rng(3)
    regions = []
    for a in range(0, len(y) - 80000, 60000):  # 20 regions of 2.5-5 s, each with its own gain
        b = a + int(rng.integers(40000, 80000))
        starts = np.arange(0, b - a - 25600, 8000)
        regions.append((y[a:b], starts, ge2e.volume_gain(y[a:b])))
    alone = [enc.embed_windows(*r) for r in regions]
    calls: list[int] = []
    net = enc.net
    enc.net = lambda mels: (calls.append(len(mels)), net(mels))[1]
    together = enc.embed_regions(regions)
    windows = sum(len(r[1]) for r in regions)
    assert len(regions) >= 10 and len(calls) <= windows // 32 + 1 < len(regions)
    assert sum(calls) == windows
    for got, want in zip(together, alone):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert enc.embed_regions([(y, np.zeros(0, np.int64), 1.0)])[0].shape == (0, 256)


@needs_weights
def test_an_ingest_never_imports_torch(tmp_path):
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from pipeline.cli import app\n"
        f"r = CliRunner().invoke(app, ['--data-dir', {str(tmp_path)!r}, 'ingest', {str(CLIP)!r}, '--model', 'tiny.en',"
        " '--json'])\n"
        "out = json.loads(r.output[r.output.index('{'):])\n"
        "print(json.dumps({'exit': r.exit_code, 'speakers': out['videos'][0]['stages'].get('speakers'),"
        " 'torch': sorted(m for m in sys.modules if m.split('.')[0] == 'torch')}))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["exit"] == 0 and got["speakers"] == "done", (got, res.stderr[-2000:])
    assert got["torch"] == []


def _legacy_file(path: Path, obj_pickle: bytes, keys: list[str], storages: list[bytes]) -> Path:
    """A file in torch's legacy layout around the given object pickle (written by hand: no torch needed)."""
    with path.open("wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, f, protocol=2)
        f.write(obj_pickle)
        pickle.dump(keys, f, protocol=2)
        for data in storages:
            f.write(data)
    return path


def _load(monkeypatch, path: Path) -> MissingEncoder:
    monkeypatch.setattr(ge2e, "weights_path", lambda: path)
    ge2e._network.cache_clear()
    try:
        with pytest.raises(MissingEncoder) as err:
            ge2e.GE2EEncoder()
    finally:
        ge2e._network.cache_clear()
    assert ge2e.INSTALL_HINT in str(err.value)
    return err.value


def test_a_hostile_weights_file_is_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = _legacy_file(tmp_path / "evil.pt", pickle.dumps({"model_state": Evil()}, protocol=2), [], [])
    err = _load(monkeypatch, path)
    assert not marker.exists()
    assert "not allowed" in str(err)


def _state_pickle(tensors: dict[str, tuple[int, tuple, tuple]], numel: int) -> bytes:
    """The object pickle torch writes for a state dict of tensors over one float storage ``k0``: GLOBALs of
    torch._utils._rebuild_tensor_v2 and torch.FloatStorage, and a persistent id per storage. Pickled through a
    stand-in module, then renamed (protocol 2 names globals as text), so no torch is needed."""
    import collections
    import io
    import types

    fake, utils = types.ModuleType("faketorch"), types.ModuleType("faketorch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only pickled
        raise AssertionError

    FloatStorage.__module__, FloatStorage.__qualname__ = "faketorch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "faketorch._utils", "_rebuild_tensor_v2"
    fake.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    sentinel = object()

    class Tensor:
        def __init__(self, offset, size, stride) -> None:
            self.args = (sentinel, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "k0", "cpu", numel) if obj is sentinel else None

    saved = {k: sys.modules.get(k) for k in ("faketorch", "faketorch._utils")}
    sys.modules.update({"faketorch": fake, "faketorch._utils": utils})
    try:
        buf = io.BytesIO()
        P(buf, protocol=2).dump({"model_state": collections.OrderedDict((k, Tensor(*v)) for k, v in tensors.items())})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
    return buf.getvalue().replace(b"cfaketorch._utils\n", b"ctorch._utils\n").replace(b"cfaketorch\n", b"ctorch\n")


def _storage(values: np.ndarray, count: int | None = None) -> bytes:
    return struct.pack("<q", len(values) if count is None else count) + values.astype("<f4").tobytes()


def test_a_hand_written_checkpoint_reads_as_torch_means_it(tmp_path):
    # a transposed 3x4 view starting at element 2: element [i, j] is storage[2 + i + 3 * j]
    path = _legacy_file(tmp_path / "w.pt", _state_pickle({"w": (2, (3, 4), (1, 3))}, 20), ["k0"],
                        [_storage(np.arange(20))])
    w = ge2e.read_legacy_state(path)["w"]
    assert w.dtype == np.float32 and w.shape == (3, 4)
    assert np.array_equal(w, np.array([[2 + i + 3 * j for j in range(4)] for i in range(3)], np.float32))


@pytest.mark.parametrize("damage", ["truncated", "storage-count-lies", "tensor-past-storage", "not-a-checkpoint",
                                    "wrong-shapes"])
def test_a_damaged_weights_file_says_reinstall(tmp_path, monkeypatch, damage):
    tensor = (0, (4, 4), (40, 1)) if damage == "tensor-past-storage" else (0, (4, 4), (4, 1))
    count = 1 << 40 if damage == "storage-count-lies" else None
    path = _legacy_file(tmp_path / "w.pt", _state_pickle({"lstm.weight_ih_l0": tensor}, 16), ["k0"],
                        [_storage(np.arange(16), count)])
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-20])
    if damage == "not-a-checkpoint":
        path.write_bytes(b"PK\x03\x04" + path.read_bytes())
    _load(monkeypatch, path)


def _whole_mel(y: np.ndarray) -> np.ndarray:
    """The spectrogram computed over the whole signal at once (the code before blocks), as the reference."""
    padded = np.pad(np.asarray(y, np.float32), (ge2e.N_FFT // 2, ge2e.N_FFT // 2))
    n = 1 + (len(padded) - ge2e.N_FFT) // ge2e.HOP
    frames = np.lib.stride_tricks.as_strided(padded, (n, ge2e.N_FFT), (4 * ge2e.HOP, 4))
    power = np.abs(np.fft.rfft(frames * ge2e._WINDOW, axis=1)) ** 2
    return (power.astype(np.float32) @ ge2e.mel_filters().T).astype(np.float32)


def test_the_blockwise_mel_spectrogram_equals_the_whole_one(monkeypatch):
    rng = np.random.default_rng(1)
    y = (0.1 * rng.standard_normal(16000 * 7 + 123)).astype(np.float32)
    whole = _whole_mel(y)
    monkeypatch.setattr(ge2e, "MAX_BLOCK_FRAMES", 97)  # many blocks, edges anywhere
    blocks = ge2e.mel_spectrogram(y)
    assert blocks.shape == whole.shape == (1 + len(y) // ge2e.HOP, ge2e.N_MELS)
    np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-7)
    # any rows, with the span's end and a gain: the rows of the whole spectrogram of the scaled, cut signal
    part = ge2e.mel_frames(y, 130, 371, stop=len(y) - 5000, gain=3.5)
    np.testing.assert_allclose(part, _whole_mel(y[:len(y) - 5000] * np.float32(3.5))[130:371], rtol=1e-5, atol=1e-6)


class Reads:
    """A long signal on a memory map that records how much any one read takes (a slice is a lazy view)."""

    def __init__(self, mm: np.ndarray, log: list[int], start: int = 0, stop: int | None = None) -> None:
        self.mm, self.log, self.start = mm, log, start
        self.stop = len(mm) if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("only plain slices are read")
        a, b, _ = key.indices(len(self))
        return Reads(self.mm, self.log, self.start + a, self.start + max(a, b))

    def __array__(self, dtype=None, copy=None):
        self.log.append(len(self))
        return np.asarray(self.mm[self.start:self.stop], dtype or np.float32)


@pytest.fixture
def long_audio(tmp_path):
    """Ten minutes of noise-like "speech" on a memory map (what Job.samples() gives)."""
    path = tmp_path / "long.f32"
    rng = np.random.default_rng(7)
    with path.open("wb") as f:
        for _ in range(10):
            f.write((0.01 * rng.standard_normal(16000 * 60)).astype(np.float32).tobytes())
    return np.memmap(path, np.float32, mode="r")


@needs_weights
def test_embedding_a_long_region_reads_bounded_blocks(long_audio, monkeypatch):
    log: list[int] = []
    audio = Reads(long_audio, log)
    monkeypatch.setattr(diarize, "speech_frames", lambda s, p=None: np.ones(len(s) // 512, bool))  # one long region
    enc = ge2e.GE2EEncoder()
    w = diarize.embed(audio, enc, step_s=6.0)  # ~100 windows over the whole ten minutes
    assert len(w.emb) >= 90 and np.allclose(np.linalg.norm(w.emb, axis=1), 1.0, atol=1e-5)
    most = max(ge2e.MAX_BLOCK_FRAMES * ge2e.HOP + ge2e.N_FFT, 1 << 20)  # one mel block, one gain block
    assert log and max(log) <= most < len(long_audio) / 5, max(log)
    # and the same numbers as the region copied whole and normalised first
    region = np.asarray(long_audio[: len(long_audio) // 512 * 512], np.float32)
    starts = np.array([round(c * 16000) - 12800 for c in w.centres])  # every window: the span ends with the last
    ref = enc.embed_windows(ge2e.normalize_volume(region), starts)
    np.testing.assert_allclose(w.emb, ref, atol=1e-5)
