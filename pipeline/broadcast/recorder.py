"""Record a live stream into consecutive segments, each closed on a keyframe and handed on with its air time.

Two ways in, chosen by what the URL is (``resolve``):

* **HLS** (``.m3u8``, and what yt-dlp resolves a live page to): the recorder reads the playlist itself (the ``m3u8``
  package), fetches each new chunk once and appends it to the open segment. HLS chunks begin on a keyframe, so a
  segment closed between two chunks is cut on one. Air time comes from ``EXT-X-PROGRAM-DATE-TIME`` when the
  playlist has it (``air_clock`` ``stream``), else from the receiver's clock (``receiver``). A chunk is new when it
  starts after what is recorded (by its program date-time, else its media sequence number), so a playlist that
  repeats old chunks, or a restart that finds them still listed, records nothing twice.
* **Anything else ffmpeg reads** (RTMP, RTSP, UDP, an HTTP MPEG-TS): ffmpeg's segment muxer cuts the stream on
  keyframes into MPEG-TS files; air time is the receiver's clock.

Time without signal is a gap: the recorder reconnects with backoff, and when the stream comes back (or the recording
stops without it) it reports one gap with its start, end and reason. The ledger (``ledger.py``) makes a restart
after a crash close and hand on the segment that was open, cut at its last whole chunk.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from pipeline.broadcast.ledger import Chunk, Ledger, LedgerState
from pipeline.errors import ClipwatchError, SourceError
from pipeline.media.probe import ffmpeg_exe, probe
from pipeline.sources.segment import SegmentFacts

log = logging.getLogger(__name__)

USER_AGENT = "clipwatch-record"
HTTP_TIMEOUT = 10.0


def iso_ms(epoch: float) -> str:
    """Seconds since the epoch as the catalogue writes air time: ISO 8601 UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """An air time (``…Z``) back to seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def channel_slug(url: str) -> str:
    """The default channel id: the stream host as a slug (``tv.example.org:8080`` -> ``tv-example-org-8080``)."""
    host = urlsplit(url).netloc.rsplit("@", 1)[-1] or "stream"
    return "".join(c if c.isalnum() else "-" for c in host.lower()).strip("-") or "stream"


@dataclass
class Gap:
    """Time without signal: a fact the archive keeps (the ``gap`` event)."""

    channel: str
    start: str
    end: str
    seconds: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "start": self.start, "end": self.end, "seconds": round(self.seconds, 3),
                "reason": self.reason}


@dataclass
class RecordOptions:
    """What to record and how.

    Arguments: url — the stream (or a page yt-dlp resolves to one); channel — its id in the archive; folder — the
    channel's recorder folder; segment_seconds — segment length; for_seconds — stop after this long (None: until
    stopped); no_signal_timeout — a stream that never starts is given up after this long.
    """

    url: str
    channel: str
    folder: Path
    segment_seconds: float = 600.0
    for_seconds: float | None = None
    no_signal_timeout: float = 120.0
    max_backoff: float = 30.0
    live_edge_seconds: float = 30.0  # a first start takes the playlist's last this-many seconds, not a long DVR window


@dataclass
class RecordSummary:
    stream_url: str = ""
    mode: str = ""                 # hls | ffmpeg
    clock: str = "receiver"
    segments: int = 0
    recovered: int = 0             # segments a crash had left open, closed at this start
    chunks: int = 0
    repeated: int = 0              # chunks the playlist listed again (not recorded twice)
    clock_jumps: int = 0           # chunks dated before what was recorded, though new: placed after it
    gaps: list[Gap] = field(default_factory=list)


class Recorder:
    """Records ``options.url`` until ``stop`` is set or ``for_seconds`` pass; calls ``on_segment(path, facts)`` for
    each closed segment (its sidecar written) and ``on_gap(gap)`` for each gap, from the recording thread."""

    def __init__(self, options: RecordOptions, on_segment: Callable[[Path, SegmentFacts], None],
                 on_gap: Callable[[Gap], None], stop: threading.Event | None = None):
        self.o = options
        self.on_segment = on_segment
        self.on_gap = on_gap
        self.stop = stop or threading.Event()
        self.ledger = Ledger(options.folder)
        self.st = LedgerState()
        self.summary = RecordSummary()
        self.recording = iso_ms(time.time())
        self.stream_url = options.url
        self._t0 = 0.0
        self._last_progress = 0.0
        self._lost: str | None = None

    # -- the run ---------------------------------------------------------------------------------------------------
    def run(self) -> RecordSummary:
        """Record; returns what was recorded. SourceError when nothing was ever received."""
        self.ledger.acquire()
        try:
            self.st = self.ledger.load()
            self._recover()
            self.stream_url, hls = resolve(self.o.url)
            self.summary.stream_url = self.stream_url
            self.summary.mode = "hls" if hls else "ffmpeg"
            self._t0 = self._last_progress = time.time()
            if hls:
                self._run_hls()
            else:
                self._run_ffmpeg()
            if self.summary.chunks == 0 and not self.summary.recovered:  # stopped before any signal: say so
                raise SourceError(f"{self.o.url}: no live stream data in {time.time() - self._t0:.0f} s "
                                  f"({self._lost or 'nothing new arrived'}); check that the URL is a live stream")
            return self.summary
        finally:
            self.ledger.release()

    def _done(self) -> bool:
        if self.stop.is_set():
            return True
        return self.o.for_seconds is not None and time.time() - self._t0 >= self.o.for_seconds

    def _wait(self, seconds: float) -> None:
        end = time.time() + seconds
        if self.o.for_seconds is not None:
            end = min(end, self._t0 + self.o.for_seconds)
        self.stop.wait(max(0.0, end - time.time()))

    def _never_started(self) -> None:
        if self.summary.chunks == 0 and self.summary.segments == 0 and time.time() - self._t0 >= self.o.no_signal_timeout:
            raise SourceError(f"{self.o.url}: no live stream data in {self.o.no_signal_timeout:.0f} s "
                              f"({self._lost or 'nothing new arrived'}); check that the URL is a live stream")

    # -- segments --------------------------------------------------------------------------------------------------
    def _append_chunk(self, key: str, air_start: float, duration: float, data: bytes, clock: str,
                      msn: int | None, discontinuity: bool, threshold: float) -> None:
        st = self.st
        if st.last_end is not None and air_start - st.last_end > threshold:
            self._close("gap")
            self._gap(st.last_end, air_start, self._lost or "no new stream data")
        elif discontinuity and st.open_chunks:
            self._close("discontinuity")
        if st.open_seq is None:
            st.open_seq, st.open_chunks = st.next_seq, []
            st.next_seq += 1
        path = self.ledger.open_file(st.open_seq)
        with open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            size = fh.tell()
        st.open_chunks.append(Chunk(key, air_start, duration, size))
        st.last_end, st.last_msn, st.clock = air_start + duration, msn, clock
        self.summary.clock = clock
        self.ledger.append({"t": "chunk", "seg": st.open_seq, "key": key, "air_start": air_start,
                            "duration": duration, "size": size, "msn": msn, "clock": clock})
        self.summary.chunks += 1
        self._last_progress = time.time()
        self._lost = None
        if sum(c.duration for c in st.open_chunks) >= self.o.segment_seconds - 1e-3:
            self._close("segment")

    def _close(self, why: str) -> None:
        """Close the open segment: cut at its last whole chunk, move to closed/, write its sidecar, hand it on."""
        st = self.st
        if st.open_seq is None:
            return
        seq, chunks = st.open_seq, st.open_chunks
        src, dest = self.ledger.open_file(seq), self.ledger.closed_file(seq)
        if not src.exists() and dest.exists():
            src = dest  # a crash between the move and the sidecar
        st.open_seq, st.open_chunks = None, []
        if not chunks or not src.exists():
            src.unlink(missing_ok=True)
            self.ledger.compact(st)
            return
        last = chunks[-1]
        if last.size > 0:
            with open(src, "r+b") as fh:
                fh.truncate(last.size)
        start, end = chunks[0].air_start, last.air_start + last.duration
        if last.duration < 0:  # ffmpeg's segments: their length is the file's
            try:
                end = start + probe(src).duration
            except ClipwatchError as exc:  # cut short beyond reading (a crash at its first bytes): a gap, not a file
                src.unlink(missing_ok=True)
                self.ledger.compact(st)
                self._gap(start, max(start, os.path.getmtime(self.ledger.path)), f"segment {seq} unreadable: {exc}")
                return
            st.last_end = end
        if src != dest:
            os.replace(src, dest)
        facts = SegmentFacts(channel=self.o.channel, stream_url=self.stream_url, seq=seq, air_start=iso_ms(start),
                             air_end=iso_ms(end), air_clock=st.clock, recording=self.recording, closed_by=why)
        facts.write(dest)
        self.ledger.compact(st)
        self.summary.segments += 1
        log.info("segment %d closed (%s): %s – %s", seq, why, facts.air_start, facts.air_end)
        self.on_segment(dest, facts)

    def _recover(self) -> None:
        """A segment a crash left open is closed now (cut at its last whole chunk) and handed on."""
        if self.st.open_seq is not None:
            log.warning("segment %d was open when the recorder stopped: closing it", self.st.open_seq)
            self._close("restart")
            self.summary.recovered += 1
        for stray in self.ledger.open_dir.glob("*.ts"):  # bytes no ledger line vouches for
            stray.unlink()

    def _gap(self, start: float, end: float, reason: str) -> None:
        gap = Gap(self.o.channel, iso_ms(start), iso_ms(end), end - start, reason)
        self.summary.gaps.append(gap)
        log.warning("gap on %s: %s – %s (%.1f s): %s", self.o.channel, gap.start, gap.end, gap.seconds, reason)
        self.on_gap(gap)

    def _finish(self, threshold: float) -> None:
        """Stopping: close the open segment. A signal lost for a while before the stop is a gap up to now (and the
        ledger then starts from now, so a later run does not count that time again)."""
        self._close("stop")
        now = time.time()
        silent = now - self._last_progress
        if self.st.last_end is not None and self.summary.chunks and silent > max(30.0, 3 * threshold) \
                and now > self.st.last_end:
            self._gap(self.st.last_end, now, (self._lost or "no new stream data") + " until the recording stopped")
            self.st.last_end = now
            self.ledger.compact(self.st)

    # -- HLS -------------------------------------------------------------------------------------------------------
    def _run_hls(self) -> None:
        import m3u8  # noqa: F401  (the playlist parser: imported where a playlist is read)

        backoff = 1.0
        threshold = 3.0
        while not self._done():
            try:
                pl = load_playlist(self.stream_url)
            except (OSError, ValueError) as exc:
                self._lost = f"playlist unreachable: {exc}"
                self._never_started()
                self._wait(backoff)
                backoff = min(backoff * 2, self.o.max_backoff)
                continue
            backoff = 1.0
            target = float(pl.target_duration or 2)
            threshold = max(2.0, target)
            self._take(pl, threshold)
            if self.summary.chunks == 0:
                self._never_started()
            self._wait(max(0.5, target / 2))
        self._finish(threshold)

    def _take(self, pl: Any, threshold: float) -> None:
        st = self.st
        segs = list(pl.segments)
        if not segs:
            self._lost = "the playlist lists no segments"
            return
        now = time.time()
        has_pdt = all(s.current_program_date_time is not None for s in segs)
        # receiver clock: the live edge is now, and each chunk ends where the next begins
        ends, t = [], now
        for s in reversed(segs):
            ends.append(t)
            t -= float(s.duration or 0)
        ends.reverse()
        first_msn = int(pl.media_sequence or 0)
        if not has_pdt and st.last_msn is not None and first_msn + len(segs) - 1 < st.last_msn:
            st.last_msn = None  # the sequence started again (a restarted encoder): back to the live edge
        fresh = st.last_end is None or (not has_pdt and st.last_msn is None)
        candidates = segs
        if fresh:
            kept, total = 0, 0.0
            for s in reversed(segs):
                total += float(s.duration or 0)
                if kept and total > self.o.live_edge_seconds:
                    break
                kept += 1
            candidates = segs[-kept:]
        for s in candidates:
            i = segs.index(s)
            msn = first_msn + i
            dur = float(s.duration or 0)
            if has_pdt:
                start = s.current_program_date_time.timestamp()
                if st.last_end is not None and start < st.last_end - min(0.5, dur / 2):
                    if st.last_msn is None or msn <= st.last_msn:
                        self.summary.repeated += 1
                        continue
                    # a new chunk (its sequence moved on) dated before what is recorded: the stream's clock jumped
                    # back. It follows on from the last chunk rather than being dropped or overlapping it.
                    log.warning("the stream's clock jumped back %.1f s at chunk %d: placed after the last chunk",
                                st.last_end - start, msn)
                    self.summary.clock_jumps += 1
                    start = st.last_end
                key, clock = iso_ms(start), "stream"
            else:
                if st.last_msn is not None and msn <= st.last_msn:
                    self.summary.repeated += 1
                    continue
                start = ends[i] - dur
                if st.last_end is not None and st.last_msn is not None and msn == st.last_msn + 1:
                    start = st.last_end  # continuous: the receiver's clock only places the first chunk
                key, clock = f"{msn}:{s.uri}", "receiver"
            try:
                data = http_get(s.absolute_uri)
            except OSError as exc:
                self._lost = f"chunk unreachable: {exc}"
                return  # fetched again on the next poll, if still listed
            self._append_chunk(key, start, dur, data, clock, msn, bool(s.discontinuity), threshold)
            if self._done():
                return

    # -- ffmpeg ----------------------------------------------------------------------------------------------------
    def _run_ffmpeg(self) -> None:
        backoff = 1.0
        threshold = 3.0
        csv = self.ledger.open_dir / "list.csv"
        while not self._done():
            csv.unlink(missing_ok=True)
            proc, listed = self._start_ffmpeg(), set[str]()
            seen_at: dict[str, float] = {}
            while not self._done():
                for p in sorted(self.ledger.open_dir.glob("*.ts")):
                    if p.name not in seen_at and p.stat().st_size > 0:
                        seen_at[p.name] = time.time()
                        self._ffmpeg_open(p, seen_at[p.name], threshold, first=len(seen_at) == 1)
                for name in _csv_names(csv) - listed:
                    listed.add(name)
                    if self.st.open_seq is not None and self.ledger.open_file(self.st.open_seq).name == name:
                        self._close("segment")
                        backoff = 1.0
                if proc.poll() is not None:
                    break
                self._wait(0.5)
            _stop(proc)
            self._close("gap" if not self._done() else "stop")
            csv.unlink(missing_ok=True)
            if self._done():
                break
            self._lost = f"ffmpeg stopped reading the stream (exit {proc.returncode})"
            self._never_started()
            self._wait(backoff)
            backoff = min(backoff * 2, self.o.max_backoff)
        self._finish(threshold)

    def _ffmpeg_open(self, path: Path, seen: float, threshold: float, first: bool) -> None:
        """ffmpeg began a segment file: make it the open segment. The first of an ffmpeg run starts when its first
        bytes came; each next one where the one before ended (ffmpeg reads ahead in bursts, so when a file appears
        says little of when its pictures aired)."""
        st = self.st
        seq = int(path.stem)
        if st.open_seq is not None and st.open_seq != seq:
            self._close("segment")  # ffmpeg opens a file only after closing the one before
        if not first and st.last_end is not None:
            seen = st.last_end
        elif st.last_end is not None and seen - st.last_end > threshold:
            self._gap(st.last_end, seen, self._lost or "no stream data")
        st.open_seq, st.open_chunks = seq, [Chunk(path.name, seen, -1.0, -1)]
        st.next_seq = max(st.next_seq, seq + 1)
        st.clock = self.summary.clock = "receiver"
        self.ledger.append({"t": "chunk", "seg": seq, "key": path.name, "air_start": seen, "duration": -1.0,
                            "size": -1, "msn": None, "clock": "receiver"})
        st.last_end = seen  # corrected to the file's end when it closes
        self.summary.chunks += 1
        self._last_progress = time.time()
        self._lost = None

    def _start_ffmpeg(self) -> subprocess.Popen[bytes]:
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
        url = self.stream_url
        if url.startswith(("http://", "https://")):
            cmd += ["-reconnect", "0", "-rw_timeout", str(int(HTTP_TIMEOUT * 1e6))]
        elif url.startswith("udp://") and "timeout=" not in url:  # a silent UDP source would block ffmpeg for ever
            url += ("&" if "?" in url else "?") + f"timeout={int(HTTP_TIMEOUT * 1e6)}"
        elif url.startswith(("rtsp://", "rtsps://")):
            cmd += ["-timeout", str(int(HTTP_TIMEOUT * 1e6))]
        cmd += ["-i", url, "-map", "0:v?", "-map", "0:a?", "-c", "copy", "-f", "segment",
                "-segment_time", str(self.o.segment_seconds), "-reset_timestamps", "1", "-segment_format", "mpegts",
                "-segment_list", str(self.ledger.open_dir / "list.csv"), "-segment_list_type", "csv",
                "-segment_start_number", str(self.st.next_seq), str(self.ledger.open_dir / "%08d.ts")]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=_die_with_parent)


def _csv_names(csv: Path) -> set[str]:
    try:
        return {line.split(",", 1)[0] for line in csv.read_text(encoding="utf-8").splitlines() if line}
    except OSError:
        return set()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # ffmpeg closes its open segment cleanly on SIGINT
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """ffmpeg dies with the recorder (a kill -9 of the recorder must not leave ffmpeg writing its segments)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# -- reading streams -------------------------------------------------------------------------------------------------

