"""Audio decoding: 16 kHz mono float32 PCM, what Whisper, the VAD and the audio profile read.

A video's audio is decoded ONCE per job into a raw PCM file (``decode_pcm``) that
every reader memory-maps (``open_pcm``): transcription, its translation pass and
the audio profile share it instead of each running ffmpeg over the original.
The file is float32 little-endian, so a 3-hour track is a 690 MB file on disk
but only the pages a reader touches are in memory.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.errors import MediaError, NoAudioError
from pipeline.media.probe import ffmpeg_exe, probe

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


# ffmpeg's own log level for audio decodes; its stderr is drained while it runs, whatever it says.
LOGLEVEL = "error"


class _Decode:
    """ffmpeg decoding a file's audio to 16 kHz mono f32le on a pipe.

    Its stderr is drained by a thread as it comes: a file with broken timestamps makes ffmpeg print a warning per
    packet, and a pipe nobody reads fills at 64 KB and stalls the decode for ever. The last 4 KB are kept for the
    error message.
    """

    def __init__(self, path: Path, start: float = 0.0, duration: float | None = None) -> None:
        import ffmpeg  # ffmpeg-python loads `future` (~0.1 s): only when a file is decoded

        in_kwargs = {"ss": start} if start else {}
        if duration is not None:
            in_kwargs["t"] = duration
        self.path = Path(path)
        self.proc = (
            ffmpeg.input(str(path), **in_kwargs)
            .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, vn=None)
            .global_args("-nostdin", "-hide_banner", "-loglevel", LOGLEVEL)
            .run_async(cmd=ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
        )
        self._tail = bytearray()
        self._returncode: int | None = None
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read(65536), b""):
            self._tail = (self._tail + chunk)[-4096:]

    def read(self, n: int) -> bytes:
        return self.proc.stdout.read(n)

    def finish(self) -> int:
        """Close the pipes and wait for ffmpeg (killed if it is still running); its exit status. Idempotent."""
        if self._returncode is not None:
            return self._returncode
        self.proc.stdout.close()
        if self.proc.poll() is None and self._drain.is_alive():
            try:
                self.proc.wait(timeout=30)
            except Exception:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._drain.join(timeout=5)
        self.proc.stderr.close()
        self._returncode = self.proc.returncode
        return self._returncode

    def error(self) -> str:
        return f"{self.path.name}: ffmpeg could not decode the audio: {self._tail.decode(errors='replace').strip()[-300:]}"


def load_audio(path: Path, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode audio as 16 kHz mono float32 in [-1, 1] (what Whisper expects)."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioError(f"{Path(path).name}: has no audio track to transcribe")
    dec = _Decode(path, start, duration)
    parts = []
    while buf := dec.read(1 << 20):
        parts.append(buf)
    if dec.finish() != 0:
        raise MediaError(dec.error())
    return np.frombuffer(b"".join(parts), np.float32).copy()


def iter_audio(path: Path, chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Stream 16 kHz mono float32 audio in fixed-size chunks: memory stays flat for long files."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioError(f"{Path(path).name}: has no audio track to transcribe")
    dec = _Decode(path)
    chunk_bytes = int(chunk_seconds * SAMPLE_RATE) * 4
    try:
        while buf := dec.read(chunk_bytes):
            yield np.frombuffer(buf, np.float32).copy()
    finally:
        if dec.finish() not in (0, None):
            log.warning("%s", dec.error())


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
    dec = _Decode(path)
    try:
        with open(tmp, "wb") as out:
            while buf := dec.read(1 << 20):
                out.write(buf)
        if dec.finish() != 0:
            raise MediaError(dec.error())
        os.replace(tmp, dest)
    finally:
        dec.finish()
        tmp.unlink(missing_ok=True)
    return dest


def release_pages(samples: np.ndarray) -> None:
    """Let a memory-mapped PCM's pages leave this process's resident set (they stay in the kernel's page cache).

    A page of a memory map that was read counts in the process's RSS until the map is closed or memory runs short:
    a reader going through a 3-hour track (690 MB) would hold all of it. Readers that go block by block call this
    after each block (``pcm_read``), so the resident audio is one block, whatever the length; a later read of the
    same samples finds them in the page cache. Nothing for an array that is not a memory map.

    Arguments:
        samples: the array or memory map (a view of one included) that was read.
    """
    mm = getattr(samples, "_mmap", None)
    if isinstance(mm, mmap.mmap) and hasattr(mm, "madvise"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # a closed map, or a platform without it: the pages simply stay
            pass


def pcm_read(samples: np.ndarray, a: int, b: int) -> np.ndarray:
    """``samples[a:b]`` as a float32 copy, the memory map's pages released after it (``release_pages``).

    Arguments:
        samples: 16 kHz mono float32 audio, an array or a memory map.
        a, b: the sample range.

    Returns:
        A new float32 array.
    """
    out = np.array(samples[a:b], np.float32)
    release_pages(samples)
    return out


def pcm_blocks(samples: np.ndarray, block: int) -> Iterator[np.ndarray]:
    """``samples`` as float32 copies of ``block`` samples (``pcm_read``): what a reader of a long track holds."""
    for a in range(0, len(samples), block):
        yield pcm_read(samples, a, a + block)


def open_pcm(path: Path) -> np.ndarray:
    """Memory-map a PCM file made by ``decode_pcm`` (read-only; an empty file gives an empty array)."""
    if Path(path).stat().st_size == 0:
        return np.zeros(0, np.float32)
    return np.memmap(path, dtype=np.float32, mode="r")
