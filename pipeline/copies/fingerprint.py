"""Audio fingerprints (Chromaprint) and an index that finds copies and excerpts.

A fingerprint is Chromaprint's raw output: one 32-bit item per ~0.124 s of
audio (12 chroma filters over 11025 Hz frames), computed by Debian's ``fpcalc``
(package ``libchromaprint-tools``) from PCM we decode once and pipe to it.
Without ``fpcalc``, the ffmpeg of the ``imageio-ffmpeg`` wheel (a dependency)
computes it with its ``chromaprint`` muxer, so copies find audio on a machine
with Python and pip only. Both run Chromaprint's default algorithm on the same
PCM: on 14 real recordings (``../shared/media``: opsound, misc music, Asterisk
prompts) the items were identical in 11 and differed in 1–2 bits of 48,000–
82,000 in the others (floating-point detail), far below the BER a match
tolerates, so fingerprints of either tool match each other.

Finding copies (``AudioIndex.match``):

1. candidates by voting: every query item that occurs exactly in the index
   votes for (archived video, archived position - query position); a copy,
   even re-encoded or cut anywhere, agrees on one offset for many items while
   unrelated audio scatters its few chance hits;
2. verification: at the best offsets, the bit error rate (BER) between the
   aligned items is measured in windows of ~2 s; windows under
   ``MAX_WINDOW_BER`` are matched (unrelated audio sits near 0.5, a re-encode
   near 0.01, a cut near 0.03);
3. a match needs ``MIN_MATCH_SECONDS`` of matched audio with at least
   ``MIN_DISTINCT`` different items in it: silence is never fingerprinted
   (items over quiet audio are dropped), and a steady tone or a constant
   picture-and-hum gives the same few items, which prove nothing.

Speed changes: a copy sped up by resampling (pitch goes up too) is undone
exactly by telling fpcalc the query's PCM has a different rate; a tempo change
that keeps pitch (ffmpeg ``atempo``) is undone by ``atempo`` on the query.
Queries try the rates in ``QUERY_SPEEDS``; the archive stores one fingerprint
per video.
"""

from __future__ import annotations

import functools
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from pipeline.errors import ConfigError, MediaError
from pipeline.media.audio import SAMPLE_RATE, load_audio, pcm_blocks
from pipeline.media.probe import ffmpeg_exe, ffmpeg_version

#: seconds per fingerprint item: Chromaprint hops 4096/3 samples at 11025 Hz
ITEM_SECONDS = 4096 / 3 / 11025
#: fpcalc's internal sample rate
FP_RATE = 11025
#: matched windows: BER below this (unrelated audio: ~0.5)
MAX_WINDOW_BER = 0.25
WINDOW_ITEMS = 16  # ~2 s
MIN_MATCH_SECONDS = 4.0
MIN_DISTINCT = 20
MIN_VOTES = 4
#: items whose audio is quieter than this (dBFS RMS) are not fingerprinted
SILENCE_DBFS = -55.0
#: a key held by more postings than this is a "stop word" (silence-like, jingles) and casts no votes
STOP_POSTINGS = 500
# Recurring material (station jingles, idents, channel music) is down-weighted before linking, as document frequency
# is in text search: an item found in this many archived videos of at least RECURRING_CHANNELS channels is shared
# material, and matched seconds made of it do not count towards a link (issue 21: a 4.5 s station jingle linked
# two different 9 s bulletins).
RECURRING_VIDEOS = 3
RECURRING_CHANNELS = 2
#: speed factors tried on a query (copy speed / original speed), as (factor, how)
QUERY_SPEEDS: tuple[tuple[float, str], ...] = ((1.0, "same"), (1.05, "rate"), (1 / 1.05, "rate"),
                                               (1.05, "tempo"), (1 / 1.05, "tempo"))
TOOL = "chromaprint-fpcalc"
#: the same fingerprints from ffmpeg's chromaprint muxer (no fpcalc on this machine)
FFMPEG_TOOL = "chromaprint-ffmpeg"
VERSION = "1"
#: the one command that adds fpcalc where no fingerprinter is found
FPCALC_FIX = "apt-get install libchromaprint-tools"


