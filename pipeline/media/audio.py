"""Audio decoding: 16 kHz mono float32 PCM, what Whisper, the VAD and the audio profile read.

A video's audio is decoded ONCE per job into a raw PCM file (``decode_pcm``) that
every reader memory-maps (``open_pcm``): transcription, its translation pass and
the audio profile share it instead of each running ffmpeg over the original.
The file is float32 little-endian, so a 3-hour track is a 690 MB file on disk
but only the pages a reader touches are in memory.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.errors import MediaError, NoAudioError
from pipeline.media.probe import ffmpeg_exe, probe

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def _audio_process(path: Path, start: float = 0.0, duration: float | None = None):
    import ffmpeg

    in_kwargs = {"ss": start} if start else {}
    if duration is not None:
        in_kwargs["t"] = duration
    return (
        ffmpeg.input(str(path), **in_kwargs)
        .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, vn=None)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .run_async(cmd=ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
    )


def load_audio(path: Path, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode audio as 16 kHz mono float32 in [-1, 1] (what Whisper expects)."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioError(f"{Path(path).name}: has no audio track to transcribe")
    proc = _audio_process(path, start, duration)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise MediaError(f"{Path(path).name}: ffmpeg could not decode the audio: {err.decode(errors='replace').strip()[:300]}")
    return np.frombuffer(out, np.float32).copy()


def iter_audio(path: Path, chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Stream 16 kHz mono float32 audio in fixed-size chunks: memory stays flat for long files."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioError(f"{Path(path).name}: has no audio track to transcribe")
    proc = _audio_process(path)
    chunk_bytes = int(chunk_seconds * SAMPLE_RATE) * 4
    try:
        while True:
            buf = proc.stdout.read(chunk_bytes)
            if not buf:
                break
            yield np.frombuffer(buf, np.float32).copy()
    finally:
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait()
        if proc.returncode not in (0, None) and err:
            log.warning("ffmpeg audio stream for %s ended with: %s", path, err.decode(errors="replace")[:300])



def decode_pcm(path: Path, dest: Path) -> Path:
    """Decode the audio of ``path`` once into ``dest`` (raw f32le, 16 kHz mono), streamed, written atomically.

    Raises NoAudioError when the file has no audio track, MediaError when ffmpeg cannot decode it.
    """
    info = probe(path)
    if not info.has_audio:
        raise NoAudioError(f"{Path(path).name}: has no audio track")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    proc = _audio_process(path)
    try:
        with open(tmp, "wb") as out:
            while True:
                buf = proc.stdout.read(1 << 20)
                if not buf:
                    break
                out.write(buf)
        err = proc.stderr.read()
        proc.wait()
        if proc.returncode != 0:
            raise MediaError(f"{Path(path).name}: ffmpeg could not decode the audio: "
                             f"{err.decode(errors='replace').strip()[:300]}")
        os.replace(tmp, dest)
    finally:
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
    return dest


def open_pcm(path: Path) -> np.ndarray:
    """Memory-map a PCM file made by ``decode_pcm`` (read-only; an empty file gives an empty array)."""
    if Path(path).stat().st_size == 0:
        return np.zeros(0, np.float32)
    return np.memmap(path, dtype=np.float32, mode="r")
