"""Speaker turns, voices and the names people give them, in portable SQL (a part of ``SQLCatalogue``; issue 24)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from pipeline.domain import utcnow
from pipeline.storage.sql import SQLBase

# How close (cosine) a named voice's old embedding must be to a new speaker's voice for the name to follow it when
# the speakers are found again: two windows of one voice usually are at least this close.
NAME_FOLLOWS = 0.75


class SpeakerTables(SQLBase):
    """Who speaks: each video's turns and voices, and the names given to voices (a human label, never overwritten)."""

    # Speaker turns, voices (one centroid embedding per speaker: float32, L2-normalised, little-endian bytes) and the
    # names people give voices. The speaker tables are in sqlite/schema.sql and PostgreSQL's migration 0009; their
    # time columns are ``start``/``stop`` (no column named "end").
    def replace_speakers(self, video_id: str, media_sha256: str, encoder: str, turns: Iterable[Any],
                         voices: Iterable[Any]) -> None:
        """Replace a video's turns and voices in one transaction; names are moved, not lost.

        A name given to a voice of this video follows the new speaker whose voice is closest to the voice it was
        given to (and at least ``NAME_FOLLOWS`` close, as two windows of one voice usually are); with no such
        speaker it stays on its old label, which then names no one until the voice reappears.

        Arguments:
            video_id: the video.
            media_sha256: the original the speakers were found in.
            encoder: the encoder's version (voices of different encoders never compare).
            turns: ``Turn``s (start, end, speaker), any order: stored in time order.
            voices: ``Voice``s (speaker, seconds, embedding).
        """
        turns, voices = list(turns), list(voices)
        P = self.P
        with self.transaction():
            named = self._all(f"SELECT speaker, name, embedding, named_at FROM voice_names WHERE video_id = {P}",
                              (video_id,))
            self._execute(f"DELETE FROM speaker_turns WHERE video_id = {P}", (video_id,))
            self._execute(f"DELETE FROM voices WHERE video_id = {P}", (video_id,))
            turn_rows = [(video_id, i, float(t.start), float(t.end), t.speaker)
                         for i, t in enumerate(sorted(turns, key=lambda t: t.start))]
            if turn_rows:
                self._executemany(f"INSERT INTO speaker_turns(video_id, idx, start, stop, speaker) VALUES ({self._marks(5)})",
                                  turn_rows)
            now = utcnow()
            if voices:
                self._executemany(
                    "INSERT INTO voices(video_id, speaker, seconds, embedding, encoder, media_sha256, created_at)"
                    f" VALUES ({self._marks(7)})",
                    [(video_id, v.speaker, float(v.seconds), _to_blob(v.embedding), encoder, media_sha256, now)
                     for v in voices])
            if named and voices:
                moves = []
                taken: set[str] = set()
                for r in named:
                    if r["embedding"] is None:
                        continue
                    old = _from_blob(r["embedding"])
                    best = max((v for v in voices if v.speaker not in taken), default=None,
                               key=lambda v: float(np.dot(old, v.embedding)))
                    if best is not None and float(np.dot(old, best.embedding)) >= NAME_FOLLOWS:
                        taken.add(best.speaker)
                        moves.append((r, best))
                if moves:
                    self._execute(f"DELETE FROM voice_names WHERE video_id = {P}", (video_id,))
                    kept = {r["speaker"] for r, _ in moves}
                    rows = [(video_id, v.speaker, r["name"], _to_blob(v.embedding), r["named_at"]) for r, v in moves]
                    rows += [(video_id, r["speaker"], r["name"], r["embedding"], r["named_at"]) for r in named
                             if r["speaker"] not in kept and r["speaker"] not in taken]
                    self._executemany("INSERT INTO voice_names(video_id, speaker, name, embedding, named_at)"
                                      f" VALUES ({self._marks(5)})", rows)

    def speaker_turns(self, video_id: str) -> list[dict[str, Any]]:
        """A video's speaker turns, in time order: ``{"start", "end", "speaker"}``."""
        return [{"start": float(r["start"]), "end": float(r["stop"]), "speaker": r["speaker"]} for r in self._all(
            f"SELECT start, stop, speaker FROM speaker_turns WHERE video_id = {self.P} ORDER BY idx", (video_id,))]

    def speaker_turns_of(self, video_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Turns of several videos at once (search hits): video_id -> turns in time order (``speaker_turns``)."""
        ids = sorted(set(video_ids))
        out: dict[str, list[dict[str, Any]]] = {v: [] for v in ids}
        for a in range(0, len(ids), 500):  # 500 ids a statement: under SQLite's old limit of 999 parameters
            chunk = ids[a:a + 500]
            for r in self._all(f"SELECT video_id, start, stop, speaker FROM speaker_turns WHERE video_id IN"
                               f" ({self._marks(len(chunk))}) ORDER BY video_id, idx", tuple(chunk)):
                out[r["video_id"]].append({"start": float(r["start"]), "end": float(r["stop"]), "speaker": r["speaker"]})
        return out

    def voices(self, video_id: str) -> list[dict[str, Any]]:
        """A video's voices with their names: ``{"speaker", "seconds", "name", "encoder", "embedding"}``, S1 first
        (S2 before S10)."""
        rows = self._all(
            "SELECT v.speaker, v.seconds, v.encoder, v.embedding, n.name FROM voices v LEFT JOIN voice_names n"
            f" ON n.video_id = v.video_id AND n.speaker = v.speaker WHERE v.video_id = {self.P}", (video_id,))
        out = [{"speaker": r["speaker"], "seconds": float(r["seconds"]), "name": r["name"], "encoder": r["encoder"],
                "embedding": _from_blob(r["embedding"])} for r in rows]
        return sorted(out, key=lambda d: (len(d["speaker"]), d["speaker"]))

    def all_voices(self, encoder: str | None = None) -> Iterator[tuple[str, str, float, np.ndarray]]:
        """Every stored voice as (video_id, speaker, seconds, embedding), by video then speaker; only one encoder's
        when ``encoder`` is given."""
        sql = "SELECT video_id, speaker, seconds, embedding FROM voices"
        params: tuple[Any, ...] = ()
        if encoder is not None:
            sql, params = sql + f" WHERE encoder = {self.P}", (encoder,)
        for r in self._execute(sql + " ORDER BY video_id, speaker", params):
            yield r["video_id"], r["speaker"], float(r["seconds"]), _from_blob(r["embedding"])

    def voice_count(self) -> tuple[int, str]:
        """(number of voices, a fingerprint of the voices table that changes when a voice is added or replaced)."""
        r = self._one("SELECT count(*) AS n, max(created_at) AS last FROM voices")
        return int(r["n"]), f"{r['n']}:{r['last']}"

    def set_voice_name(self, video_id: str, speaker: str, name: str, embedding: np.ndarray | None) -> str | None:
        """Name a voice (a person's label, replacing an earlier name of the same voice).

        Arguments:
            video_id: the video.
            speaker: its speaker label (``S1``).
            name: the name.
            embedding: the voice as it is now (kept with the name, so that the name can follow the voice when the
                speakers are found again); None when unknown.

        Returns:
            The name the voice had before, or None.
        """
        P = self.P
        with self.transaction():
            old = self._one(f"SELECT name FROM voice_names WHERE video_id = {P} AND speaker = {P}", (video_id, speaker))
            self._execute(
                f"INSERT INTO voice_names(video_id, speaker, name, embedding, named_at) VALUES ({self._marks(5)})"
                " ON CONFLICT (video_id, speaker) DO UPDATE SET name = excluded.name, embedding = excluded.embedding,"
                " named_at = excluded.named_at",
                (video_id, speaker, name, _to_blob(embedding) if embedding is not None else None, utcnow()))
        return old["name"] if old is not None else None

    def voices_named(self, name: str) -> list[tuple[str, str]]:
        """The (video_id, speaker) pairs people named ``name`` (case-insensitive), by video then speaker."""
        return [(r["video_id"], r["speaker"]) for r in self._all(
            f"SELECT video_id, speaker FROM voice_names WHERE lower(name) = lower({self.P}) ORDER BY video_id, speaker",
            (name,))]


def _to_blob(v: Any) -> bytes:
    """An embedding as stored: float32, little-endian."""
    return np.asarray(v, "<f4").tobytes()


def _from_blob(b: Any) -> np.ndarray:
    """A stored embedding (bytes, or PostgreSQL's bytea as bytes or memoryview) as float32."""
    return np.frombuffer(bytes(b), "<f4")