@dataclass
class AudioFingerprint:
    """Raw Chromaprint items and which of them carry sound (not silence)."""

    items: np.ndarray  # uint32
    valid: np.ndarray  # bool, same length
    duration: float  # seconds of audio fingerprinted
    speed: float = 1.0  # speed correction applied to this (query) fingerprint
    how: str = "same"  # same | rate | tempo

    def __len__(self) -> int:
        return len(self.items)

    @property
    def sound_seconds(self) -> float:
        return float(self.valid.sum()) * ITEM_SECONDS

    def to_bytes(self) -> bytes:
        """Storage form: little-endian uint32 items, silent items stored as 0."""
        return np.where(self.valid, self.items, 0).astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, duration: float | None = None) -> "AudioFingerprint":
        items = np.frombuffer(data, "<u4").astype(np.uint32)
        return cls(items, items != 0, duration if duration is not None else len(items) * ITEM_SECONDS)


@dataclass
class AudioMatch:
    """Where a query's audio is found in one archived video."""

    video_id: Any
    offset: float  # archived time = query time * speed + offset (seconds)
    speed: float  # 1.0, or the speed correction that found it
    matched_seconds: float  # query audio found (windows under the BER limit)
    query_start: float
    query_end: float
    archived_start: float
    archived_end: float
    ber: float  # mean bit error rate over the matched windows
    votes: int
    distinct: int
    archived_seconds: float  # the archived fingerprint's length
    query_seconds: float
    confidence: float = 0.0
    how: str = "same"
    recurring_seconds: float = 0.0  # of matched_seconds, material recurring across the archive (jingles, idents)


def _popcount32(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint32)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1).astype(np.int32)


@functools.lru_cache(maxsize=1)
def fpcalc_exe() -> str:
    found = shutil.which("fpcalc")
    if not found:
        raise ConfigError("fpcalc (Chromaprint) is not installed: install Debian's libchromaprint-tools "
                          f"({FPCALC_FIX}) to find audio copies")
    return found


