"""A channel's broadcast day: finding its programmes over the recorded segments, and the day as a guide.

``find_day`` reads the day's recorded segments (``stream_segments``, written by ``clipwatch record``), runs
:func:`pipeline.programmes.boundaries.detect` over their originals with the channel's marked idents, titles each
programme from the first minute's stored readings, and replaces that day's programmes in the catalogue.
``read_day`` gives what the CLI and the day view show: programmes, segments and ``gap`` events, each with its offset
in the day.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import ClipwatchError, NotFoundError
from pipeline.programmes.boundaries import VERSION, Recording, detect, iso, parse_air
from pipeline.programmes.idents import Ident
from pipeline.programmes.titles import COMMON_SHARE, title_from_lines, title_lines
from pipeline.storage.base import BlobStore, Catalogue

log = logging.getLogger(__name__)

DAY = re.compile(r"\d{4}-\d\d-\d\d")
CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class DayError(ClipwatchError):
    """A date or channel that names no broadcast day."""


@dataclass(frozen=True)
class DaySpan:
    """One UTC day: its date and its [start, end) as air-time strings and epoch seconds."""

    day: date
    start: str
    end: str
    start_s: float
    end_s: float


def day_span(text: str) -> DaySpan:
    """The UTC day ``YYYY-MM-DD`` names; DayError saying the form when it names none.

    Arguments:
        text: a date as ``2026-12-06``.
    Returns:
        the :class:`DaySpan`.
    """
    if not DAY.fullmatch(text or ""):
        raise DayError(f"{text!r} is not a date: give it as YYYY-MM-DD (e.g. 2026-12-06)")
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise DayError(f"{text!r} is not a date of the calendar: give it as YYYY-MM-DD (e.g. 2026-12-06)") from None
    t0 = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    t1 = t0 + timedelta(days=1)
    return DaySpan(d, iso(t0.timestamp()), iso(t1.timestamp()), t0.timestamp(), t1.timestamp())


def check_channel(channel: str) -> str:
    """The channel id as given, or DayError when it cannot be one (letters, digits, ``.``, ``_``, ``-``)."""
    if not CHANNEL.fullmatch(channel or ""):
        raise DayError(f"{channel!r} is not a channel id: use the id given to `clipwatch record --channel` "
                       "(letters, digits, '.', '_', '-')")
    return channel


def load_idents(cat: Catalogue, channel: str) -> list[Ident]:
    """The channel's marked idents as :class:`Ident` s."""
    return [Ident(r["name"], r["channel"], bytes(r["fingerprint"]), float(r["duration"]), int(r["id"]))
            for r in cat.idents(channel)]


def _segments(cat: Catalogue, channel: str, span: DaySpan) -> list[dict[str, Any]]:
    out = []
    for r in cat.stream_segments(channel, span.start, span.end):
        if not r["air_start"]:
            continue
        s = parse_air(r["air_start"]).timestamp()
        e = parse_air(r["air_end"]).timestamp() if r["air_end"] else None
        out.append(dict(r, air_start_s=s, air_end_s=e))
    return out


def gaps(cat: Catalogue, channel: str, span: DaySpan) -> list[dict[str, Any]]:
    """The channel's ``gap`` events (time without signal) that overlap the day, in air order."""
    out = []
    for ev in cat.events_of_kind("gap"):
        d = ev["detail"]
        d = json.loads(d) if isinstance(d, str) else dict(d or {})
        if d.get("channel") != channel or not d.get("start") or not d.get("end"):
            continue
        try:
            s, e = parse_air(d["start"]).timestamp(), parse_air(d["end"]).timestamp()
        except ValueError:
            continue
        if e > span.start_s and s < span.end_s:
            out.append({"start": d["start"], "end": d["end"], "seconds": d.get("seconds", round(e - s, 3)),
                        "reason": d.get("reason"), "start_s": s, "end_s": e})
    return sorted(out, key=lambda g: g["start_s"])


