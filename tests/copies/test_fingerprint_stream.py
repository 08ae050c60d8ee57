"""Audio fingerprints of long tracks (issue 19): the PCM goes to Chromaprint (and atempo) in blocks, and the items
and their loudness are those of the whole track fingerprinted at once — the same numbers, a bounded working set."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from pipeline.copies import fingerprint as fp
from pipeline.media.probe import ffmpeg_exe

pytestmark = pytest.mark.skipif(not fp.fingerprinter_available(), reason="needs fpcalc or ffmpeg's chromaprint muxer")
RATE = 16000


def _signal(seconds: float = 40.0) -> np.ndarray:
    """Tones that change every half second over noise, with a silent stretch (so some items are quiet)."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * RATE)) / RATE
    freq = 220 * 2 ** (rng.integers(0, 24, size=int(seconds * 2) + 1) / 12)[(t * 2).astype(int)]
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / RATE) + 0.02 * rng.standard_normal(len(t))
    y[int(12 * RATE):int(16 * RATE)] = 0.0
    return y.astype(np.float32)


def _whole(x: np.ndarray, rate: int, speed: float, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The fingerprint computed over the whole track in memory, as before blocks: the reference."""
    declared = int(round(rate / speed)) if how == "rate" and speed != 1.0 else rate
    if how == "tempo" and speed != 1.0:
        res = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "f32le", "-ar", str(rate), "-ac",
                              "1", "-i", "pipe:", "-af", f"atempo={1 / speed:.6f}", "-f", "f32le", "pipe:"],
                             input=x.tobytes(), capture_output=True, check=True)
        x = np.frombuffer(res.stdout, np.float32)
    tool, argv = fp._fingerprint_cmd(declared)
    res = subprocess.run(argv, input=(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), capture_output=True)
    items = fp._items_from(tool, res.returncode, res.stdout, res.stderr)
    hop = fp.ITEM_SECONDS * declared
    span = int(round(4 * hop))
    sq = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    a = np.minimum((np.arange(len(items)) * hop).astype(np.int64), len(x))
    b = np.minimum(a + span * 2, len(x))
    valid = (b > a) & (np.maximum(sq[b] - sq[a], 0.0) / np.maximum(b - a, 1) > 10 ** (fp.SILENCE_DBFS / 10))
    valid[1:] &= items[1:] != items[:-1]
    return items, valid


@pytest.mark.parametrize("speed,how", fp.QUERY_SPEEDS)
def test_blockwise_fingerprints_equal_the_whole_tracks(monkeypatch, speed, how):
    x = _signal()
    want_items, want_valid = _whole(x, RATE, speed, how)
    monkeypatch.setattr(fp, "BLOCK", 7919)  # blocks that cut items anywhere
    got = fp.fingerprint_pcm(x, RATE, speed=speed, how=how)
    assert len(want_items) > 200
    assert np.array_equal(got.items, want_items)
    assert np.array_equal(got.valid, want_valid)
    assert 0 < got.valid.sum() < len(got.valid)  # the silent stretch is not fingerprinted


class Reads:
    """A memory map that records the size of every read (a slice is a lazy view until numpy reads it)."""

    def __init__(self, mm: np.ndarray, log: list[int], start: int = 0, stop: int | None = None) -> None:
        self.mm, self.log, self.start = mm, log, start
        self.stop = len(mm) if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key):
        a, b, _ = key.indices(len(self))
        return Reads(self.mm, self.log, self.start + a, self.start + max(a, b))

    def __array__(self, dtype=None, copy=None):
        self.log.append(len(self))
        return np.asarray(self.mm[self.start:self.stop], dtype or np.float32)


def test_a_long_memory_mapped_track_is_read_in_blocks(tmp_path, monkeypatch):
    path = tmp_path / "long.f32"
    x = np.tile(_signal(), 6)  # four minutes
    x.tofile(path)
    mm = np.memmap(path, np.float32, mode="r")
    monkeypatch.setattr(fp, "BLOCK", 1 << 16)
    log: list[int] = []
    for speed, how in ((1.0, "same"), (1.05, "tempo")):
        got = fp.fingerprint_pcm(Reads(mm, log), RATE, speed=speed, how=how)
        assert got.duration == pytest.approx(len(x) / RATE * speed, rel=1e-3)  # atempo=1/speed lengthens it
        assert len(got.items) > 1500
    assert log and max(log) <= 1 << 16  # never the whole track (3.8 M samples) at once
