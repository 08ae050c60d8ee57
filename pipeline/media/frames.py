"""Frame readers: sampled frames at detection size (and, for keyframes, a
thinned subset at keyframe size), in order, from one decode of the video.

Two backends, measured on 720p H.264 here (see bench/shots.py):

* ``ffmpeg`` (default): the ffmpeg binary decodes with its own threads, drops
  unneeded frames (``select``), scales in C straight to the ~128 px detection
  size, and writes raw BGR to a pipe; when keyframes are wanted, a ``split``
  sends every n-th sampled frame, scaled to keyframe size, to a second pipe.
  Frame times come from ``showinfo`` on stderr, so variable frame rate is
  exact. Decoding runs in parallel with the Python side.
* ``opencv``: ``VideoCapture.grab()`` every frame and ``retrieve()`` only the
  sampled ones (grab without retrieve skips the colour conversion).

PyAV's threaded decoding was measured too and was slower than both (the
per-frame ``reformat`` runs single-threaded in the caller).

Memory is a few frames plus the pipe buffers, whatever the length of the video.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from pipeline.errors import MediaError
from pipeline.media.probe import ffmpeg_exe

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
    import av  # PyAV is heavy (~0.7 s): only when a file is probed or decoded

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


#: swscale algorithm for the small detection frames. fast_bilinear (2-tap,
#: like PySceneDetect's cv2 INTER_LINEAR downscale) costs ~10 % less than
#: "area" here, with the same F1 on every bench file and the same content-score
#: margins on the pan/zoom/shake videos
DETECT_SCALER = "fast_bilinear"
KEYFRAME_SCALER = "area"
#: decoder threads (0: ffmpeg's choice, one per core plus one)
DECODE_THREADS = 0


class Frame(NamedTuple):
    """One sampled frame: ``det`` at detection size, ``kf`` at keyframe size or None."""

    # a field named like tuple.index, which it shadows on purpose: typeshed types NamedTuple fields against tuple's
    # methods, so mypy reads it as an override
    index: int  # type: ignore[assignment]  # frame number in the source (0-based, counts every decoded frame)
    time: float  # seconds from the first frame
    det: np.ndarray  # BGR, detection size
    kf: np.ndarray | None  # BGR, keyframe size, on every ``kf_every``-th sampled frame (None otherwise)


def _read_exact(fh, nbytes: int) -> bytearray | None:
    buf = bytearray(nbytes)
    view = memoryview(buf)
    got = 0
    while got < nbytes:
        r = fh.readinto(view[got:])
        if not r:
            return None
        got += r
    return buf


def read_frames_ffmpeg(path: Path, size: tuple[int, int], step: int = 1, *,
                       kf_size: tuple[int, int] | None = None, kf_every: int = 0,
                       fast_decode: bool = False) -> Iterator[Frame]:
    """Yield every ``step``-th frame at ``size``; with ``kf_size``, also every
    ``kf_every``-th of those at ``kf_size`` (from the same decode).

    ``fast_decode`` skips H.264/HEVC's in-loop deblocking filter: about a fifth
    less decoding work, at the price of slightly blockier pictures (PSNR ~38-45
    dB against a normal decode at 640 px). Harmless for detection at ~128 px.

    One ffmpeg process decodes once and scales in C; the detection frames come
    on stdout, the keyframe-size ones on a second pipe, read by a thread
    so neither output can stall the other.
    """
    w, h = size
    select = f"select='not(mod(n\\,{step}))'," if step > 1 else ""
    det_chain = f"scale={w}:{h}:flags={DETECT_SCALER},setsar=1,showinfo=checksum=0"
    want_kf = kf_size is not None and kf_every > 0
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "info"]
    if DECODE_THREADS:
        cmd += ["-threads", str(DECODE_THREADS)]
    if fast_decode:
        cmd += ["-skip_loop_filter", "all"]
    cmd += ["-i", str(path), "-an", "-sn", "-dn"]
    kf_r = kf_w = -1
    if want_kf:
        kw, kh = kf_size  # type: ignore[misc]
        kf_select = f"select='not(mod(n\\,{kf_every}))'," if kf_every > 1 else ""
        graph = (f"[0:v:0]{select}split=2[d][k];[d]{det_chain}[det];"
                 f"[k]{kf_select}scale={kw}:{kh}:flags={KEYFRAME_SCALER},setsar=1[kf]")
        kf_r, kf_w = os.pipe()
        cmd += ["-filter_complex", graph,
                "-map", "[det]", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1",
                "-map", "[kf]", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", f"pipe:{kf_w}"]
    else:
        cmd += ["-map", "0:v:0", "-vf", select + det_chain, "-fps_mode", "passthrough",
                "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                pass_fds=(kf_w,) if want_kf else ())
    except BaseException:
        if kf_r >= 0:
            os.close(kf_r)
        raise
    finally:
        if kf_w >= 0:
            os.close(kf_w)  # the child holds the write end now
    assert proc.stdout is not None and proc.stderr is not None
    times: deque[float] = deque()
    errors: deque[str] = deque(maxlen=20)
    cond = threading.Condition()
    done = [False]
    kf_frames: deque[np.ndarray] = deque()
    kf_done = [not want_kf]

    def read_stderr() -> None:
        # in large chunks: the pipe is unbuffered, and iterating its lines
        # would read it one byte at a time (a system call per byte)
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        rest = b""
        while True:
            chunk = os.read(fd, 1 << 16)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop() if chunk else b""
            found = []
            for line in lines:
                if b"showinfo" in line:
                    m = _PTS_RE.search(line)
                    if m:
                        found.append(float(m.group(3)))
                else:
                    text = line.decode(errors="replace").strip()
                    if text and not text.startswith(("Input #", "Output #", "Stream", "Metadata", "Duration", "Press")):
                        errors.append(text)
            if found:
                with cond:
                    times.extend(found)
                    cond.notify_all()
            if not chunk:
                break
        with cond:
            done[0] = True
            cond.notify_all()

    def read_kf() -> None:
        # bounded without a limit of its own: ffmpeg makes a keyframe-size
        # frame only as fast as the detection frames are consumed
        kw, kh = kf_size  # type: ignore[misc]
        with open(kf_r, "rb", buffering=0) as fh:
            while True:
                buf = _read_exact(fh, kw * kh * 3)
                with cond:
                    if buf is None:
                        kf_done[0] = True
                        cond.notify_all()
                        return
                    kf_frames.append(np.frombuffer(buf, np.uint8).reshape(kh, kw, 3))
                    cond.notify_all()

    threads = [threading.Thread(target=read_stderr, daemon=True)]
    if want_kf:
        threads.append(threading.Thread(target=read_kf, daemon=True))
    for th in threads:
        th.start()
    frame_bytes = w * h * 3
    # detection frames read ahead while waiting for a keyframe-size frame:
    # ffmpeg hands the second output over about one of its frames late
    # (kf_every detection frames), and stalls both outputs if stdout is not
    # drained meanwhile; bounded by that lag, a few small frames
    ahead: deque[bytearray] = deque()
    det_eof = False
    n = 0
    first_time: float | None = None
    try:
        assert proc.stdout is not None
        while True:
            buf = ahead.popleft() if ahead else (None if det_eof else _read_exact(proc.stdout, frame_bytes))
            if buf is None:
                break
            kf = None
            if want_kf and n % kf_every == 0:
                while True:
                    with cond:
                        if kf_frames or kf_done[0]:
                            kf = kf_frames.popleft() if kf_frames else None
                            break
                        if det_eof:
                            cond.wait(timeout=5.0)
                            continue
                    nxt = _read_exact(proc.stdout, frame_bytes)
                    if nxt is None:
                        det_eof = True
                    else:
                        ahead.append(nxt)
            with cond:
                while not times and not done[0]:
                    cond.wait(timeout=5.0)
                t = times.popleft() if times else (n * step) / 25.0
            if first_time is None:
                first_time = t if t > 0 else 0.0  # streams that start late: keep times from 0
            yield Frame(n * step, max(0.0, t - first_time), np.frombuffer(buf, np.uint8).reshape(h, w, 3), kf)
            n += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for th in threads:
            th.join(timeout=5.0)
    if proc.returncode != 0 and n == 0:
        msg = "; ".join(list(errors)[-3:]) or f"ffmpeg exit {proc.returncode}"
        raise MediaError(f"{Path(path).name}: no video frame could be decoded ({msg[:300]}); "
                         "the file is corrupt or not a video")
    if proc.returncode != 0 or any("rror" in e or "nvalid" in e for e in errors):
        log.warning("%s: decoding stopped early or with errors after %d frames: %s",
                    Path(path).name, n * step, "; ".join(list(errors)[-3:])[:300])


def read_frames_opencv(path: Path, size: tuple[int, int], step: int = 1, *,
                       kf_size: tuple[int, int] | None = None, kf_every: int = 0,
                       fast_decode: bool = False) -> Iterator[Frame]:
    """OpenCV backend: grab() every frame, retrieve() and resize only every ``step``-th.

    ``fast_decode`` is accepted for the common interface and ignored.
    """
    import cv2  # OpenCV is heavy (~1 s): only when frames are read

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"{Path(path).name}: OpenCV cannot open it as video; check that it is a complete video file")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    want_kf = kf_size is not None and kf_every > 0
    i = n = 0
    try:
        while cap.grab():
            if i % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    if t <= 0 and i > 0:
                        t = i / fps
                    kf = None
                    if want_kf and n % kf_every == 0:
                        kf = frame if (frame.shape[1], frame.shape[0]) == kf_size else \
                            cv2.resize(frame, kf_size, interpolation=cv2.INTER_AREA)
                    det = kf if kf is not None else frame
                    if (det.shape[1], det.shape[0]) != size:
                        det = cv2.resize(det, size, interpolation=cv2.INTER_AREA)
                    yield Frame(i, t, det, kf)
                    n += 1
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise MediaError(f"{Path(path).name}: no video frame could be decoded; the file is corrupt or not a video")


READERS = {"ffmpeg": read_frames_ffmpeg, "opencv": read_frames_opencv}
