"""A live HLS channel on loopback for the recorder's tests and bench (issue 25): ffmpeg publishes a clip in real time
(``-re``) as HLS with ``EXT-X-PROGRAM-DATE-TIME`` into a folder that a loopback HTTP server thread serves.

Stopping the publisher and starting another into the same folder is an outage and a return of the signal: the
playlist stops moving (no ``#EXT-X-ENDLIST``: a live channel that drops does not say so), then moves on.
"""

from __future__ import annotations

import functools
import http.server
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.media.probe import ffmpeg_exe

log = logging.getLogger(__name__)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):  # a reader that stopped (a killed recorder): not an error
            pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class LoopbackHls:
    """Serve ``folder`` on 127.0.0.1 (a free port); ``publish(clip)`` starts ffmpeg writing the live playlist.

    Use as a context manager; ``url`` is the playlist's address.
    """

    def __init__(self, folder: Path, hls_time: float = 2.0, list_size: int = 6):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hls_time, self.list_size = hls_time, list_size
        handler = functools.partial(_Quiet, directory=str(self.folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.published_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/live.m3u8"

    def __enter__(self) -> "LoopbackHls":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_publishing()
        self.httpd.shutdown()
        self.httpd.server_close()

    def publish(self, clip: Path, *, loop: bool = False, reencode: bool = True) -> float:
        """Start publishing ``clip`` in real time (after any earlier publisher stopped). Returns the wall-clock time
        ffmpeg was started (its first program date-time is a moment after)."""
        self.stop_publishing()
        self.runs += 1
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
        if loop:
            cmd += ["-stream_loop", "-1"]
        cmd += ["-i", str(clip)]
        if reencode:  # a keyframe every second, so every chunk starts on one and is hls_time long
            cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
                    "-r", "25", "-c:a", "aac", "-ar", "44100", "-b:a", "64k"]
        else:
            cmd += ["-c", "copy"]
        cmd += ["-f", "hls", "-hls_time", str(self.hls_time), "-hls_list_size", str(self.list_size),
                "-hls_flags", "program_date_time+delete_segments+omit_endlist",
                "-hls_segment_filename", str(self.folder / f"r{self.runs}-%05d.ts"), str(self.folder / "live.m3u8")]
        started = self.published_at = time.time()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return started

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the publisher to reach the clip's end."""
        if self.proc is not None:
            self.proc.wait(timeout)

    def stop_publishing(self) -> None:
        """The signal drops (the playlist stays as it was, without an end). ffmpeg is asked to stop (its last chunk
        is written, so the drop begins where the listed chunks end), and killed if it does not."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def last_end(self) -> float:
        """Where the listed chunks end on the stream clock (epoch seconds): after ``stop_publishing``, when the
        signal dropped."""
        import m3u8  # the playlist parser (a dependency of clipwatch record)

        last = m3u8.load(str(self.folder / "live.m3u8")).segments[-1]
        return float(last.current_program_date_time.timestamp()) + float(last.duration)

    def first_program_date_time(self, timeout: float = 20.0) -> float:
        """The program date-time of the current publisher's first chunk (epoch seconds), read from the playlist."""
        import m3u8  # the playlist parser (a dependency of clipwatch record)

        end = time.time() + timeout
        prefix = f"r{self.runs}-00000.ts"
        while time.time() < end:
            try:
                pl = m3u8.load(str(self.folder / "live.m3u8"))
                for s in pl.segments:
                    if s.uri == prefix and s.current_program_date_time is not None:
                        return float(s.current_program_date_time.timestamp())
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError("the publisher wrote no playlist with its first chunk")


def make_broadcast_clip(path: Path, duration: float, phrase: str | None = None, at: float = 0.0, *,
                        voice: str = "en-us", size: str = "160x120") -> Path:
    """A clip of ``duration`` seconds (moving test pictures) that says ``phrase`` (espeak-ng) starting exactly at
    ``at`` seconds, silent otherwise: what a channel airs, with a known moment for an air-time search."""
    import tempfile

    from pipeline.media.probe import run_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="broadcast-") as tmp:
        args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={duration}"]
        if phrase:
            wav = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), phrase], check=True,
                           capture_output=True)
            ms = int(round(at * 1000))
            args += ["-i", str(wav), "-filter_complex",
                     f"[1:a]aresample=16000,adelay={ms}:all=1,apad=whole_dur={duration}[a]", "-map", "0:v", "-map", "[a]"]
        else:
            args += ["-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={duration}", "-map", "0:v", "-map", "1:a"]
        run_ffmpeg(args + ["-t", str(duration), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
                           "-b:a", "48k", str(path)])
    return path
