"""`clipwatch record URL` (record a live channel, analysing each segment as it closes) and `clipwatch status` (what
each channel's recorder is doing: its backlog of air waiting for analysis). Issue 25."""

from __future__ import annotations

import signal
import threading
from typing import Optional

import typer

from pipeline.broadcast.recorder import channel_slug
from pipeline.broadcast.status import read_status, record_folder
from pipeline.cli.common import JsonFlag, console, disk_full_guard, err_console, prefect_settings, print_json, settings
from pipeline.errors import ClipwatchError

app = typer.Typer()


@app.command("record")
def record_cmd(
    url: str = typer.Argument(..., help="The live stream: an HLS playlist (.m3u8), an MPEG-TS URL, rtmp://, rtsp://, "
                                        "udp://, or a page with a live stream yt-dlp can read."),
    channel: Optional[str] = typer.Option(None, "--channel", help="The channel's id in the archive (default: the "
                                                                  "stream's host as a slug)."),
    segment: float = typer.Option(600.0, "--segment", min=1.0, help="Segment length in seconds (cut on a keyframe)."),
    for_seconds: Optional[float] = typer.Option(None, "--for", min=1.0,
                                                help="Stop after this many seconds (default: until stopped)."),
    shed_after: Optional[float] = typer.Option(None, "--shed-after", min=0.0,
                                               help="Seconds of air waiting for analysis past which OCR and semantic "
                                                    "vectors are shed (default: twice --segment, at least 300)."),
    as_json: JsonFlag = False,
) -> None:
    """Record a live stream into segments, each archived and analysed as soon as it closes, with its air time.

    Gaps in the signal are recorded as `gap` events; a recorder killed and started again closes and archives the
    segment it had open. Stop it with Ctrl-C (the segments already closed are still analysed)."""
    try:
        ch = channel or channel_slug(url)
        record_folder(settings().data_dir, ch)
    except ValueError:
        raise ClipwatchError(f"bad --channel {channel!r}: use letters, digits and dashes") from None
    s = prefect_settings()
    from flows.record import record  # imports Prefect: after prefect_settings configured it

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: leave the closed segments for the next start
        err_console.print("stopping: closing the open segment, then analysing what is closed", highlight=False)
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        err_console.print(f"recording {url} as {ch} ({segment:g} s segments"
                          f"{f', for {for_seconds:g} s' if for_seconds else ', until stopped'})", highlight=False)
        report = disk_full_guard(s, lambda: record(url, s, ch, segment_seconds=segment, for_seconds=for_seconds,
                                                   shed_after=shed_after, stop=stop))
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    out = report.to_dict()
    if as_json:
        print_json(out)
        return
    for d in out["segments"]:
        line = f"segment {d['seq']}: {d['air_start']} – {d['air_end']} {d['status']}"
        if d["video_id"]:
            line += f" {d['video_id']}"
        if d["shed"]:
            line += f" (shed: {', '.join(d['shed'])})"
        if d["error"]:
            line += f": {d['error']}"
        console.print(line, highlight=False)
    for g in out["gaps"]:
        console.print(f"gap: {g['start']} – {g['end']} ({g['seconds']:.1f} s): {g['reason']}", highlight=False)
    console.print(f"{ch}: {len(out['segments'])} segment(s) ({out['air_clock']} clock), {len(out['gaps'])} gap(s), "
                  f"{out['recovered']} recovered after a crash, most backlog {out['max_backlog_s'] / 60:.1f} min",
                  highlight=False)


@app.command("status")
def status_cmd(as_json: JsonFlag = False) -> None:
    """Live recorders: each channel's state and backlog (minutes of air waiting for analysis), shed stages, gaps."""
    rows = read_status(settings().data_dir)
    if as_json:
        print_json({"recorders": rows})
        return
    if not rows:
        console.print("No channel has been recorded here (clipwatch record URL).", highlight=False)
        return
    for r in rows:
        shed = f", shedding {', '.join(r['shed'])}" if r.get("shed") else ""
        console.print(f"{r['channel']}: {r['state']}, backlog {float(r.get('backlog_seconds') or 0) / 60:.1f} min of air"
                      f" ({r['waiting_on_disk']} segment(s) waiting){shed}; {r.get('segments_analysed', 0)} analysed, "
                      f"{r.get('gaps', 0)} gap(s); last air {r.get('last_air_end') or '—'}; {r.get('stream_url') or r['url']}",
                      highlight=False)
