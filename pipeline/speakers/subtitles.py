"""WebVTT with voices: each cue spoken by a known speaker carries ``<v S1>`` (WebVTT's voice span).

The transcript files are written by the transcribe stage; the speakers stage (and the transcribe stage after a
re-transcription) rewrites ``transcript.vtt`` and ``transcript.en.vtt`` from the transcript JSON beside them and the
stored turns, so the subtitles say who speaks whichever stage ran last.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from pipeline.asr.subtitles import cue_text, from_json, subtitle_cues, timestamp
from pipeline.speakers.diarize import speaker_at
from pipeline.storage.files import atomic_write_text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt_with_voices(t: Any, turns: Sequence[Any], include_flagged: bool = False) -> str:
    """A Transcript as WebVTT, each cue in a ``<v SPEAKER>`` span when a speaker talks over most of it.

    Arguments:
        t: the Transcript.
        turns: the video's speaker turns (dicts or Turns).
        include_flagged: keep flagged (doubtful) cues, as ``asr.subtitles.to_vtt`` does.

    Returns:
        The WebVTT text.
    """
    head = "WEBVTT\n" + (f"Language: {t.language}\n" if t.language else "")
    out = [head]
    for s in subtitle_cues(t, include_flagged):
        text = _escape(cue_text(s.text))
        who = speaker_at(turns, s.start, s.end)
        if who:
            text = f"<v {_escape(who)}>{text}</v>"
        out.append(f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{text}\n")
    return "\n".join(out)


# The speakers stage runs beside the transcription (two threads of one ingest), and each rewrites the subtitles
# after storing its own part: one refresh at a time, so the one that runs second reads both parts.
_REFRESHING = threading.Lock()


def refresh_vtt(store: Any, archive: Any, video_id: str) -> list[Path]:
    """Rewrite the video's ``transcript*.vtt`` with voices from its stored turns; returns the files written."""
    with _REFRESHING:
        return _refresh_vtt(store, archive, video_id)


def _refresh_vtt(store: Any, archive: Any, video_id: str) -> list[Path]:
    turns = store.speaker_turns(video_id)
    folder = archive.video_dir(video_id)
    written = []
    for base in ("transcript", "transcript.en"):
        src = folder / f"{base}.json"
        if not src.is_file():
            continue
        try:
            tr = from_json(src.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            continue  # an unreadable transcript file is verify's to report; its subtitles stay as they were
        atomic_write_text(folder / f"{base}.vtt", to_vtt_with_voices(tr, turns))
        written.append(folder / f"{base}.vtt")
    return written
