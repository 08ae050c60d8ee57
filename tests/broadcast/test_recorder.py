"""The recorder alone (no stages), against playlists the tests write and a live loopback HLS channel (issue 25):
segments and their air time from EXT-X-PROGRAM-DATE-TIME, repeated playlist entries never recorded twice, a crash
mid-chunk cut back to the last whole chunk and closed at restart, one recorder per channel, a gap when the signal
drops, a clear error for a URL that is not a stream or a stream that never starts; status and gap summaries."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from pipeline.broadcast.ledger import Ledger, RecorderBusy
from pipeline.broadcast.recorder import Recorder, RecordOptions, channel_slug, iso_ms, parse_iso
from pipeline.broadcast.status import gap_summary, read_status, record_folder
from pipeline.errors import SourceError
from pipeline.sources.segment import SegmentFacts, sidecar_of

PDT0 = 1796600000.0  # 2026-12-06T… UTC: the stream clock of the first chunk


class Site:
    """A folder served on loopback; the test writes the playlist and the chunks itself."""

    def __init__(self, root: Path):
        self.root = root
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path / "site")
    s.root.mkdir()
    yield s
    s.close()


def write_playlist(site: Site, first: int, count: int, *, pdt: bool = True, dur: float = 2.0,
                   start: float = PDT0, name: str = "live.m3u8") -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(dur)}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for n in range(first, first + count):
        if pdt:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso_ms(start + (n - first) * dur).replace('Z', '+00:00')}")
        lines += [f"#EXTINF:{dur:.3f},", f"c{n}.ts"]
        (site.root / f"c{n}.ts").write_bytes(bytes([n % 256]) * 188 * 10)  # the recorder copies bytes as they are
    (site.root / name).write_text("\n".join(lines) + "\n")


def recorder(tmp_path, url, segs, gaps, **kw) -> Recorder:
    opts = RecordOptions(url=url, channel="tv", folder=tmp_path / "rec", **{"segment_seconds": 6, **kw})
    return Recorder(opts, lambda p, f: segs.append((p, f)), gaps.append)


def test_segments_carry_the_stream_clock_and_repeats_are_not_recorded_twice(tmp_path, site):
    write_playlist(site, 0, 6)  # 12 s of stream
    segs, gaps = [], []
    summary = recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=2.5).run()
    assert [f.seq for _, f in segs] == [0, 1] and not gaps
    assert [(f.air_start, f.air_end, f.air_clock) for _, f in segs] == [
        (iso_ms(PDT0), iso_ms(PDT0 + 6), "stream"), (iso_ms(PDT0 + 6), iso_ms(PDT0 + 12), "stream")]
    assert segs[0][0].read_bytes() == b"".join(bytes([n]) * 1880 for n in range(3))  # chunks 0-2, whole, in order
    assert sidecar_of(segs[0][0]).is_file() and SegmentFacts.read(segs[0][0]).closed_by == "segment"
    assert summary.repeated > 0  # the same playlist polled again: nothing new

    # the playlist moves on and still lists what was recorded: only the new chunks are taken
    write_playlist(site, 3, 6, start=PDT0 + 6)
    more: list = []
    recorder(tmp_path, site.url("live.m3u8"), more, gaps, for_seconds=1.5).run()
    assert [(f.seq, f.air_start, f.air_end, f.closed_by) for _, f in more] == [
        (2, iso_ms(PDT0 + 12), iso_ms(PDT0 + 18), "segment")]
    assert not gaps


def test_a_crash_mid_chunk_is_cut_back_and_closed_at_restart(tmp_path, site):
    write_playlist(site, 0, 2)  # 4 s: the 6 s segment stays open
    segs, gaps = [], []
    recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0).run()
    assert [f.closed_by for _, f in segs] == ["stop"]
    # as if killed: an open segment in the ledger, with bytes of a chunk whose line was never written
    led = Ledger(tmp_path / "rec")
    open_file = led.open_file(1)
    open_file.write_bytes(b"A" * 376 + b"partial")
    led.append({"t": "chunk", "seg": 1, "key": iso_ms(PDT0 + 4), "air_start": PDT0 + 4, "duration": 2.0,
                "size": 376, "msn": 2, "clock": "stream"})
    led.release()
    write_playlist(site, 2, 2, start=PDT0 + 4)  # the playlist still lists that chunk: it is not taken twice
    more: list = []
    summary = recorder(tmp_path, site.url("live.m3u8"), more, gaps, for_seconds=1.0).run()
    assert summary.recovered == 1
    closed = more[0]
    assert (closed[1].seq, closed[1].closed_by, closed[1].air_start, closed[1].air_end) == (
        1, "restart", iso_ms(PDT0 + 4), iso_ms(PDT0 + 6))
    assert closed[0].read_bytes() == b"A" * 376  # cut at the last whole chunk
    assert [(f.seq, f.air_start) for _, f in more[1:]] == [(2, iso_ms(PDT0 + 6))] and not gaps


def test_a_drop_is_one_gap_and_the_segment_closes_at_it(tmp_path, site):
    write_playlist(site, 0, 2)
    segs, gaps = [], []
    r = recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0)
    r.run()
    write_playlist(site, 0, 2, start=PDT0 + 4 + 30)  # a restarted encoder: sequence from 0, 30 s later
    r2 = recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0)
    r2.run()
    assert len(gaps) == 1 and gaps[0].seconds == pytest.approx(30.0) and gaps[0].start == iso_ms(PDT0 + 4)
    assert [f.closed_by for _, f in segs] == ["stop", "stop"]
    assert segs[1][1].air_start == gaps[0].end


def test_without_program_date_time_the_receiver_clock_is_used(tmp_path, site):
    write_playlist(site, 10, 3, pdt=False)
    segs, gaps = [], []
    recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0).run()
    (_, f), = segs
    assert f.air_clock == "receiver" and parse_iso(f.air_end) - parse_iso(f.air_start) == pytest.approx(6.0, abs=0.01)
    write_playlist(site, 10, 4, pdt=False)  # one more chunk by media sequence
    more: list = []
    recorder(tmp_path, site.url("live.m3u8"), more, gaps, for_seconds=1.0).run()
    assert [f.air_start for _, f in more] == [f.air_end]  # continuous: it follows on, nothing repeated


def test_one_recorder_per_channel(tmp_path):
    a, b = Ledger(tmp_path / "rec"), Ledger(tmp_path / "rec")
    a.acquire()
    try:
        with pytest.raises(RecorderBusy, match="another recorder"):
            b.acquire()
    finally:
        a.release()
    b.acquire()
    b.release()


def test_not_a_stream_and_a_stream_that_never_starts(tmp_path, site):
    (site.root / "page.m3u8").write_text("<html>hello</html>")
    with pytest.raises(SourceError, match="no live stream data"):
        recorder(tmp_path, site.url("page.m3u8"), [], [], for_seconds=30, no_signal_timeout=1.0).run()
    with pytest.raises(SourceError, match="no live stream data in 1 s"):  # stopped before any signal
        recorder(tmp_path, site.url("nothing.m3u8"), [], [], for_seconds=1.0).run()
    with pytest.raises(SourceError, match="not a stream URL"):
        recorder(tmp_path, "ftp://example.org/x", [], [], for_seconds=1).run()
    assert channel_slug("https://TV.example.org:8080/live.m3u8") == "tv-example-org-8080"


def test_status_and_gap_summary(tmp_path, store):
    folder = record_folder(tmp_path, "kctv")
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"channel": "kctv", "state": "recording", "pid": 999999999,
                                                    "backlog_seconds": 120.0, "url": "u"}))
    (row,) = read_status(tmp_path)
    assert row["state"] == "died" and row["running"] is False and row["waiting_on_disk"] == 0
    with pytest.raises(ValueError):
        record_folder(tmp_path, "../x")
    store.add_event("gap", detail={"channel": "kctv", "start": "a", "end": "b", "seconds": 10.5, "reason": "r"})
    store.add_event("gap", detail={"channel": "kctv", "start": "c", "end": "d", "seconds": 2.0, "reason": "r"})
    assert gap_summary(store) == {"count": 2, "seconds": 12.5, "channels": {"kctv": {"count": 2, "seconds": 12.5}}}


def test_an_mpegts_stream_through_ffmpeg_is_cut_into_segments(tmp_path):
    """UDP MPEG-TS (what ffmpeg's segment muxer records): keyframe-cut segments on the receiver's clock, then a gap
    when the sender stops and nothing more comes."""
    import socket
    import subprocess
    import time

    from pipeline.media.probe import ffmpeg_exe, probe

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"udp://127.0.0.1:{port}"
    segs, gaps = [], []
    r = recorder(tmp_path, url, segs, gaps, segment_seconds=3, for_seconds=14)
    sender = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                               "testsrc2=size=160x120:rate=25:duration=9", "-c:v", "libx264", "-preset", "ultrafast",
                               "-g", "25", "-f", "mpegts", f"{url}?pkt_size=1316"])
    t0 = time.time()
    try:
        summary = r.run()
    finally:
        sender.kill()
        sender.wait()
    assert summary.mode == "ffmpeg" and summary.clock == "receiver"
    assert len(segs) >= 2, segs
    for path, f in segs:
        assert f.air_clock == "receiver" and probe(path).duration > 0.5
        assert t0 - 1 <= parse_iso(f.air_start) <= parse_iso(f.air_end) <= time.time() + 1
    for (_, a), (_, b) in zip(segs, segs[1:]):
        assert a.air_end <= b.air_start


def test_a_clock_that_jumps_back_neither_drops_nor_overlaps(tmp_path, site):
    write_playlist(site, 0, 2)
    segs, gaps = [], []
    recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0).run()
    write_playlist(site, 2, 2, start=PDT0 - 3600)  # the next chunks, dated an hour earlier
    summary = recorder(tmp_path, site.url("live.m3u8"), segs, gaps, for_seconds=1.0).run()
    assert summary.clock_jumps == 2 and not gaps
    assert [(f.air_start, f.air_end) for _, f in segs] == [(iso_ms(PDT0), iso_ms(PDT0 + 4)),
                                                           (iso_ms(PDT0 + 4), iso_ms(PDT0 + 8))]
