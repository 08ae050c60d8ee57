"""Frame readers: decoded frames at keyframe size, in order, one at a time.

Two backends, measured on 720p H.264 here (see bench/shots.py):

* ``ffmpeg`` (default): the ffmpeg binary decodes with its own threads, drops
  unneeded frames (``select``) and scales in C, and writes raw BGR to a pipe;
  frame times come from ``showinfo`` on stderr, so variable frame rate is
  exact. Decoding runs in parallel with the Python side.
* ``opencv``: ``VideoCapture.grab()`` every frame and ``retrieve()`` only the
  sampled ones (grab without retrieve skips the colour conversion).

PyAV's threaded decoding was measured too and was slower than both (the
per-frame ``reformat`` runs single-threaded in the caller).

Memory is one frame plus the pipe buffer, whatever the length of the video.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import MediaError
from ..media import ffmpeg_exe

log = logging.getLogger(__name__)

_PTS_RE = re.compile(rb"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[\d.eE+-]+)")


@dataclass(frozen=True)
class VideoGeometry:
    width: int  # displayed size after rotation and sample aspect ratio
    height: int
    fps: float
    duration: float
    frame_count: int  # estimate; 0 when unknown


def inspect_video(path: Path) -> VideoGeometry:
    """Size, rate and duration; decodes the first frame so a corrupt file fails here."""
    import av

    name = Path(path).name
    try:
        with av.open(str(path)) as container:
            vs = next(iter(container.streams.video), None)
            if vs is None:
                raise MediaError(f"{name}: has no video stream, so it has no shots or keyframes; pass a video file")
            cc = vs.codec_context
            w, h = cc.width, cc.height
            fps = float(vs.average_rate or vs.guessed_rate or 0) or 25.0
            duration = 0.0
            if vs.duration and vs.time_base:
                duration = float(vs.duration * vs.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000
            first = None
            for frame in container.decode(vs):
                first = frame
                break
            if first is None:
                raise MediaError(f"{name}: no video frame could be decoded; the file is corrupt or truncated, fetch it again")
            w, h = first.width or w, first.height or h
            rotation = int(getattr(first, "rotation", 0) or 0)
            sar = vs.sample_aspect_ratio or cc.sample_aspect_ratio
            if sar and float(sar) > 0 and abs(float(sar) - 1.0) > 0.01:
                w = int(round(w * float(sar)))
            if rotation % 180 != 0:
                w, h = h, w
            frames = int(vs.frames or 0) or int(round(duration * fps))
            return VideoGeometry(w, h, fps, duration, frames)
    except MediaError:
        raise
    except Exception as exc:  # av.error.* and friends: not decodable
        raise MediaError(f"{name}: cannot be decoded as video ({exc.__class__.__name__}: {exc}); "
                         "check that it is a complete video file") from exc


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Even dimensions with the long side at most ``long_side``, aspect kept."""
    scale = min(1.0, long_side / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def read_frames_ffmpeg(path: Path, size: tuple[int, int], step: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame number, time in s, BGR frame of ``size``) for every ``step``-th frame."""
    w, h = size
    select = f"select='not(mod(n\\,{step}))'," if step > 1 else ""
    vf = f"{select}scale={w}:{h}:flags=area,setsar=1,showinfo=checksum=0"
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "info", "-i", str(path),
           "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf, "-fps_mode", "passthrough",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    times: deque[float] = deque()
    errors: deque[str] = deque(maxlen=20)
    cond = threading.Condition()
    done = [False]

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = _PTS_RE.search(line) if b"showinfo" in line else None
            if m:
                with cond:
                    times.append(float(m.group(3)))
                    cond.notify()
            elif b"showinfo" not in line:
                text = line.decode(errors="replace").strip()
                if text and not text.startswith(("Input #", "Output #", "Stream", "Metadata", "Duration", "Press")):
                    errors.append(text)
        with cond:
            done[0] = True
            cond.notify()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    frame_bytes = w * h * 3
    n = 0
    first_time: float | None = None
    try:
        assert proc.stdout is not None
        while True:
            buf = bytearray(frame_bytes)
            view = memoryview(buf)
            got = 0
            while got < frame_bytes:
                r = proc.stdout.readinto(view[got:])
                if not r:
                    break
                got += r
            if got < frame_bytes:
                break
            with cond:
                while not times and not done[0]:
                    cond.wait(timeout=5.0)
                t = times.popleft() if times else (n * step) / 25.0
            if first_time is None:
                first_time = t if t > 0 else 0.0  # streams that start late: keep times from 0
            yield n * step, max(0.0, t - first_time), np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            n += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=5.0)
    if proc.returncode != 0 and n == 0:
        msg = "; ".join(list(errors)[-3:]) or f"ffmpeg exit {proc.returncode}"
        raise MediaError(f"{Path(path).name}: no video frame could be decoded ({msg[:300]}); "
                         "the file is corrupt or not a video")
    if proc.returncode != 0 or any("rror" in e or "nvalid" in e for e in errors):
        log.warning("%s: decoding stopped early or with errors after %d frames: %s",
                    Path(path).name, n * step, "; ".join(list(errors)[-3:])[:300])


def read_frames_opencv(path: Path, size: tuple[int, int], step: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """OpenCV backend: grab() every frame, retrieve() and resize only every ``step``-th."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"{Path(path).name}: OpenCV cannot open it as video; check that it is a complete video file")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    try:
        while cap.grab():
            if i % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    if t <= 0 and i > 0:
                        t = i / fps
                    if (frame.shape[1], frame.shape[0]) != size:
                        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                    yield i, t, frame
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise MediaError(f"{Path(path).name}: no video frame could be decoded; the file is corrupt or not a video")


READERS = {"ffmpeg": read_frames_ffmpeg, "opencv": read_frames_opencv}
