"""The read and write side of voices: where else a voice speaks, names, and the speaker of each line or hit.

``voices_report`` is the shape of ``clipwatch voices ID --json`` (issue 24)::

    {"video_id": …, "turns": [{"start", "end", "speaker"}, …],
     "speakers": [{"speaker": "S1", "seconds": …, "name": … or null,
                   "matches": [{"video_id", "speaker", "similarity": 0–1, "seconds", "weak"}, …]}]}

with matches best first. A match rests on the speech of both voices: it is ``weak`` when either has under
``WEAK_S`` seconds (a few seconds of speech do not identify a voice). Similarities are cosines of GE2E centroids,
which are non-negative, so they lie in 0..1; ``MATCH_MIN`` is where bench/speakers.py found the same and different
voices of the shared media set apart.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np

from pipeline.errors import NotFoundError, QueryError
from pipeline.speakers.diarize import speaker_at
from pipeline.speakers.index import open_index

MATCH_MIN = 0.85  # centroid cosine at which two voices are reported as the same voice (bench/speakers.py)
WEAK_S = 10.0
MAX_MATCHES = 50
NAME_MAX = 200
CLOSE_MAX = 2000  # the most voices a --voice filter takes as "like this one"
_SPEC = re.compile(r"^(?P<video>.+):(?P<speaker>S\d+)$")


def parse_voice(spec: str) -> tuple[str, str] | None:
    """``VIDEO:S1`` -> (video, "S1"); None when ``spec`` is not of that form (then it may be a name)."""
    m = _SPEC.match(spec.strip())
    return (m.group("video"), m.group("speaker")) if m else None


def _voice_row(store: Any, video_id: str, speaker: str) -> dict[str, Any]:
    rows = store.voices(video_id)
    for r in rows:
        if r["speaker"] == speaker:
            return r
    known = ", ".join(r["speaker"] for r in rows) or "none (run `clipwatch reprocess` to find its speakers)"
    raise NotFoundError(f"{video_id} has no speaker {speaker}; its speakers: {known}")


def matches_for(store: Any, index: Any, video_id: str, embedding: np.ndarray, seconds: float,
                min_similarity: float = MATCH_MIN, limit: int = MAX_MATCHES) -> list[dict[str, Any]]:
    """Voices of other videos close to ``embedding``, best first (see the module's docstring for ``weak``)."""
    found = index.search(embedding, limit + 32)[0]
    out = []
    for vid, spk, sec, sim in found:
        if vid == video_id or sim < min_similarity:
            continue
        out.append({"video_id": vid, "speaker": spk, "similarity": round(sim, 4), "seconds": round(sec, 1),
                    "weak": bool(sec < WEAK_S or seconds < WEAK_S)})
    return out[:limit]


def voices_report(store: Any, video_id: str, speaker: str | None = None,
                  min_similarity: float = MATCH_MIN) -> dict[str, Any]:
    """Turns and voices of one video with where else each voice speaks.

    Arguments:
        store: an open catalogue.
        video_id: a video id (or an unambiguous prefix).
        speaker: only this speaker (``S1``); NotFoundError when the video has no such speaker.
        min_similarity: the least centroid similarity reported as a match.

    Returns:
        The JSON shape documented in this module.
    """
    vid = store.get_video(video_id)["id"]
    rows = store.voices(vid)
    if speaker is not None:
        rows = [_voice_row(store, vid, speaker)]
    speakers = []
    indexes: dict[str, Any] = {}
    for r in rows:
        if r["encoder"] not in indexes:
            indexes[r["encoder"]] = open_index(store, r["encoder"])
        speakers.append({"speaker": r["speaker"], "seconds": round(r["seconds"], 1), "name": r["name"],
                         "matches": matches_for(store, indexes[r["encoder"]], vid, r["embedding"], r["seconds"],
                                                min_similarity)})
    turns = store.speaker_turns(vid)
    if speaker is not None:
        turns = [t for t in turns if t["speaker"] == speaker]
    return {"video_id": vid, "turns": [{"start": round(t["start"], 3), "end": round(t["end"], 3),
                                        "speaker": t["speaker"]} for t in turns], "speakers": speakers}


def name_voice(store: Any, spec: str, name: str) -> dict[str, Any]:
    """Give a voice a name (a person's label: kept when the stage runs again), with a ``voice-named`` event.

    Arguments:
        store: an open, writable catalogue.
        spec: ``VIDEO:S1``.
        name: the name; surrounding space is trimmed; markup is kept as text (escaped wherever it is shown).

    Returns:
        ``{"video_id", "speaker", "name", "previous"}``.
    """
    parsed = parse_voice(spec)
    if parsed is None:
        raise QueryError(f"{spec!r} is not a voice: write VIDEO:S1 (the speakers of a video: clipwatch voices VIDEO)")
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise QueryError(f"a voice name must be 1 to {NAME_MAX} characters")
    vid = store.get_video(parsed[0])["id"]
    row = _voice_row(store, vid, parsed[1])
    previous = store.set_voice_name(vid, parsed[1], name, row["embedding"])
    store.add_event("voice-named", video_id=vid, detail={"speaker": parsed[1], "name": name, "previous": previous})
    return {"video_id": vid, "speaker": parsed[1], "name": name, "previous": previous}


def query_voices(store: Any, spec: str) -> list[tuple[str, np.ndarray]]:
    """The voices ``spec`` stands for: ``VIDEO:S1``, or every voice people gave that name. (encoder, embedding)s."""
    parsed = parse_voice(spec)
    pairs = [parsed] if parsed is not None else store.voices_named(spec.strip())
    if not pairs:
        raise NotFoundError(f"no voice is named {spec!r}; name one with clipwatch voices name VIDEO:S1 \"Name\", "
                            "or give VIDEO:S1")
    out = []
    for vid, spk in pairs:
        vid = store.get_video(vid)["id"]
        r = _voice_row(store, vid, spk)
        out.append((r["encoder"], r["embedding"]))
    return out


def close_voices(store: Any, spec: str, min_similarity: float = MATCH_MIN) -> set[tuple[str, str]]:
    """Every (video_id, speaker) whose voice is within ``min_similarity`` of the voice(s) ``spec`` names (itself too)."""
    out: set[tuple[str, str]] = set()
    for encoder, emb in query_voices(store, spec):
        index = open_index(store, encoder)
        for vid, spk, _sec, sim in index.search(emb, min(max(len(index), 1), CLOSE_MAX))[0]:
            if sim >= min_similarity:
                out.add((vid, spk))
    return out


def annotate_hits(store: Any, groups: Iterable[Any]) -> None:
    """Set ``speaker`` on every search hit from its video's turns (None where no speaker is known)."""
    groups = list(groups)
    turns = store.speaker_turns_of([g.video_id for g in groups])
    for g in groups:
        for h in g.hits:
            start = getattr(h, "segment_start", h.start) if h.timed_by == "segment" else h.start
            h.speaker = speaker_at(turns.get(g.video_id, []), start, max(h.end, start))
