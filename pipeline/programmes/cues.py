"""Cues a broadcast gives at a programme junction, read from one media file.

Each reader returns :class:`Cue` s in seconds from the file's start; :mod:`pipeline.programmes.boundaries` moves them
to air time and fuses them.

- picture (:func:`picture_cues`): ffmpeg decodes a few frames a second at 192x108 (the picture is downscaled in C,
  once) and OpenCV measures each: black frames (dark and flat), colour bars (vertical stripes of saturated colour,
  uniform down each column), and the on-screen logo leaving or coming back (the top-right corner: the pixels that hold still
  through most of a file are its logo).
- sound (:func:`silence_cues`): runs of audio quieter than ``SILENCE_DBFS`` for ``MIN_SILENCE`` seconds or more, on
  the 16 kHz PCM of :mod:`pipeline.media.audio`.
- idents (:mod:`pipeline.programmes.idents`): station idents and jingles the user marked once, found again by their
  Chromaprint fingerprint.

Black frames, silences and logo changes happen inside programmes too (a fade, a pause, a cut to a still scene), so
each is a *weak* cue; colour bars and a marked ident are *strong* (a programme never plays them by accident).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pipeline.errors import MediaError
from pipeline.media.probe import ffmpeg_exe

#: frames read per second of picture: enough to place a cue within half a second, cheap to decode
FPS = 4.0
#: analysed picture size (16:9; other shapes are stretched, which the measures below do not mind)
SIZE = (192, 108)
#: black: mean luma under this and 99 % of pixels under BLACK_PEAK (0..255)
BLACK_MEAN = 24.0
BLACK_PEAK = 48.0
#: bars: mean saturation over this, columns uniform (std down a column under BARS_COLUMN_STD), several stripes
BARS_SATURATION = 70.0
BARS_COLUMN_STD = 14.0
BARS_MIN_STRIPES = 4
#: a picture cue must last this long (seconds): a single dark frame in a cut is no junction
MIN_BLACK = 0.5
MIN_BARS = 1.0
#: logo: the corner (fractions of width/height); a logo pixel is within LOGO_TOLERANCE (0..255) of its median in
#: LOGO_STABLE of the file's frames; a logo covers LOGO_MIN_AREA of the corner; a frame shows it when LOGO_PRESENT
#: of its pixels match; it must be gone LOGO_MIN_ABSENT seconds to count
LOGO_CORNER = (0.22, 0.22)
LOGO_TOLERANCE = 25
LOGO_STABLE = (0.7, 0.8, 0.9, 0.95)
LOGO_MIN_AREA = 0.03
#: a "logo" covering more of the corner than this is the scenery holding still (tried with each LOGO_STABLE in turn)
LOGO_MAX_AREA = 0.8
LOGO_PRESENT = 0.6
LOGO_MIN_ABSENT = 1.0
#: silence: dBFS RMS over 50 ms windows, and the shortest run that counts (seconds)
SILENCE_DBFS = -50.0
MIN_SILENCE = 1.0
SILENCE_HOP = 0.05

STRONG = {"ident", "bars"}
WEAK = {"black", "silence", "logo"}


@dataclass
class Cue:
    """One piece of evidence for a junction: what, where (seconds), how sure (0..1), and details."""

    kind: str  # black | bars | logo | silence | ident
    start: float
    end: float
    score: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def strong(self) -> bool:
        return self.kind in STRONG

    def shifted(self, by: float) -> "Cue":
        return Cue(self.kind, self.start + by, self.end + by, self.score, dict(self.detail))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 3), **self.detail}


@dataclass
class FrameMeasures:
    """Per analysed frame (at ``fps``): black / bars flags and the corner's luma."""

    fps: float
    black: np.ndarray  # bool
    bars: np.ndarray  # bool
    corner: np.ndarray  # (n, h, w) uint8 luma of the top-right corner

    @property
    def duration(self) -> float:
        return len(self.black) / self.fps


