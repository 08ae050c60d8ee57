"""ffmpeg location, media probing and completeness checks.

A fresh machine has no system ffmpeg and the imageio-ffmpeg wheel ships ffmpeg
without ffprobe, so probing uses PyAV and every ffmpeg call goes through
ffmpeg-python with the resolved binary passed as ``cmd=``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, cast

from pipeline.errors import ConfigError, MediaError

log = logging.getLogger(__name__)



@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """CLIPWATCH_FFMPEG, else the imageio-ffmpeg wheel's binary, else ffmpeg on PATH."""
    env = os.environ.get("CLIPWATCH_FFMPEG")
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"CLIPWATCH_FFMPEG={env} is not a file")
        return env
    try:
        import imageio_ffmpeg  # only when no system ffmpeg is found

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # the wheel is a dependency; this is a last resort
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise ConfigError("no ffmpeg found: reinstall clipwatch (imageio-ffmpeg) or set CLIPWATCH_FFMPEG")


def ffmpeg_version() -> str:
    """The version of clipwatch's ffmpeg (recorded beside what it made, e.g. Chromaprint fingerprints)."""
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ")[0] if out else "unknown"


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str
    duration: float  # seconds; 0.0 when the container does not say
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None


_ATTACHED_PIC = 1024  # AV_DISPOSITION_ATTACHED_PIC


def probe(path: Path) -> MediaInfo:
    """Read container and stream facts with PyAV; MediaError when not media."""
    import av  # PyAV is heavy (~0.7 s): only when a file is probed or decoded

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            # Cover art in an MP3 or M4A is a one-picture "video" stream marked attached_pic: not a video.
            vs = next((v for v in container.streams.video if not (int(v.disposition) & _ATTACHED_PIC)), None)
            aus = next(iter(container.streams.audio), None)
            duration = container.duration / 1_000_000 if container.duration else 0.0
            if not duration:
                for s in (vs, aus):
                    if s is not None and s.duration and s.time_base:
                        duration = max(duration, float(s.duration * s.time_base))
            if vs is None and aus is None:
                raise MediaError(f"{path.name}: no audio or video stream: not a media file")
            return MediaInfo(
                path=path,
                container=container.format.name,
                duration=round(duration, 3),
                has_video=vs is not None,
                has_audio=aus is not None,
                video_codec=vs.codec_context.name if vs is not None else None,
                audio_codec=aus.codec_context.name if aus is not None else None,
                width=vs.codec_context.width if vs is not None else None,
                height=vs.codec_context.height if vs is not None else None,
                fps=float(vs.average_rate) if vs is not None and vs.average_rate else None,
                audio_rate=aus.codec_context.sample_rate if aus is not None else None,
                audio_channels=aus.codec_context.channels if aus is not None else None,
            )
    except MediaError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{path.name}: cannot be decoded as media ({exc.__class__.__name__}: {exc})") from exc


def run_ffmpeg(args: list[str]) -> None:
    """Run the resolved ffmpeg with raw arguments (used by sample/test media builders)."""
    res = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise MediaError(f"ffmpeg failed: {res.stderr.strip()[:500]}")


def check_complete(path: Path, info: MediaInfo | None = None) -> None:
    """Decode a little from the start and from the end: MediaError if the file is cut short.

    A server can send a truncated file with a matching Content-Length, and an MP4
    whose index comes first still opens; only decoding near the end shows it.
    """
    import av  # PyAV is heavy (~0.7 s): only when a file is probed or decoded

    info = info or probe(path)
    if info.duration <= 0:
        return
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0] if info.has_video else container.streams.audio[0]
            for at in (0.0, max(0.0, info.duration - 1.0)):
                container.seek(int(at * 1_000_000), any_frame=False, backward=True)
                decoded = None
                # a video or an audio stream decodes to video or audio frames (never subtitles)
                for frame in cast("Iterator[av.VideoFrame | av.AudioFrame]", container.decode(stream)):
                    decoded = frame
                    if frame.time is not None and frame.time >= at:
                        break
                if decoded is None or (decoded.time is not None and decoded.time < at - 2.0):
                    raise MediaError(f"{Path(path).name}: truncated or corrupt (no decodable data near {at:.1f}s of {info.duration:.1f}s)")
    except MediaError:
        raise
    except av.error.FFmpegError as exc:
        raise MediaError(f"{Path(path).name}: truncated or corrupt ({exc})") from exc
