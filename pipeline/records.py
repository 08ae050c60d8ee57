"""The one read model of an archived video: what `clipwatch show`, the web video page and the JSON API present.

Built from the catalogue's methods only (no SQL here). JSON columns are decoded once, tolerantly: a damaged
``detail`` of an event is shown as its raw text, never as an error page.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.domain import tag_dicts
from pipeline.preservation.removals import removals_of
from pipeline.sources.comments import KIND as COMMENTS
from pipeline.sources.comments import Comment, cap_note, clean, read_comments, threaded
from pipeline.speakers.diarize import speaker_at
from pipeline.translate.base import recorded_translator


def _json(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return {"raw": value} if isinstance(default, dict) else [str(value)]


@dataclass
class ArchivedVideo:
    row: dict[str, Any]  # the catalogue's videos row as stored (JSON columns as text)
    media: dict[str, Any] | None  # the original's media_files row, http_headers decoded
    keyframes: list[dict[str, Any]]
    tags: list[dict[str, Any]]  # effective tags: a person's correction wins over the model
    transcripts: list[dict[str, Any]]  # transcripts rows, each with its "segments" rows
    events: list[dict[str, Any]]  # the chain of custody, oldest first
    categories: list[str] = field(default_factory=list)
    platform_tags: list[str] = field(default_factory=list)
    copies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # {"copied_from": [...], "copies_elsewhere": [...]}
    removals: list[dict[str, Any]] = field(default_factory=list)  # each `removed` event with its retraction (or None)
    turns: list[dict[str, Any]] = field(default_factory=list)  # speaker turns {"start", "end", "speaker"} (issue 24)
    voices: list[dict[str, Any]] = field(default_factory=list)  # {"speaker", "seconds", "name"} per speaker

    @property
    def id(self) -> str:
        return self.row["id"]

    def segments(self, kind: str) -> list[dict[str, Any]]:
        return next((t["segments"] for t in self.transcripts if t["kind"] == kind), [])

    def lines(self) -> list[dict[str, Any]]:
        """Transcript lines for reading: each original segment with the translation spoken over the same time."""
        original, translation = self.segments("original"), self.segments("translation")
        if not original:
            return [{"id": t["id"], "start": t["start"], "end": t["end"], "text": t["text"], "translation": None,
                     "flags": t["flags"], "speaker": speaker_at(self.turns, t["start"], t["end"])} for t in translation]
        lines = []
        for seg in original:
            beside = [t["text"] for t in translation
                      if t["start"] < max(seg["end"], seg["start"] + 0.01) and t["end"] > seg["start"]]
            lines.append({"id": seg["id"], "start": seg["start"], "end": seg["end"], "text": seg["text"],
                          "translation": " ".join(beside) or None, "flags": seg["flags"],
                          "speaker": speaker_at(self.turns, seg["start"], seg["end"])})
        return lines

    @property
    def comments_transcript(self) -> dict[str, Any] | None:
        """The transcripts row of kind ``comments`` (the platform's comments, issue 23), None when not fetched."""
        return next((t for t in self.transcripts if t["kind"] == COMMENTS), None)

    def comments(self, path: Path | None) -> dict[str, Any] | None:
        """The platform's comments for reading, threaded by parent (None when they were not fetched).

        Arguments:
            path: the video's ``comments.json`` on this machine (None when it cannot be read here: the comments
                are then the stored lines, without author, time or thread).

        Returns:
            {"count", "note", "path", "thread": [{"depth", "anchor", "id", "author", "author_id", "text",
            "posted_at", "like_count"}]}; texts cleaned of control characters and cut (``sources/comments.py``).
        """
        t = self.comments_transcript
        if t is None:
            return None
        segs = sorted(t["segments"], key=lambda s: s["idx"])
        comments = read_comments(path) if path is not None else []
        if not comments:
            comments = [Comment(str(s["idx"]), None, None, None, s["text"], None, None) for s in segs]
        anchors = {int(s["idx"]): f"comment-{s['id']}" for s in segs}
        position = {id(c): i for i, c in enumerate(comments)}
        thread = [{"depth": depth, "anchor": anchors.get(position[id(c)], f"comment-n{position[id(c)]}")}
                  | asdict(c) | {"text": clean(c.text), "posted_at": c.posted_at} for depth, c in threaded(comments)]
        return {"count": len(comments), "note": cap_note(len(comments)), "path": t["path"], "thread": thread}

    def show_dict(self) -> dict[str, Any]:
        """The shape of `clipwatch show --json` (keys documented in the README)."""
        ct = self.comments_transcript
        return {
            "video": self.row | {"categories": self.categories, "platform_tags": self.platform_tags},
            "media": self.media,
            "keyframes": [{k: r[k] for k in ("shot_index", "shot_start", "shot_end", "time", "path", "phash")}
                          for r in self.keyframes],
            "tags": self.tags,
            "transcripts": [
                {k: t[k] for k in ("kind", "language", "language_probability", "model", "engine", "engine_version", "path")}
                | ({"translator": recorded_translator(t["engine"], t["model"])} if t["kind"] == "translation" else {})
                | {"segments": [{"start": s["start"], "end": s["end"], "text": s["text"], "flags": s["flags"],
                                 "speaker": speaker_at(self.turns, s["start"], s["end"])}
                                for s in t["segments"]]}
                for t in self.transcripts if t["kind"] != COMMENTS
            ],
            # the platform's comments: how many are indexed and where they all are (`show --comments` lists them)
            "comments": None if ct is None else {"indexed": len(ct["segments"]), "path": ct["path"]},
            "events": [{"at": e["at"], "kind": e["kind"], "detail": e["detail"]} for e in self.events],
            "copies": self.copies,
            "removals": self.removals,
        }


def load(store: Any, video_id: str) -> ArchivedVideo:
    """Everything archived about one video (an unambiguous id prefix is accepted); NotFoundError otherwise."""
    v = store.get_video(video_id)
    vid = v["id"]
    media = store.media_file(v["media_sha256"], v["id"]) if v["media_sha256"] else None
    media_d = None
    if media is not None:
        media_d = dict(media) | {"http_headers": _json(media["http_headers"], {})}
    transcripts = [dict(t) | {"segments": [dict(s) for s in store.segments(vid, t["kind"])]}
                   for t in store.transcript_rows(vid)]
    events = [{"at": e["at"], "kind": e["kind"], "media_sha256": e["media_sha256"], "detail": _json(e["detail"], {})}
              for e in store.events(vid)]
    return ArchivedVideo(
        row=dict(v), media=media_d, keyframes=[dict(k) for k in store.keyframes(vid)], tags=tag_dicts(store.tags(vid)),
        transcripts=transcripts, events=events, categories=_json(v["categories"], []),
        platform_tags=_json(v["platform_tags"], []), copies=store.video_copies(vid),
        removals=removals_of(store, vid),
        turns=store.speaker_turns(vid),
        voices=[{k: r[k] for k in ("speaker", "seconds", "name")} for r in store.voices(vid)],
    )
