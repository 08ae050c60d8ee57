"""Build test videos offline with ffmpeg's lavfi sources.

Every builder writes one file and returns its path (plus, where useful, the
ground truth it encoded). Cut and fade times are given in seconds and are
snapped to the frame grid, so a cut at ``t`` means "the first frame of the new
shot is frame ``round(t * fps)``".

Shared by the keyframe, matching and benchmark code; other tests may reuse them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from pipeline.media.probe import run_ffmpeg

Size = tuple[int, int]

# Textured, mostly static lavfi sources (slow renderers draw one frame, then loop it): distinct enough for a perceptual hash
# and for a content detector, stable within a shot. ``{s}``/``{r}``/``{d}`` are
# size, rate and duration; ``{a}``..``{c}`` are per-shot random parameters.
TEXTURED_SOURCES: list[str] = [
    "testsrc=s={s}:r={r}:d={d},hue=h={a360}",
    "smptebars=s={s}:r={r}:d={d}",
    "mandelbrot=s={s}:r={r}:start_x={mx}:start_y={my}:start_scale={ms}:end_scale={ms},trim=end_frame=1,loop=loop=-1:size=1",
    "rgbtestsrc=s={s}:r={r}:d={d},rotate=PI/2*{b4}",
    # Not ffmpeg's gradients source: it picks random colours even with a seed, so its pictures
    # (and their hashes) changed from run to run and made tests flaky.
    "mandelbrot=s={s}:r={r}:start_x={mx}:start_y={my}:start_scale={ms}:end_scale={ms}:inner=period,trim=end_frame=1,loop=loop=-1:size=1,hue=h={a360}",
    "testsrc=s={s}:r={r}:d={d},negate,vflip",
    "pal100bars=s={s}:r={r}:d={d},hflip,hue=h={a360}",
    "yuvtestsrc=s={s}:r={r}:d={d},transpose=2,scale={s},hue=h={a360}",
    "smptehdbars=s={s}:r={r}:d={d},transpose=1,scale={s}",
    "mandelbrot=s={s}:r={r}:start_x={mx}:start_y={my}:start_scale={ms}:end_scale={ms}:outer=normalized_iteration_count,trim=end_frame=1,loop=loop=-1:size=1",
    "testsrc2=s={s}:r={r}:d={d},hue=h={a360},vflip",
    "allrgb=r=1,scale={s},trim=end_frame=1,loop=loop=-1:size=1,setsar=1,fps={r},hue=h={a360}",
]

COLOUR_CARDS: list[str] = ["red", "blue", "green", "yellow", "magenta", "cyan", "white", "orange", "purple", "gray"]


def _fmt_size(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def _segment_source(index: int, size: Size, fps: float, duration: float, pattern: str, seed: int) -> str:
    """A lavfi graph for one shot, trimmed to ``duration`` seconds."""
    rng = random.Random(seed * 1000 + index)
    s, r, d = _fmt_size(size), f"{fps:g}", f"{duration:.6f}"
    if pattern == "colour":
        src = f"color=c={COLOUR_CARDS[(index + seed) % len(COLOUR_CARDS)]}:s={s}:r={r}:d={d}"
    elif pattern == "textured":
        tpl = TEXTURED_SOURCES[(index + seed) % len(TEXTURED_SOURCES)]
        # mandelbrot points on the set's boundary, so the picture is textured
        points = [(-0.743643887, 0.131825904, 0.01), (-0.16, 1.0405, 0.05), (-1.25066, 0.02012, 0.02),
                  (-0.748, 0.1, 0.03), (0.285, 0.01, 0.05), (-0.1011, 0.9563, 0.03), (-1.768, 0.0015, 0.02)]
        mx, my, ms = points[rng.randrange(len(points))]
        src = tpl.format(s=s, r=r, d=d, a360=rng.randrange(360), b4=rng.randrange(1, 4), b2=rng.randrange(2),
                         seed=rng.randrange(1, 1 << 30), mx=mx, my=my, ms=ms * rng.uniform(0.7, 1.4))
    elif pattern == "gradients":
        kind = ["linear", "radial", "circular", "spiral", "square"][rng.randrange(5)]
        src = f"gradients=s={s}:r={r}:d={d}:seed={rng.randrange(1, 1 << 30)}:n={rng.randrange(2, 8)}:type={kind}:speed=0.001"
    else:
        raise ValueError(f"unknown pattern {pattern!r}: use 'textured', 'gradients' or 'colour'")
    return f"{src},format=yuv420p,setsar=1,trim=duration={d},setpts=PTS-STARTPTS"


def _snap(times: Sequence[float], fps: float) -> list[float]:
    return [round(t * fps) / fps for t in times]


def _encode(path: Path, graph: str, duration: float, fps: float, *, with_audio: bool, codec: str,
            crf: int = 20, gop: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-filter_complex", graph + "[v]"]
    if with_audio:
        args += ["-f", "lavfi", "-t", f"{duration:.3f}", "-i", "sine=frequency=440:sample_rate=16000"]
    args += ["-map", "[v]"]
    if with_audio:
        args += ["-map", "0:a", "-c:a", "aac", "-b:a", "48k"]
    args += ["-c:v", codec, "-pix_fmt", "yuv420p", "-r", f"{fps:g}"]
    if codec in ("libx264", "libx265"):
        args += ["-preset", "ultrafast", "-crf", str(crf)]
    elif codec == "mpeg4":
        args += ["-q:v", "3"]
    if gop:
        args += ["-g", str(gop)]
    args += ["-t", f"{duration:.6f}", str(path)]
    run_ffmpeg(args)
    return path


def make_cut_video(path: Path, cut_times: Sequence[float], size: Size = (320, 240), fps: float = 25, *,
                   duration: float | None = None, with_audio: bool = False, codec: str = "libx264",
                   pattern: str = "textured", seed: int = 0, crf: int = 20) -> Path:
    """A video of shots separated by hard cuts at ``cut_times`` (seconds).

    ``pattern='textured'`` uses distinct lavfi test pictures per shot (usable for
    perceptual hashing); ``'gradients'`` random colour gradients (a family
    unrelated to 'textured': use it for "must not match" videos); ``'colour'``
    flat colour cards. ``seed`` varies the pictures.
    """
    cuts = _snap(sorted(cut_times), fps)
    total = duration if duration is not None else (cuts[-1] + 2.0 if cuts else 4.0)
    bounds = [0.0, *[c for c in cuts if 0 < c < total], total]
    graphs: list[str] = []
    labels: list[str] = []
    for i in range(len(bounds) - 1):
        seg = bounds[i + 1] - bounds[i]
        graphs.append(f"{_segment_source(i, size, fps, seg, pattern, seed)}[s{i}]")
        labels.append(f"[s{i}]")
    graph = ";".join(graphs) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0"
    return _encode(path, graph, total, fps, with_audio=with_audio, codec=codec, crf=crf)


def make_speech_video(path: Path, text: str, *, voice: str = "en-us", wpm: int = 160, size: Size = (160, 120),
                      fps: float = 10, seed: int = 0) -> Path:
    """A short clip that says ``text`` (espeak-ng, Debian's ``espeak-ng``) over textured shots with a cut halfway.

    For flow tests whose truth is the words said: small and quick to build, long enough for Whisper.
    """
    import subprocess
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True, capture_output=True)
        import wave

        with wave.open(str(wav)) as w:
            seconds = w.getnframes() / w.getframerate() + 0.5
        pictures = make_cut_video(Path(tmp) / "pictures.mp4", [seconds / 2], size, fps, duration=seconds, seed=seed)
        run_ffmpeg(["-i", str(pictures), "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-b:a", "48k", "-ar", "16000", "-shortest", str(path)])
    return path


# Six short news lines, each with a word no other says (what a search for it must find): the scale-out tests and
# bench/pools.py fan these out to workers.
NEWS_LINES: dict[str, str] = {
    "harvest": "The harvest in the northern province was excellent this autumn.",
    "railway": "A new railway bridge opened across the river on Tuesday.",
    "factory": "The steel factory finished its yearly plan early.",
    "weather": "Heavy snow is expected in the mountains tomorrow morning.",
    "fishing": "The fishing fleet returned to port with a record catch.",
    "library": "The national library received ten thousand new books.",
}


def make_news_clips(folder: Path, count: int = len(NEWS_LINES)) -> list[dict]:
    """``count`` speech clips of the NEWS_LINES (past six: the lines again over other pictures), ready for
    ``loopback.publish_feed`` (name, path, title, description)."""
    lines = list(NEWS_LINES.items())
    out = []
    for i in range(count):
        name, text = lines[i % len(lines)]
        name += f"-{i}" if i >= len(lines) else ""
        out.append({"name": name, "path": make_speech_video(Path(folder) / f"{name}.mp4", text, seed=i),
                    "title": f"Clip {name}", "description": text})
    return out


def make_fade_video(path: Path, shot_durations: Sequence[float], size: Size = (320, 240), fps: float = 25, *,
                    fade: float = 0.6, black: float = 0.4, with_audio: bool = False, codec: str = "libx264",
                    pattern: str = "textured", seed: int = 0) -> tuple[Path, list[float]]:
    """Shots joined by fade-out, ``black`` seconds of black, fade-in.

    Returns the path and the ground-truth transition times: the middle of each
    black gap (where PySceneDetect's ThresholdDetector also puts the cut).
    """
    graphs: list[str] = []
    labels: list[str] = []
    mids: list[float] = []
    t = 0.0
    n = len(shot_durations)
    for i, dur in enumerate(shot_durations):
        src = _segment_source(i, size, fps, dur, pattern, seed)
        if i > 0:
            src += f",fade=t=in:st=0:d={fade}"
        if i < n - 1:
            src += f",fade=t=out:st={dur - fade:.6f}:d={fade}"
        graphs.append(f"{src}[s{len(labels)}]")
        labels.append(f"[s{len(labels)}]")
        t += dur
        if i < n - 1:
            graphs.append(f"color=c=black:s={_fmt_size(size)}:r={fps:g}:d={black:.6f},format=yuv420p,setsar=1[s{len(labels)}]")
            labels.append(f"[s{len(labels)}]")
            mids.append(t + black / 2)
            t += black
    graph = ";".join(graphs) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0"
    return _encode(path, graph, t, fps, with_audio=with_audio, codec=codec), mids


def make_motion_video(path: Path, duration: float = 8.0, size: Size = (320, 240), fps: float = 25, *,
                      kind: str = "pan", speed: float = 1.0, codec: str = "libx264") -> Path:
    """One continuous shot with camera motion (no cut): a detector must stay quiet.

    ``kind='pan'`` scrolls a window over a large testsrc2 picture, ``'zoom'``
    zooms into it, ``'shake'`` jitters it (handheld camera).
    """
    w, h = size
    W, H = w * 3, h * 3
    d = f"{duration:.3f}"
    src = f"testsrc2=s={W}x{H}:r={fps:g}:d={d}"
    if kind == "still":
        vf = f"crop=w={w}:h={h}:x={w}:y={h}"
    elif kind == "pan":
        vx, vy = w * 0.25 * speed, h * 0.12 * speed
        # smooth back-and-forth (no wrap-around jump, which would be a real cut)
        vf = (f"crop=w={w}:h={h}:x='{(W - w) / 2:.1f}*(1-cos(t*{2 * vx / (W - w):.5f}))'"
              f":y='{(H - h) / 2:.1f}*(1-cos(t*{2 * vy / (H - h):.5f}))'")
    elif kind == "zoom":
        vf = (f"zoompan=z='1+{0.12 * speed / fps:.6f}*on':d=1:s={w}x{h}:fps={fps:g}"
              f":x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'")
    elif kind == "shake":
        vf = f"crop=w={w}:h={h}:x='{w}+{12 * speed:.1f}*sin(t*9)':y='{h}+{8 * speed:.1f}*cos(t*7)'"
    else:
        raise ValueError(f"unknown motion kind {kind!r}")
    graph = f"{src},{vf},format=yuv420p,setsar=1"
    return _encode(path, graph, duration, fps, with_audio=False, codec=codec)


def transform_video(src: Path, dst: Path, vf: str | None = None, *, start: float | None = None,
                    duration: float | None = None, crf: int = 23, codec: str = "libx264",
                    video_bitrate: str | None = None, af: str | None = None, audio_bitrate: str | None = None,
                    preset: str = "ultrafast") -> Path:
    """Re-encode ``src`` through an ffmpeg filter chain (a re-upload's changes).

    The sound is dropped unless ``audio_bitrate`` is given (then AAC at that rate, through ``af`` if set).
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    if start is not None:
        args += ["-ss", f"{start:.3f}"]
    args += ["-i", str(src)]
    if duration is not None:
        args += ["-t", f"{duration:.3f}"]
    if vf:
        args += ["-vf", vf]
    if af and audio_bitrate:
        args += ["-af", af]
    args += ["-c:a", "aac", "-b:a", audio_bitrate] if audio_bitrate else ["-an"]
    args += ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if video_bitrate:
        args += ["-b:v", video_bitrate]
    elif codec in ("libx264", "libx265"):
        args += ["-crf", str(crf)]
    if codec in ("libx264", "libx265"):
        args += ["-preset", preset]
    args.append(str(dst))
    run_ffmpeg(args)
    return dst


# Named re-upload transforms: name -> keyword arguments for transform_video.
def reencode_small(src: Path, dst: Path, width: int = 240, bitrate: str = "150k") -> Path:
    return transform_video(src, dst, f"scale={width}:-2", video_bitrate=bitrate)


def add_logo(src: Path, dst: Path, caption: bool = False) -> Path:
    """A broadcaster's bug (opaque box, 14 % x 11 %) in the top-right corner; optionally a caption bar."""
    vf = "drawbox=x=iw*0.82:y=ih*0.04:w=iw*0.14:h=ih*0.11:color=white@0.9:t=fill"
    if caption:
        vf += ",drawbox=x=0:y=ih*0.88:w=iw:h=ih*0.08:color=black@0.6:t=fill"
    return transform_video(src, dst, vf)


def add_border(src: Path, dst: Path, frac: float = 0.12) -> Path:
    """Letterbox/pillarbox: pad with black bars on every side."""
    return transform_video(src, dst, f"pad=w=iw*(1+{frac}):h=ih*(1+{frac}):x=(ow-iw)/2:y=(oh-ih)/2:color=black,scale=trunc(iw/2)*2:trunc(ih/2)*2")


def crop_frac(src: Path, dst: Path, frac: float = 0.10) -> Path:
    """Crop ``frac`` of width and height (split between both sides), scaled back up."""
    keep = 1 - frac
    return transform_video(src, dst, f"crop=iw*{keep}:ih*{keep},scale=trunc(iw/{keep}/2)*2:trunc(ih/{keep}/2)*2")


def mirror(src: Path, dst: Path) -> Path:
    return transform_video(src, dst, "hflip")


def excerpt(src: Path, dst: Path, start: float, duration: float) -> Path:
    return transform_video(src, dst, None, start=start, duration=duration)


def write_garbage(path: Path, size: int = 50_000, seed: int = 0) -> Path:
    """Random bytes with a video extension: not media at all."""
    path = Path(path)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def truncate_copy(src: Path, dst: Path, keep: float = 0.3, *, drop_header: bool = True) -> Path:
    """A corrupt copy: the head (the MP4 ``moov``/``ftyp``) removed or the tail cut off."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    if drop_header:
        dst.write_bytes(data[len(data) // 2:])
    else:
        dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def write_wav(path: Path, samples, rate: int = 16_000) -> Path:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file (parents made); returns the path."""
    import wave

    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path