def find_day(cat: Catalogue, store: BlobStore, channel: str, day: str,
             progress: Callable[[Recording], None] | None = None) -> list[dict[str, Any]]:
    """Detect the programmes of ``channel`` on ``day`` and store them in place of that day's earlier ones.

    Arguments:
        cat: the catalogue (segments, idents, readings; programmes are written to it).
        store: the blob store holding the segments' originals.
        channel: the channel id.
        day: ``YYYY-MM-DD`` (UTC).
        progress: called after each segment is read.
    Returns:
        the stored programmes (as ``Catalogue.programmes`` gives them).
    """
    check_channel(channel)
    span = day_span(day)
    segments = _segments(cat, channel, span)
    if not segments:
        raise NotFoundError(f"no recorded segments of channel {channel!r} on {day}: record it first "
                            f"(clipwatch record URL --channel {channel}), or check the channel id and date")
    recordings = []
    for seg in segments:
        media = cat.video_media(seg["video_id"])
        if media is None:
            log.warning("segment %s has no original in the catalogue: left out", seg["video_id"])
            continue
        path = Path(store.abspath(media["path"]))
        dur = seg["air_end_s"] - seg["air_start_s"] if seg["air_end_s"] else None
        recordings.append(Recording(path, datetime.fromtimestamp(seg["air_start_s"], timezone.utc),
                                    seg["video_id"], dur))
    _, found = detect(recordings, load_idents(cat, channel), progress)
    rows: list[dict[str, Any]] = []
    titled = []
    for p in found:
        screen = title_lines(cat.segments, segments, p.start, p.end, "screen")
        speech = title_lines(cat.segments, segments, p.start, p.end, "original")
        titled.append((p, screen, speech))
    # a reading at the start of most programmes is the channel's own (its name, a clock), not a title
    counts: dict[str, int] = {}
    for _, screen, _ in titled:
        for t in {" ".join(x.split()).lower() for _, x in screen}:
            counts[t] = counts.get(t, 0) + 1
    common = {t for t, n in counts.items() if len(titled) > 2 and n > COMMON_SHARE * len(titled)}
    for p, screen, speech in titled:
        title, source = title_from_lines(screen, speech, common)
        rows.append({"air_start": p.air_start, "air_end": p.air_end, "title": title, "title_source": source,
                     "evidence": p.evidence, "video_ids": p.video_ids})
    cat.replace_programmes(channel, span.start, span.end, [r for r in rows if span.start <= str(r["air_start"]) < span.end])
    return cat.programmes(channel, span.start, span.end)


def read_day(cat: Catalogue, channel: str, day: str) -> dict[str, Any]:
    """A channel's day as the guide shows it: programmes, segments and gaps, each with its offset in the day.

    Arguments:
        cat: the catalogue.
        channel: the channel id.
        day: ``YYYY-MM-DD`` (UTC).
    Returns:
        ``{"channel", "date", "start", "end", "programmes", "segments", "gaps"}``; every item carries ``offset`` and
        ``seconds`` (where it sits in the day's 86,400 s, clipped to the day) beside its air times.
    """
    check_channel(channel)
    span = day_span(day)

    def place(s: float, e: float) -> dict[str, float]:
        a, b = max(s, span.start_s), min(e, span.end_s)
        return {"offset": round(a - span.start_s, 3), "seconds": round(max(0.0, b - a), 3)}

    programmes = []
    for p in cat.programmes(channel, span.start, span.end):
        s, e = parse_air(p["air_start"]).timestamp(), parse_air(p["air_end"]).timestamp()
        programmes.append({**p, **place(s, e)})
    segments = []
    for seg in _segments(cat, channel, span):
        e = seg["air_end_s"] if seg["air_end_s"] is not None else seg["air_start_s"]
        segments.append({k: seg[k] for k in ("video_id", "seq", "air_start", "air_end", "air_clock", "stream_url")}
                        | place(seg["air_start_s"], e))
    gap_rows = [{k: g[k] for k in ("start", "end", "seconds", "reason")} | place(g["start_s"], g["end_s"])
                for g in gaps(cat, channel, span)]
    return {"channel": channel, "date": span.day.isoformat(), "start": span.start, "end": span.end,
            "method": f"programmes-{VERSION}", "programmes": programmes, "segments": segments, "gaps": gap_rows}
