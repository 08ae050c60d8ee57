"""Shots and keyframes. Contract: ``extract_keyframes(path, out_dir) -> KeyframeResult``.

One pass over the video: one decode (see ``detectors.reader``) gives every
sampled frame at ~128 px for the shot detectors and, about five times a
second, the same frame at keyframe size (long side <= 640 px) as a candidate
for the keyframe choice, so the full-size scaling runs on a fifth of the
frames. Memory stays flat: detectors keep a few numbers per frame, and at most
``MAX_CANDIDATES`` frames are held at a time.

Shots only (``detect_shots``, no pictures kept) decodes H.264/HEVC without the
in-loop deblocking filter: about a quarter less decoding work, the same cuts
(bench/shots.py). Keyframe pictures are decoded normally: without deblocking
they would differ from a normal decode about as much as the JPEG differs from
its source (PSNR 35.7 vs 36.5 dB median on the Big Buck Bunny clip, so twice
the loss), and their pHash would move by up to 4 bits, half the matching
threshold.

Per shot, the keyframe is the sharpest candidate (variance of the Laplacian)
near the middle of the shot, not its first frame. A shot longer than 30 s is
cut into 30 s windows, each with its own keyframe (a newsreader talking for
five minutes gets ten). JPEGs are written atomically (temporary name, then
rename), quality 85, and each keyframe carries a 64-bit pHash of the frame and
of its mirror image.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from pipeline.errors import MediaError
from pipeline.media.frames import READERS, inspect_video, target_size
from pipeline.media.probe import probe
from pipeline.shots.detectors import Cut, SampledFrame, make_detectors
from pipeline.shots.phash import phash_pair, query_variants
from pipeline.storage.files import atomic_write

log = logging.getLogger(__name__)

TOOL_VERSION = "keyframes-3"  # 3: candidates from the reader's second output, ~5 a second
DEFAULT_DETECTOR = "adaptive+fade"
KEYFRAME_LONG_SIDE = 640
DETECT_LONG_SIDE = 128
JPEG_QUALITY = 85
WINDOW_SECONDS = 30.0  # a shot longer than this gets one keyframe per window
MAX_CANDIDATES = 16  # candidate frames held per window (thinned as the window grows)
CANDIDATE_FPS = 5.0  # keyframe-size frames per second of video (keyframe candidates); 3 frames
# of a 15-frame (minimum) shot at 25 fps, one of them in its middle 40 %
MIDDLE_FRACTION = 0.4  # the keyframe comes from the middle 40 % of its window
NOT_VIDEO_CONTAINERS = {"tty", "image2", "bin", "txt"}
#: skip the in-loop deblocking filter when decoding for detection only (see above)
FAST_DECODE_SHOTS = True
FAST_DECODE_KEYFRAMES = False


@dataclass
class Shot:
    index: int
    start: float  # seconds
    end: float
    transition: str = "start"  # how the shot begins: start | cut | fade


@dataclass
class Keyframe:
    shot_index: int
    shot_start: float
    shot_end: float
    time: float
    path: str  # JPEG file name, relative to out_dir
    phash: int  # unsigned 64-bit perceptual hash (0: flat picture, not matchable)
    phash_mirror: int = 0  # hash of the horizontally mirrored frame
    sharpness: float = 0.0  # variance of the Laplacian of the chosen frame
    # query-side hashes (wider centres, untrimmed) for matching a cropped or
    # bordered copy; not stored in the database
    phash_alt: tuple[int, ...] = ()
    phash_alt_mirror: tuple[int, ...] = ()


@dataclass
class KeyframeResult:
    shots: list[Shot] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    detector: str = ""
    tool_version: str = ""
    duration: float = 0.0
    frames_decoded: int = 0
    fps: float = 0.0
    sample_step: int = 1
    backend: str = ""


@dataclass
class _Candidate:
    time: float
    frame: np.ndarray
    sharpness: float


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: higher is sharper."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(std[0, 0]) ** 2


def auto_step(fps: float, detectors_max_step: int) -> int:
    """Sample about 25-30 frames per second at most: every frame at 25/30 fps, every 2nd at 50/60."""
    return max(1, min(detectors_max_step, int(fps // 24.5) or 1))


class _KeyframePicker:
    """Keeps thinned candidate frames and turns closed windows into keyframes."""

    def __init__(self, out_dir: Path, stem: str):
        self.out_dir = out_dir
        self.stem = stem
        self.candidates: list[_Candidate] = []
        self.stride = 1
        self.counter = 0
        self.keyframes: list[Keyframe] = []

    def offer(self, time: float, frame: np.ndarray) -> None:
        self.counter += 1
        if (self.counter - 1) % self.stride:
            return
        self.candidates.append(_Candidate(time, frame, sharpness(frame)))
        if len(self.candidates) > MAX_CANDIDATES:
            self.candidates = self.candidates[::2]
            self.stride *= 2

    def close_window(self, shot: Shot, w_start: float, w_end: float) -> None:
        """Choose and write the keyframe of [w_start, w_end); drop candidates before w_end."""
        inside = [c for c in self.candidates if w_start <= c.time < w_end]
        self.candidates = [c for c in self.candidates if c.time >= w_end]
        self.stride, self.counter = 1, 0
        if not inside:
            return
        mid = (w_start + w_end) / 2
        half = max((w_end - w_start) * MIDDLE_FRACTION / 2, 1e-6)
        near = [c for c in inside if abs(c.time - mid) <= half]
        if not near:
            near = sorted(inside, key=lambda c: abs(c.time - mid))[:3]
        best = max(near, key=lambda c: (round(c.sharpness, 3), -abs(c.time - mid)))
        name = f"{self.stem}_s{shot.index:04d}_{int(round(best.time * 1000)):09d}.jpg"
        _write_jpeg(self.out_dir / name, best.frame)
        h, hm = phash_pair(best.frame)
        alt, alt_m = query_variants(best.frame)
        self.keyframes.append(Keyframe(shot.index, shot.start, shot.end, round(best.time, 3), name, h, hm,
                                       round(best.sharpness, 2), alt, alt_m))


def _write_jpeg(path: Path, frame: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise MediaError(f"could not encode a keyframe JPEG for {path.name}")
    atomic_write(path, lambda fh: fh.write(data.tobytes()))


def extract_keyframes(path: Path, out_dir: Path, *, detector: str = DEFAULT_DETECTOR,
                      progress: Callable[[float, float], None] | None = None,
                      backend: str = "ffmpeg", sample_step: int | None = None,
                      min_scene_len: int = 15, write_jpegs: bool = True,
                      fast_decode: bool | None = None) -> KeyframeResult:
    """Detect shots in ``path`` and write one keyframe JPEG per shot (and per 30 s) into ``out_dir``.

    ``detector`` names detectors joined by '+' (``adaptive``, ``content``,
    ``fade``). ``progress(done_seconds, total_seconds)`` is called as decoding
    advances. ``sample_step`` decodes every n-th frame for detection (default:
    chosen from the frame rate). ``fast_decode`` skips the decoder's deblocking
    filter (default: only when no JPEGs are written). Raises MediaError for a
    file that is not a decodable video.
    """
    path = Path(path)
    out_dir = Path(out_dir)
    info = probe(path)  # MediaError for non-media
    if not info.has_video:
        raise MediaError(f"{path.name}: has no video stream, so it has no shots or keyframes; pass a video file")
    if info.container in NOT_VIDEO_CONTAINERS or info.container.endswith("_pipe") or info.video_codec in ("ansi",):
        # ffmpeg renders text files (tty) and still images as one-stream "videos"
        raise MediaError(f"{path.name}: is not a video (ffmpeg reads it as {info.container}/{info.video_codec}); "
                         "pass a video file")
    geo = inspect_video(path)
    try:
        detectors = make_detectors(detector, min_scene_len=min_scene_len)
    except ValueError as exc:
        raise MediaError(str(exc)) from exc
    if backend not in READERS:
        raise MediaError(f"unknown frame reader {backend!r}: choose from {', '.join(READERS)}")
    step = sample_step or auto_step(geo.fps, min(d.max_step for d in detectors))
    kf_size = target_size(geo.width, geo.height, KEYFRAME_LONG_SIDE)
    det_size = target_size(geo.width, geo.height, DETECT_LONG_SIDE)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = info.duration or geo.duration

    if fast_decode is None:
        fast_decode = FAST_DECODE_KEYFRAMES if write_jpegs else FAST_DECODE_SHOTS
    # keyframe candidates: every kf_every-th sampled frame, at keyframe size
    kf_every = max(1, int(round(geo.fps / step / CANDIDATE_FPS))) if geo.fps else 1
    picker = _KeyframePicker(out_dir, _safe_stem(path))
    shots: list[Shot] = []
    shot = Shot(0, 0.0, 0.0, "start")
    win_start = 0.0
    last_cut_index = 0
    frames = 0
    last_time = 0.0
    frame_dt = 1.0 / geo.fps if geo.fps else 0.04
    next_progress = 0.0

    def on_cut(cut: Cut) -> None:
        nonlocal shot, win_start, last_cut_index
        if cut.index - last_cut_index < min_scene_len or cut.time <= shot.start:
            return  # two detectors saw the same transition
        shot.end = cut.time
        picker.close_window(shot, win_start, cut.time)
        shots.append(shot)
        shot = Shot(shot.index + 1, cut.time, cut.time, cut.kind)
        win_start = cut.time
        last_cut_index = cut.index

    reader = READERS[backend](path, det_size, step, kf_size=kf_size if write_jpegs else None,
                              kf_every=kf_every, fast_decode=fast_decode)
    for index, time, small, frame in reader:
        frames += 1
        last_time = time
        sf = SampledFrame(index, time, small)
        for det in detectors:
            for cut in det.process(sf):
                on_cut(cut)
        # a long shot: close its 30 s window once we are safely past it (detectors answer late)
        if time - win_start >= WINDOW_SECONDS + 5.0:
            shot.end = win_start + WINDOW_SECONDS
            picker.close_window(shot, win_start, win_start + WINDOW_SECONDS)
            win_start += WINDOW_SECONDS
        if frame is not None:
            picker.offer(time, frame)
        if progress is not None and time >= next_progress:
            progress(time, total)
            next_progress = time + 1.0
    if frames == 0:
        raise MediaError(f"{path.name}: no video frame could be decoded; the file is corrupt or truncated")
    for det in detectors:
        for cut in det.flush():
            on_cut(cut)
    end = max(last_time + frame_dt * step, shot.start)
    shot.end = end
    picker.close_window(shot, win_start, end + 1e-6)
    shots.append(shot)
    # keyframes written before their shot ended carry a provisional shot_end
    ends = {s.index: (s.start, s.end) for s in shots}
    for kf in picker.keyframes:
        kf.shot_start, kf.shot_end = ends[kf.shot_index]
        kf.shot_start, kf.shot_end = round(kf.shot_start, 3), round(kf.shot_end, 3)
    for s in shots:
        s.start, s.end = round(s.start, 3), round(s.end, 3)
    if progress is not None:
        progress(end, total or end)
    return KeyframeResult(
        shots=shots,
        keyframes=picker.keyframes,
        detector="+".join(d.name for d in detectors),
        tool_version=f"{TOOL_VERSION} opencv-{cv2.__version__}",
        duration=round(max(total, end), 3),
        frames_decoded=frames,
        fps=geo.fps,
        sample_step=step,
        backend=backend,
    )


def _safe_stem(path: Path) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in path.stem)[:40]
    return stem or "video"


def detect_shots(path: Path, *, detector: str = DEFAULT_DETECTOR, backend: str = "ffmpeg",
                 sample_step: int | None = None) -> KeyframeResult:
    """Shots only (no JPEGs written): for benchmarks and ``clipwatch shots``-style listings."""
    with tempfile.TemporaryDirectory(prefix="clipwatch-shots-") as tmp:
        return extract_keyframes(path, Path(tmp), detector=detector, backend=backend,
                                 sample_step=sample_step, write_jpegs=False)
