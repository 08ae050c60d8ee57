"""Programme boundaries over consecutive recordings with air times: cues read per file, fused in air time.

A junction between programmes is where one strong cue (colour bars, a marked ident) or two weak cues of different
kinds (black, silence, a logo change) agree within ``JOIN`` seconds; it spans its ident, bars and black where it
has any (``ANCHORS``), else all its cues. Junctions closer than ``MIN_PROGRAMME`` are one
junction (black, then the ident, then the new programme's titles) when both or neither have a strong cue; otherwise the
one made of weak cues only is dropped (a pause after a cut just before the ident is no programme of its own). A programme runs from the end of one junction to
the start of the next, over as many recordings as it spans.

Recordings are read one at a time (memory stays flat over a day); an ident that straddles two consecutive recordings
is still heard because the tail of the previous recording's audio is laid before the next one's when they are
contiguous.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.copies.fingerprint import FPCALC_FIX, fingerprinter_available
from pipeline.errors import MediaError, NoAudioError
from pipeline.media.audio import SAMPLE_RATE, load_audio
from pipeline.media.probe import probe
from pipeline.programmes.cues import STRONG, Cue, measure_frames, picture_cues, silence_cues
from pipeline.programmes.idents import Ident, ident_cues

log = logging.getLogger(__name__)

#: cues closer than this (seconds) speak of the same junction
JOIN = 2.0
#: junctions closer than this (seconds) are one (no programme is shorter)
MIN_PROGRAMME = 10.0
#: recordings whose air times meet within this (seconds) are contiguous
CONTIGUOUS = 1.5
#: cues that place a junction in time when it has them (what the picture and the marked ident say exactly)
ANCHORS = {"ident", "bars", "black"}
#: weak cues count half a strong one in a junction's score
WEAK_WEIGHT = 0.5
VERSION = "1"


@dataclass
class Recording:
    """One media file and the air time its first second went out (UTC)."""

    path: Path
    air_start: datetime
    video_id: str | None = None
    duration: float | None = None  # seconds; probed when not given


@dataclass
class Boundary:
    """A junction between programmes: [start, end] in seconds since the epoch, its cues and score."""

    start: float
    end: float
    score: float
    cues: list[Cue] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({c.kind for c in self.cues})

    def as_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "score": round(self.score, 3),
                "cues": [c.as_dict() | {"start": iso(c.start), "end": iso(c.end)} for c in self.cues]}


@dataclass
class Programme:
    """What went out between two junctions (seconds since the epoch), with the junctions that bound it."""

    start: float
    end: float
    video_ids: list[str]
    evidence: dict[str, Any]
    title: str | None = None
    title_source: str | None = None

    @property
    def air_start(self) -> str:
        return iso(self.start)

    @property
    def air_end(self) -> str:
        return iso(self.end)


def iso(t: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with milliseconds and ``Z`` (the contract's air-time form)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_air(text: str) -> datetime:
    """An ISO 8601 air time (``Z`` or an offset) as an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def file_cues(path: Path, idents: Sequence[Ident] = (), lead: np.ndarray | None = None) -> tuple[list[Cue], np.ndarray]:
    """All cues of one file (seconds from its start) and its audio (for the next file's lead-in).

    ``lead`` is audio that went out just before this file (the previous recording's tail): idents are looked for
    over lead + this file's audio, so one cut in two by the recording's segmenting is still found.
    """
    cues: list[Cue] = []
    info = probe(path)
    if info.has_video:
        cues += picture_cues(measure_frames(path))
    samples = np.zeros(0, np.float32)
    if info.has_audio:
        try:
            samples = load_audio(path)
        except NoAudioError:
            samples = np.zeros(0, np.float32)
    if len(samples):
        cues += silence_cues(samples, SAMPLE_RATE)
        if idents:
            head = lead if lead is not None else np.zeros(0, np.float32)
            shift = len(head) / SAMPLE_RATE
            for c in ident_cues(np.concatenate((head, samples)), SAMPLE_RATE, list(idents)):
                if c.end - shift > 0.5:  # an ident wholly in the lead was found with the previous file
                    cues.append(c.shifted(-shift))
    return cues, samples


def _has_strong(b: Boundary) -> bool:
    return any(c.strong for c in b.cues)