@functools.lru_cache(maxsize=4)
def _ffmpeg_has_chromaprint(exe: str) -> bool:
    try:
        res = subprocess.run([exe, "-hide_banner", "-h", "muxer=chromaprint"], capture_output=True, text=True,
                             check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and "Muxer chromaprint" in res.stdout


def ffmpeg_fingerprinter() -> str | None:
    """The ffmpeg binary (clipwatch's own, from imageio-ffmpeg) when it was built with Chromaprint, else None."""
    try:
        exe = ffmpeg_exe()
    except ConfigError:
        return None
    return exe if _ffmpeg_has_chromaprint(exe) else None


def fingerprinter() -> tuple[str, str]:
    """(tool, executable) that computes fingerprints here: ``fpcalc`` when installed, else ffmpeg's chromaprint
    muxer; ConfigError naming the Debian package when neither is there.

    Why fpcalc first: archives fingerprinted before the ffmpeg path existed were made with it.
    """
    found = shutil.which("fpcalc")
    if found:
        return TOOL, found
    exe = ffmpeg_fingerprinter()
    if exe:
        return FFMPEG_TOOL, exe
    raise ConfigError("no Chromaprint fingerprinter: fpcalc is not installed and this ffmpeg has no chromaprint "
                      f"muxer; install Debian's libchromaprint-tools ({FPCALC_FIX}) to find audio copies")


def fingerprinter_available() -> bool:
    """Whether audio fingerprints can be computed on this machine (fpcalc or ffmpeg's chromaprint muxer)."""
    try:
        fingerprinter()
    except ConfigError:
        return False
    return True


def fpcalc_version() -> str:
    """The fingerprinter's version, stored beside each fingerprint (fpcalc's, or ``ffmpeg N`` for the muxer)."""
    tool, exe = fingerprinter()
    if tool == FFMPEG_TOOL:
        return f"ffmpeg {ffmpeg_version()}"
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stdout
    return out.strip().split()[-1] if out.strip() else "unknown"


# Audio goes to Chromaprint (and atempo) in blocks of this many samples, written by a thread while the output is read:
# a 3-hour track is 690 MB of float32, and neither it nor its 16-bit form is ever held whole (issue 19).
BLOCK = 1 << 20


def _fingerprint_cmd(rate: int) -> tuple[str, list[str]]:
    """(tool, argv) of the fingerprinter reading 16-bit mono PCM at ``rate`` on stdin."""
    tool, exe = fingerprinter()
    if tool == FFMPEG_TOOL:
        return tool, [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac",
                      "1", "-i", "pipe:", "-f", "chromaprint", "-fp_format", "raw", "pipe:"]
    return tool, [exe, "-raw", "-plain", "-length", "0", "-format", "s16le", "-rate", str(rate), "-channels", "1", "-"]


class _Child:
    """A child process whose stdout and stderr are drained by threads while the caller writes its stdin."""

    def __init__(self, argv: list[str], stream: bool = False) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None  # for mypy: every pipe was asked for
        self.stdin = self.proc.stdin
        # stream: stdout is consumed as it comes (iterate ``out``), not gathered
        self.out: Any = _Queue() if stream else []
        self.err: list[bytes] = []
        self.threads = [threading.Thread(target=self._drain, args=(s, d), daemon=True)
                        for s, d in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(stream: Any, dest: Any) -> None:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            dest.append(chunk)
        if isinstance(dest, _Queue):
            dest.close()

    def write(self, data: bytes) -> bool:
        """Write to stdin; False once the child stopped reading (it exited: its status says why)."""
        try:
            self.stdin.write(data)
            return True
        except (OSError, ValueError):  # a broken pipe, or stdin closed by finish()
            return False

    def finish(self) -> tuple[int, bytes, bytes]:
        """Close stdin, wait; (exit status, stdout, stderr)."""
        try:
            self.stdin.close()
        except OSError:
            pass
        rc = self.proc.wait()
        for t in self.threads:
            t.join()
        return rc, b"".join(self.out) if isinstance(self.out, list) else b"", b"".join(self.err)


def _items_from(tool: str, rc: int, out: bytes, err: bytes) -> np.ndarray:
    if tool == FFMPEG_TOOL:
        if rc != 0:
            raise MediaError(f"ffmpeg could not fingerprint the audio: {err.decode(errors='replace').strip()[:200]}")
        return np.frombuffer(out[: len(out) // 4 * 4], "=u4").astype(np.uint32)
    text = out.decode().strip()
    if rc != 0 and not text and b"Empty fingerprint" in err:
        return np.zeros(0, np.uint32)  # too little sound to fingerprint
    if rc != 0 and not text:
        raise MediaError(f"fpcalc could not fingerprint the audio: {err.decode(errors='replace').strip()[:200]}")
    if not text:
        return np.zeros(0, np.uint32)
    return np.array([int(v) for v in text.split(",")], dtype=np.uint64).astype(np.uint32)


class _Loudness:
    """Which fingerprint items are louder than SILENCE_DBFS, from audio seen block by block.

    An item is judged on ~0.5 s of audio from its start: the mean square over [a, b) with a = item * hop. The running
    sum of squares is kept only at the positions some item's a or b can take, carried from block to block (the same
    sequential float64 sums as one cumulative sum over the whole track), so memory is that of the items, not the audio.
    """

    def __init__(self, rate: int) -> None:
        self.hop = ITEM_SECONDS * rate
        self.width = 2 * int(round(4 * self.hop))  # an item looks at ~16 chroma frames; judge its central half second
        self.total = 0.0  # sum of squares of the samples seen
        self.seen = 0
        self.pos: list[np.ndarray] = [np.zeros(1, np.int64)]
        self.val: list[np.ndarray] = [np.zeros(1)]

    def update(self, block: np.ndarray) -> None:
        s, e = self.seen, self.seen + len(block)
        if e == s:
            return
        sums = np.cumsum(np.concatenate(([self.total], block.astype(np.float64) ** 2)))  # sums[j] = S(s + j)
        k0 = max(int((s - self.width) / self.hop) - 1, 0)
        k = np.arange(k0, int(e / self.hop) + 2)
        a = (k * self.hop).astype(np.int64)
        p = np.unique(np.concatenate((a, a + self.width)))
        p = p[(p > s) & (p <= e)]
        self.pos.append(p)
        self.val.append(sums[p - s])
        self.total, self.seen = float(sums[-1]), e

    def valid(self, n_items: int) -> np.ndarray:
        if n_items == 0:
            return np.zeros(0, bool)
        pos, val = np.concatenate(self.pos), np.concatenate(self.val)
        a = np.minimum((np.arange(n_items) * self.hop).astype(np.int64), self.seen)
        b = np.minimum(a + self.width, self.seen)
        pos, val = np.append(pos, self.seen), np.append(val, self.total)  # S(end), where a and b are clamped to
        at = np.searchsorted(pos, np.concatenate((a, b)))
        sa, sb = val[at[:n_items]], val[at[n_items:]]
        width = np.maximum(b - a, 1)
        power = np.maximum(sb - sa, 0.0) / width
        return (b > a) & (power > 10 ** (SILENCE_DBFS / 10))


def _blocks(samples: np.ndarray) -> Iterator[np.ndarray]:
    """``samples`` (an array or a memory map, whose pages are let go after each block) as float32 copies of BLOCK
    samples."""
    return pcm_blocks(samples, BLOCK)


def _atempo_blocks(samples: np.ndarray, rate: int, factor: float) -> Iterator[np.ndarray]:
    """``samples`` through ffmpeg's atempo filter, streamed: fed by a thread, read back block by block."""
    child = _Child([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(rate),
                    "-ac", "1", "-i", "pipe:", "-af", f"atempo={factor:.6f}", "-f", "f32le", "pipe:"], stream=True)

    def feed() -> None:
        for block in _blocks(samples):
            if not child.write(block.tobytes()):
                break
        try:
            child.stdin.close()
        except OSError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    pending, done = b"", False
    try:
        for chunk in child.out:
            pending += chunk
            if len(pending) >= BLOCK * 4:
                cut = len(pending) // 4 * 4
                yield np.frombuffer(pending[:cut], np.float32)
                pending = pending[cut:]
        if len(pending) >= 4:
            yield np.frombuffer(pending[: len(pending) // 4 * 4], np.float32)
        done = True
    finally:
        if not done:  # the consumer stopped early: stop ffmpeg, empty its queue so the drain thread can end
            child.proc.kill()
            for _ in child.out:
                pass
        feeder.join()
        rc, _, err = child.finish()
    if rc != 0:
        raise MediaError(f"ffmpeg atempo failed: {err.decode(errors='replace')[:200]}")


class _Queue:
    """What ``_Child`` drains stdout into when the output is read as a stream: a queue ending with None."""

    def __init__(self) -> None:
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=64)  # 4 MB of 64 KB chunks ahead, at most

    def append(self, chunk: bytes) -> None:
        self.q.put(chunk)

    def close(self) -> None:
        self.q.put(None)

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.q.get()) is not None:
            yield chunk


def fingerprint_pcm(samples: np.ndarray, rate: int, *, speed: float = 1.0, how: str = "same") -> AudioFingerprint:
    """Fingerprint mono float PCM in [-1, 1]. ``speed``/``how`` undo a speed change of a copy.

    ``how="rate"``: the copy was resampled (pitch moved with speed); declaring
    its PCM at ``rate / speed`` plays it back at the original speed.
    ``how="tempo"``: the copy kept its pitch; ``atempo=1/speed`` restores the pace.

    The audio is streamed to the fingerprinter in blocks (``samples`` may be a memory map of hours): memory stays
    that of one block and of the items, whatever the length.
    """
    declared = rate
    if how == "rate" and speed != 1.0:
        declared = int(round(rate / speed))
    if how == "tempo" and speed != 1.0:
        blocks: Iterable[np.ndarray] = _atempo_blocks(samples, rate, 1.0 / speed)
    elif len(samples) < declared:  # under a second: Chromaprint gives nothing useful
        return AudioFingerprint(np.zeros(0, np.uint32), np.zeros(0, bool), len(samples) / declared, speed, how)
    else:
        blocks = _blocks(samples)
    tool, argv = _fingerprint_cmd(declared)
    child = _Child(argv)
    loud = _Loudness(declared)
    writing = True
    try:
        for block in blocks:
            loud.update(block)
            if writing:
                # loudness on the PCM as fpcalc hears it: the float samples before 16-bit rounding, as before
                writing = child.write((np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    finally:
        rc, out, err = child.finish()
    items = np.zeros(0, np.uint32) if loud.seen < declared else _items_from(tool, rc, out, err)
    valid = loud.valid(len(items))
    # a run of identical items is one sound held (tone, hum): keep only its first item
    if len(items) > 1:
        valid[1:] &= items[1:] != items[:-1]
    return AudioFingerprint(items, valid, loud.seen / declared, speed, how)


def fingerprint_file(path: Path, *, speeds: Sequence[tuple[float, str]] = ((1.0, "same"),)) -> list[AudioFingerprint]:
    """Decode a file's audio once (16 kHz mono) and fingerprint it at each speed correction.

    Raises NoAudioError when the file has no audio track.
    """

    samples = load_audio(Path(path))
    return [fingerprint_pcm(samples, SAMPLE_RATE, speed=s, how=h) for s, h in speeds]


def query_fingerprints(path: Path) -> list[AudioFingerprint]:
    """The fingerprints a new video is matched with: as is, and with each speed correction."""
    return fingerprint_file(path, speeds=QUERY_SPEEDS)


def _windows_ber(errors: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per position: BER over the WINDOW_ITEMS-long window starting there (NaN if too few valid items)."""
    n = len(errors)
    w = min(WINDOW_ITEMS, n)
    if w == 0:
        return np.zeros(0)
    e = np.concatenate(([0], np.cumsum(np.where(ok, errors, 0))))
    c = np.concatenate(([0], np.cumsum(ok.astype(np.int64))))
    cnt = c[w:] - c[:-w]
    err = e[w:] - e[:-w]
    with np.errstate(invalid="ignore", divide="ignore"):
        ber = np.where(cnt >= w // 2, err / np.maximum(cnt, 1) / 32.0, np.nan)
    return ber


def _confidence(ber: float, seconds: float) -> float:
    """A 0..1 figure: how far below chance the errors are, times how much audio agrees (saturating at 20 s)."""
    quality = max(0.0, min(1.0, (MAX_WINDOW_BER - ber) / MAX_WINDOW_BER))
    amount = min(1.0, seconds / 20.0)
    return round(0.5 * quality + 0.5 * quality * amount, 4)


class AudioIndex:
    """Inverted index of fingerprint items: key -> (video, position), sorted for vectorised lookup.

    ``sample`` > 1 keeps only keys with ``hash(key) % sample == 0`` in the
    index *and* in queries: a copy's matching items are the same keys on both
    sides, so they are sampled together and the index shrinks ``sample`` times.
    """

    def __init__(self, sample: int = 1):
        self.sample = max(1, int(sample))
        self._video_ids: list[Any] = []
        self._vid_of: dict[Any, int] = {}
        self._fps: list[np.ndarray] = []  # per video: items (silent -> 0)
        self._pending: list[int] = []
        self._keys = np.zeros(0, np.uint32)
        self._post_vid = np.zeros(0, np.int32)
        self._post_pos = np.zeros(0, np.int32)
        self._rebuild_all = False
        self._group: dict[int, Any] = {}             # video index -> its channel (None: its own group)
        self._recurring = np.zeros(0, np.uint32)     # sorted keys of recurring material (see RECURRING_VIDEOS)
        # Set by the persistent index (``copies.index``), which loads only the candidate videos into this one: which
        # keys are stop words and which recur is a property of the whole archive, not of the candidates.
        self.global_stop: np.ndarray | None = None       # sorted keys that cast no votes
        self.global_recurring: np.ndarray | None = None  # sorted recurring keys

    def __len__(self) -> int:
        return len(self._video_ids)

    def _keep(self, keys: np.ndarray) -> np.ndarray:
        if self.sample == 1:
            return np.ones(len(keys), bool)
        h = (keys.astype(np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
        return (h % np.uint64(self.sample)) == 0

    def add(self, video_id: Any, fp: AudioFingerprint | bytes | np.ndarray, channel: Any = None) -> None:
        """Add (or replace) one archived video's fingerprint; ``channel`` counts it towards recurring material."""
        if isinstance(fp, (bytes, bytearray, memoryview)):
            items = np.frombuffer(bytes(fp), "<u4").astype(np.uint32)
        elif isinstance(fp, AudioFingerprint):
            items = np.where(fp.valid, fp.items, 0).astype(np.uint32)
        else:
            items = np.asarray(fp, np.uint32)
        if video_id in self._vid_of:
            self._fps[self._vid_of[video_id]] = items
            self._rebuild_all = True
        else:
            self._vid_of[video_id] = len(self._video_ids)
            self._video_ids.append(video_id)
            self._fps.append(items)
        self._group[self._vid_of[video_id]] = channel
        self._pending.append(self._vid_of[video_id])

    @classmethod
    def from_arrays(cls, fingerprints: Sequence[np.ndarray], video_ids: Sequence[Any] | None = None,
                    sample: int = 1) -> "AudioIndex":
        """Bulk build (benchmarks, loading a whole archive)."""
        idx = cls(sample=sample)
        ids = list(video_ids) if video_ids is not None else list(range(len(fingerprints)))
        idx._video_ids = ids
        idx._vid_of = {v: i for i, v in enumerate(ids)}
        idx._fps = [np.asarray(f, np.uint32) for f in fingerprints]
        idx._pending = list(range(len(ids)))
        return idx

    def _build(self) -> None:
        if not self._pending and not self._rebuild_all:
            return
        todo: Iterable[int]
        if self._rebuild_all:
            todo, old = range(len(self._fps)), None
            self._rebuild_all = False
        else:
            todo, old = sorted(set(self._pending)), (self._keys, self._post_vid, self._post_pos)
        keys, vids, poss = [], [], []
        for v in todo:
            items = self._fps[v]
            pos = np.nonzero(items)[0]
            k = items[pos]
            keep = self._keep(k)
            keys.append(k[keep])
            poss.append(pos[keep].astype(np.int32))
            vids.append(np.full(int(keep.sum()), v, np.int32))
        if old is not None and len(old[0]):
            keys.insert(0, old[0])
            vids.insert(0, old[1])
            poss.insert(0, old[2])
        k = np.concatenate(keys) if keys else np.zeros(0, np.uint32)
        order = np.argsort(k, kind="stable")
        self._keys = k[order]
        self._post_vid = (np.concatenate(vids) if vids else np.zeros(0, np.int32))[order]
        self._post_pos = (np.concatenate(poss) if poss else np.zeros(0, np.int32))[order]
        self._pending = []
        self._recurring = self._recurring_keys() if self.global_recurring is None else self.global_recurring

    def _recurring_keys(self) -> np.ndarray:
        """Keys held by >= RECURRING_VIDEOS videos of >= RECURRING_CHANNELS channels (sorted)."""
        if len(self._keys) == 0 or len(self._video_ids) < RECURRING_VIDEOS:
            return np.zeros(0, np.uint32)
        pairs = np.unique(self._keys.astype(np.uint64) << np.uint64(32) | self._post_vid.astype(np.uint64))
        keys, vids = (pairs >> np.uint64(32)).astype(np.uint32), (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
        uk, start, n_videos = np.unique(keys, return_index=True, return_counts=True)
        out = []
        for i in np.nonzero(n_videos >= RECURRING_VIDEOS)[0].tolist():
            groups = {self._group.get(int(v)) if self._group.get(int(v)) is not None else ("video", int(v))
                      for v in vids[start[i]:start[i] + n_videos[i]]}
            if len(groups) >= RECURRING_CHANNELS:
                out.append(uk[i])
        return np.asarray(out, np.uint32)

    def match(self, queries: AudioFingerprint | Iterable[AudioFingerprint], *, exclude: Iterable[Any] = (),
              limit: int = 10) -> list[AudioMatch]:
        """Archived videos whose audio the query contains (or that contain the query's audio), best first.

        ``queries``: one fingerprint, or several speed corrections of the same
        audio (``query_fingerprints``); per archived video the best is kept.
        """
        self._build()
        qs = [queries] if isinstance(queries, AudioFingerprint) else list(queries)
        excluded = {self._vid_of[v] for v in exclude if v in self._vid_of}
        best: dict[int, AudioMatch] = {}
        for q in qs:
            for m in self._match_one(q, excluded, limit):
                vidx = self._vid_of[m.video_id]
                if vidx not in best or (m.matched_seconds, -m.ber) > (best[vidx].matched_seconds, -best[vidx].ber):
                    best[vidx] = m
        out = sorted(best.values(), key=lambda m: (-m.confidence, -m.matched_seconds))
        return out[:limit]

    def _match_one(self, q: AudioFingerprint, excluded: set[int], limit: int) -> list[AudioMatch]:
        if len(q) == 0 or len(self._keys) == 0:
            return []
        qpos = np.nonzero(q.valid)[0]
        qkeys = q.items[qpos]
        keep = self._keep(qkeys)
        qpos, qkeys = qpos[keep], qkeys[keep]
        lo = np.searchsorted(self._keys, qkeys, "left")
        hi = np.searchsorted(self._keys, qkeys, "right")
        n = hi - lo
        use = (n > 0) & (n <= STOP_POSTINGS)
        if self.global_stop is not None and len(self.global_stop):
            use &= ~np.isin(qkeys, self.global_stop)
        if not use.any():
            return []
        lo, n, qpos = lo[use], n[use], qpos[use]
        total = int(n.sum())
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(total)
        pv = self._post_vid[starts].astype(np.int64)
        diff = self._post_pos[starts].astype(np.int64) - np.repeat(qpos, n)
        if excluded:
            ok = ~np.isin(pv, np.fromiter(excluded, np.int64))
            pv, diff = pv[ok], diff[ok]
        if len(pv) == 0:
            return []
        # votes per (video, offset), pooled with the neighbouring offsets (frame phase jitter)
        shift = np.int64(1 << 31)
        code = pv * (shift * 2) + (diff + shift)
        uniq, counts = np.unique(code, return_counts=True)
        pooled = counts.copy()
        for d in (-1, 1):
            j = np.searchsorted(uniq, uniq + d)
            j = np.minimum(j, len(uniq) - 1)
            pooled = pooled + np.where(uniq[j] == uniq + d, counts[j], 0)
        cand = np.nonzero(pooled >= MIN_VOTES)[0]
        if len(cand) == 0:
            return []
        cvid = uniq[cand] // (shift * 2)
        cdiff = uniq[cand] % (shift * 2) - shift
        cvotes = pooled[cand]
        # best offsets per video (a few: loops and repeats give several)
        order = np.lexsort((-cvotes, cvid))
        results: list[AudioMatch] = []
        seen: dict[int, int] = {}
        for i in order.tolist():
            v = int(cvid[i])
            if seen.get(v, 0) >= 3:
                continue
            seen[v] = seen.get(v, 0) + 1
            m = self._verify(q, v, int(cdiff[i]), int(cvotes[i]))
            if m is not None:
                results.append(m)
        byvid: dict[Any, AudioMatch] = {}
        for m in results:
            if m.video_id not in byvid or m.matched_seconds > byvid[m.video_id].matched_seconds:
                byvid[m.video_id] = m
        return sorted(byvid.values(), key=lambda m: -m.matched_seconds)[: max(limit, 1) * 3]

    def _verify(self, q: AudioFingerprint, vidx: int, diff: int, votes: int) -> AudioMatch | None:
        a = self._fps[vidx]
        best: AudioMatch | None = None
        for d in (diff - 1, diff, diff + 1):
            q0 = max(0, -d)
            a0 = q0 + d
            n = min(len(q) - q0, len(a) - a0)
            if n < WINDOW_ITEMS:
                continue
            qi, ai = q.items[q0:q0 + n], a[a0:a0 + n]
            ok = q.valid[q0:q0 + n] & (ai != 0)
            errors = _popcount32(qi ^ ai)
            ber = _windows_ber(errors, ok)
            good = np.nan_to_num(ber, nan=1.0) <= MAX_WINDOW_BER
            if not good.any():
                continue
            covered = np.zeros(n, bool)
            for s in np.nonzero(good)[0]:
                covered[s:s + WINDOW_ITEMS] = True
            covered &= ok
            matched_items = int(covered.sum())
            # shared station material proves nothing on its own: the caller weighs only what is beyond it
            recurring_items = int((covered & np.isin(qi, self._recurring)).sum()) if len(self._recurring) else 0
            secs = matched_items * ITEM_SECONDS
            distinct = len(np.unique(qi[covered]))
            if secs < MIN_MATCH_SECONDS or distinct < MIN_DISTINCT:
                continue
            mean_ber = float(errors[covered].sum()) / (32.0 * matched_items)
            idx = np.nonzero(covered)[0]
            qs, qe = (q0 + idx[0]) * ITEM_SECONDS, (q0 + idx[-1] + 1) * ITEM_SECONDS  # in corrected (original-pace) time
            m = AudioMatch(
                video_id=self._video_ids[vidx],
                offset=round(d * ITEM_SECONDS, 3),
                speed=q.speed,
                matched_seconds=round(secs, 2),
                query_start=round(float(qs) / q.speed, 2), query_end=round(float(qe) / q.speed, 2),
                archived_start=round(float(qs) + d * ITEM_SECONDS, 2), archived_end=round(float(qe) + d * ITEM_SECONDS, 2),
                ber=round(mean_ber, 4), votes=votes, distinct=distinct,
                archived_seconds=round(float((a != 0).sum()) * ITEM_SECONDS, 2),
                query_seconds=round(q.sound_seconds, 2),
                confidence=_confidence(mean_ber, secs), how=q.how,
                recurring_seconds=round(recurring_items * ITEM_SECONDS, 2),
            )
            if best is None or m.matched_seconds > best.matched_seconds:
                best = m
        return best