def _frames(path: Path, fps: float, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Decode ``fps`` frames a second at ``size`` (BGR) with ffmpeg; MediaError when the file has no picture."""
    w, h = size
    # -skip_loop_filter: H.264/HEVC decode a fifth faster without deblocking, harmless at 192x108 (media/frames.py)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-skip_loop_filter", "all", "-i", str(path),
           "-an", "-sn", "-dn",
           "-map", "0:v:0", "-vf", f"fps={fps:g},scale={w}:{h},setsar=1", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    tail = bytearray()

    def drain() -> None:  # a chatty ffmpeg must not fill the stderr pipe and stall
        nonlocal tail
        for chunk in iter(lambda: proc.stderr.read(4096), b""):  # type: ignore[union-attr]
            tail = (tail + chunk)[-2000:]

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    nbytes = w * h * 3
    try:
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    finally:
        proc.stdout.close()
        rc = proc.wait()
        t.join(timeout=5)
    if rc != 0:
        raise MediaError(f"{Path(path).name}: ffmpeg could not read the picture: {tail.decode(errors='replace')[:300]}")


def measure_frames(path: Path, fps: float = FPS) -> FrameMeasures:
    """Black / bars flags and the corner's luma for each of ``fps`` frames a second of ``path``."""
    import cv2  # OpenCV is heavy: only when a picture is measured

    cw, ch = int(SIZE[0] * LOGO_CORNER[0]), int(SIZE[1] * LOGO_CORNER[1])
    black, bars, corners = [], [], []
    top = int(SIZE[1] * 0.6)
    for bgr in _frames(Path(path), fps, SIZE):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        is_black = float(gray.mean()) < BLACK_MEAN and float(np.percentile(gray, 99)) < BLACK_PEAK
        black.append(is_black)
        is_bars = False
        if not is_black:
            sat = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[..., 1]
            upper = bgr[:top].astype(np.float32)
            if float(sat[:top].mean()) > BARS_SATURATION and float(upper.std(axis=0).mean()) < BARS_COLUMN_STD:
                cols = upper.mean(axis=0)  # (w, 3): the colour of each column
                jumps = np.abs(np.diff(cols, axis=0)).max(axis=1) > 40
                is_bars = int(jumps.sum()) >= BARS_MIN_STRIPES - 1
        bars.append(is_bars)
        corners.append(gray[:ch, SIZE[0] - cw:])
    corner = np.stack(corners) if corners else np.zeros((0, ch, cw), np.uint8)
    return FrameMeasures(fps, np.array(black, bool), np.array(bars, bool), corner)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``flags`` is true."""
    if not len(flags):
        return []
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _run_cues(flags: np.ndarray, fps: float, kind: str, min_seconds: float, full: float) -> list[Cue]:
    """One cue per run of ``flags`` lasting ``min_seconds`` or more; its score grows to 1 at ``full`` seconds."""
    out = []
    for a, b in _runs(flags):
        secs = (b - a) / fps
        if secs >= min_seconds:
            out.append(Cue(kind, a / fps, b / fps, min(1.0, 0.5 + 0.5 * secs / full)))
    return out


def logo_changes(corner: np.ndarray, fps: float) -> list[Cue]:
    """Where the file's on-screen logo leaves the corner and where it comes back (seconds from the file's start).

    The logo is what holds still in the corner through most of the file: the pixels within ``LOGO_TOLERANCE`` of
    their median in a share ``LOGO_STABLE`` of the frames (the first share that leaves under ``LOGO_MAX_AREA`` of the
    corner: a still background holds still less often than the logo on it). A frame shows the logo when most of those pixels match; a run of
    frames without it (an ident card, black, a programme with its own logo or none) gives a cue at each edge. A cut
    inside a programme leaves the logo in place, so it gives none. A file whose corner holds no logo gives no cues.
    """
    n = len(corner)
    if n < 4 * fps:
        return []
    x = corner.reshape(n, -1).astype(np.int16)
    template = np.median(x, axis=0)
    close = np.abs(x - template) < LOGO_TOLERANCE
    stability = close.mean(axis=0)
    for need in LOGO_STABLE:
        # a corner still almost everywhere is still scenery with the logo on it: only the stillest pixels are logo
        mask = stability >= need
        if mask.mean() <= LOGO_MAX_AREA:
            break
    else:
        return []
    if mask.mean() < LOGO_MIN_AREA:
        return []
    present = close[:, mask].mean(axis=1) >= LOGO_PRESENT
    out = []
    for a, b in _runs(~present):
        if (b - a) / fps < LOGO_MIN_ABSENT:
            continue
        for edge, what in ((a, "logo gone"), (b, "logo back")):
            if 0 < edge < n:  # an edge at the file's own start or end is the recording's cut, not the broadcast's
                out.append(Cue("logo", edge / fps - 0.5, edge / fps + 0.5, 0.8, {"change": what}))
    return out


def picture_cues(measures: FrameMeasures) -> list[Cue]:
    """Black, colour-bar and logo-change cues from a file's frame measures (seconds from its start)."""
    fps = measures.fps
    return (_run_cues(measures.black, fps, "black", MIN_BLACK, 2.0)
            + _run_cues(measures.bars, fps, "bars", MIN_BARS, 3.0)
            + logo_changes(measures.corner, fps))


def loudness(samples: np.ndarray, rate: int, hop: float = SILENCE_HOP) -> np.ndarray:
    """dBFS RMS of each ``hop``-second window of mono PCM."""
    n = int(rate * hop)
    m = len(samples) // n
    if m == 0:
        return np.zeros(0)
    x = np.asarray(samples[: m * n], np.float64).reshape(m, n)
    return 10 * np.log10(np.maximum((x * x).mean(axis=1), 1e-12))


def silence_cues(samples: np.ndarray, rate: int) -> list[Cue]:
    """Runs of audio under ``SILENCE_DBFS`` lasting ``MIN_SILENCE`` seconds or more (seconds from the start)."""
    db = loudness(samples, rate)
    return _run_cues(db < SILENCE_DBFS, 1.0 / SILENCE_HOP, "silence", MIN_SILENCE, 3.0)
