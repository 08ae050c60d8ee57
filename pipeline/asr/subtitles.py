"""Write a Transcript as transcript.json, SubRip (.srt), WebVTT (.vtt) and plain text.

JSON keeps everything (flagged segments too, with their flags) and reads back
with :func:`from_json`. The subtitle and text formats leave flagged segments
out unless ``include_flagged`` is set: they are what a viewer reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from pipeline.asr import Segment, Transcript, Word
from pipeline.errors import ConfigError
from pipeline.storage.files import atomic_write_bytes

FORMATS = ("json", "srt", "vtt", "txt")
JSON_VERSION = 1


def timestamp(seconds: float, sep: str = ",") -> str:
    """Subtitle time: ``HH:MM:SS,mmm`` (SRT) or with ``sep='.'`` ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def clock(seconds: float | None) -> str:
    """Human time for listings: ``mm:ss``, or ``h:mm:ss`` past an hour; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def subtitle_cues(t: Transcript, include_flagged: bool) -> list[Segment]:
    """The segments that become cues: those with text, flagged ones only when asked for."""
    return [s for s in t.segments if s.text.strip() and (include_flagged or not s.flags)]


def cue_text(text: str) -> str:
    """A segment's text made safe as one cue of SRT or WebVTT."""
    # A blank line ends a cue in both formats; "-->" would be read as a timing line.
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines).replace("-->", "->")


def to_srt(t: Transcript, include_flagged: bool = False) -> str:
    out = []
    for i, s in enumerate(subtitle_cues(t, include_flagged), 1):
        out.append(f"{i}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{cue_text(s.text)}\n")
    return "\n".join(out)


def to_vtt(t: Transcript, include_flagged: bool = False) -> str:
    head = "WEBVTT\n"
    if t.language:
        head += f"Language: {t.language}\n"
    out = [head]
    for s in subtitle_cues(t, include_flagged):
        text = cue_text(s.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{text}\n")
    return "\n".join(out)


def to_txt(t: Transcript, include_flagged: bool = False) -> str:
    return "\n".join(s.text.strip() for s in subtitle_cues(t, include_flagged)) + "\n"


def to_dict(t: Transcript) -> dict:
    d = asdict(t)
    d["text"] = t.text
    d["format_version"] = JSON_VERSION
    return d


def to_json(t: Transcript) -> str:
    return json.dumps(to_dict(t), ensure_ascii=False, indent=1)


def from_json(text: str) -> Transcript:
    d = json.loads(text)
    d.pop("text", None)
    d.pop("format_version", None)
    segs = []
    for s in d.pop("segments", []):
        words = [Word(**w) for w in s.pop("words", [])]
        segs.append(Segment(**s, words=words))
    return Transcript(**d, segments=segs)


_WRITERS: dict[str, Callable[..., str]] = {"json": to_json, "srt": to_srt, "vtt": to_vtt, "txt": to_txt}


def render(t: Transcript, fmt: str, include_flagged: bool = False) -> str:
    if fmt not in _WRITERS:

        raise ConfigError(f"unknown transcript format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return _WRITERS[fmt](t) if fmt == "json" else _WRITERS[fmt](t, include_flagged)


def write_transcript(
    t: Transcript, out_dir: Path, basename: str = "transcript", formats: tuple[str, ...] = FORMATS
) -> dict[str, Path]:
    """Write ``<out_dir>/<basename>.<fmt>`` for each format (atomic writes); returns fmt -> path.

    Per video the flow writes the original as ``transcript.*`` and an English
    translation beside it as ``transcript.en.*`` (basename="transcript.en").
    """
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for fmt in formats:
        data = render(t, fmt).encode("utf-8")
        p = out_dir / f"{basename}.{fmt}"
        atomic_write_bytes(p, data)
        paths[fmt] = p
    return paths