def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> bytes:
    """The body of ``url``; OSError (URLError, HTTPError, timeouts) when it cannot be had."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a URL the user gave to record
        return bytes(resp.read())


def load_playlist(url: str) -> Any:
    """The media playlist at ``url`` (a master playlist's highest-bandwidth variant); ValueError when the URL
    answers with something that is not an HLS playlist."""
    import m3u8  # the playlist parser: only where a playlist is read

    text = http_get(url).decode("utf-8", "replace")
    if not text.lstrip().startswith("#EXTM3U"):
        raise ValueError(f"{url} is not an HLS playlist (no #EXTM3U)")
    pl = m3u8.loads(text, uri=url)
    if pl.is_variant:
        best = max(pl.playlists, key=lambda p: p.stream_info.bandwidth or 0)
        return load_playlist(best.absolute_uri)
    return pl


def resolve(url: str) -> tuple[str, bool]:
    """What to read for ``url``: (stream URL, is HLS). A ``.m3u8`` (or a URL answering with a playlist) is read as
    HLS; rtmp/rtsp/udp/srt and MPEG-TS URLs go to ffmpeg; any other http(s) page is asked of yt-dlp's live
    extractors, and a page it cannot resolve is refused with a message."""
    scheme = urlsplit(url).scheme.lower()
    path = urlsplit(url).path.lower()
    if scheme in ("rtmp", "rtmps", "rtsp", "rtsps", "udp", "rtp", "srt", "tcp"):
        return url, False
    if scheme not in ("http", "https"):
        if Path(url).exists():
            return url, url.lower().endswith(".m3u8")
        raise SourceError(f"{url}: not a stream URL; give an http(s) HLS playlist (.m3u8), an MPEG-TS URL, "
                          "rtmp://, rtsp:// or udp://, or a page yt-dlp can record live")
    if path.endswith(".m3u8"):
        return url, True
    if path.endswith((".ts", ".mts", ".flv")):
        return url, False
    try:
        head = http_get(url)[:7]  # a playlist served without the suffix
        if head.startswith(b"#EXTM3U"):
            return url, True
    except OSError:
        pass
    return _resolve_with_ytdlp(url)


def _resolve_with_ytdlp(url: str) -> tuple[str, bool]:
    import yt_dlp  # heavy: only for a page that is not itself a stream

    opts = {"quiet": True, "no_warnings": True, "skip_download": True, "noplaylist": True, "format": "best"}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False)
    except Exception as exc:  # noqa: BLE001 - yt-dlp raises many kinds; each means "no stream here"
        raise SourceError(f"{url}: not a live stream clipwatch can record ({str(exc).splitlines()[0][:200]}); "
                          "give an HLS playlist (.m3u8), an MPEG-TS URL, rtmp://, rtsp:// or udp://") from None
    info = info or {}
    if not info.get("is_live"):
        raise SourceError(f"{url}: yt-dlp finds a video here, not a live stream; archive it with clipwatch ingest")
    stream = info.get("manifest_url") or info.get("url")
    if not stream:
        raise ClipwatchError(f"{url}: yt-dlp found the live stream but no URL to read it from")
    proto = str(info.get("protocol") or "")
    return stream, "m3u8" in proto or stream.split("?", 1)[0].endswith(".m3u8")