def fuse(cues: Sequence[Cue], join: float = JOIN, min_programme: float = MIN_PROGRAMME) -> list[Boundary]:
    """Junctions from cues in one time frame: ≥ 1 strong or ≥ 2 weak kinds within ``join`` s; close ones merged."""
    groups: list[list[Cue]] = []
    for c in sorted(cues, key=lambda c: c.start):
        if groups and c.start <= max(x.end for x in groups[-1]) + join:
            groups[-1].append(c)
        else:
            groups.append([c])
    found: list[Boundary] = []
    for g in groups:
        kinds = {c.kind for c in g}
        if not (kinds & STRONG) and len(kinds) < 2:
            continue
        miss = 1.0
        for c in g:
            miss *= 1.0 - c.score * (1.0 if c.strong else WEAK_WEIGHT)
        # the junction's span: its picture cues where it has any (a pause in the programme's last seconds, or a
        # silence that runs on, joins the group as evidence but does not move where the programme ends)
        anchors = [c for c in g if c.kind in ANCHORS] or g
        b = Boundary(min(c.start for c in anchors), max(c.end for c in anchors), float(1.0 - miss), list(g))
        if found and b.start - found[-1].end < min_programme:
            prev = found[-1]
            strong_prev, strong_b = _has_strong(prev), _has_strong(b)
            if strong_prev and not strong_b:
                continue
            if strong_b and not strong_prev:
                found[-1] = b
                continue
            found[-1] = Boundary(prev.start, max(prev.end, b.end), 1.0 - (1.0 - prev.score) * (1.0 - b.score),
                                 prev.cues + b.cues)
        else:
            found.append(b)
    return found


def detect(recordings: Sequence[Recording], idents: Sequence[Ident] = (),
           progress: Callable[[Recording], None] | None = None) -> tuple[list[Boundary], list[Programme]]:
    """Find programme boundaries over consecutive recordings, and the programmes between them.

    Arguments:
        recordings: media files with the air time each started (any order; read by air time).
        idents: the channel's marked idents (none: junctions from picture and silence only).
        progress: called after each recording is read.
    Returns:
        (boundaries, programmes), times in seconds since the epoch; a recording that cannot be decoded is logged
        and left out (its span is no programme's evidence).
    """
    recs = sorted(recordings, key=lambda r: r.air_start)
    if idents and not fingerprinter_available():
        # a missing optional component narrows the work and says so; it does not stop it
        log.warning("marked idents are not looked for: no Chromaprint fingerprinter here (%s)", FPCALC_FIX)
        idents = ()
    cues: list[Cue] = []
    spans: list[tuple[float, float, str | None]] = []
    lead: np.ndarray | None = None
    prev_end: float | None = None
    tail_seconds = max((i.duration for i in idents), default=0.0) + 2.0
    for rec in recs:
        t0 = rec.air_start.timestamp()
        try:
            duration = rec.duration if rec.duration is not None else probe(rec.path).duration
            contiguous = prev_end is not None and abs(t0 - prev_end) <= CONTIGUOUS
            found, samples = file_cues(rec.path, idents, lead if contiguous else None)
        except MediaError as e:
            log.warning("%s: left out of programme detection: %s", rec.path, e)
            lead, prev_end = None, None
            continue
        if not duration and len(samples):
            duration = len(samples) / SAMPLE_RATE
        cues += [c.shifted(t0) for c in found]
        spans.append((t0, t0 + duration, rec.video_id))
        lead = samples[-int(tail_seconds * SAMPLE_RATE):] if len(samples) else None
        prev_end = t0 + duration
        if progress:
            progress(rec)
    boundaries = fuse(cues)
    return boundaries, programmes_between(boundaries, spans)


def programmes_between(boundaries: Sequence[Boundary], spans: Sequence[tuple[float, float, str | None]],
                       min_seconds: float = 1.0) -> list[Programme]:
    """The programmes between junctions over the recorded spans (start, end, video id), each with its evidence."""
    if not spans:
        return []
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    edges: list[tuple[float, float, Boundary | None]] = [(first, first, None)]
    edges += [(b.start, b.end, b) for b in boundaries if first <= b.end and b.start <= last]
    edges.append((last, last, None))
    out = []
    for (_, a, before), (b, _, after) in zip(edges, edges[1:]):
        a, b = max(a, first), min(b, last)
        if b - a < min_seconds:
            continue
        vids = [v for s, e, v in spans if v and s < b and e > a]
        evidence = {"method": f"programmes-{VERSION}",
                    "start": before.as_dict() if before else {"reason": "recording starts"},
                    "end": after.as_dict() if after else {"reason": "recording ends"}}
        out.append(Programme(a, b, vids, evidence))
    return out
