"""SQL for who speaks (issue 24): speaker turns, voices (centroid embeddings) and the names people give voices.

Functions over an open catalogue (its ``db``), SQLite or PostgreSQL alike: the SQL is what both run (upserts with
ON CONFLICT; no column named "end"). The tables are in ``sqlite/schema.sql`` and PostgreSQL's migration 0011.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from pipeline.domain import utcnow


def to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, "<f4").tobytes()


def from_blob(b: Any) -> np.ndarray:
    return np.frombuffer(bytes(b), "<f4")


def replace_speakers(store: Any, video_id: str, media_sha256: str, encoder: str, turns: Iterable[Any],
                     voices: Iterable[Any]) -> None:
    """Replace a video's turns and voices (``Turn``s, ``Voice``s) in one transaction; names are moved, not lost.

    A name given to a voice of this video follows the new speaker whose voice is closest to the voice it was given
    to (and at least as close as two windows of one voice usually are); with no such speaker it stays on its old
    label, which then names no one until the voice reappears.
    """
    turns, voices = list(turns), list(voices)
    with store.transaction():
        named = store.db.execute("SELECT speaker, name, embedding, named_at FROM voice_names WHERE video_id = ?",
                                 (video_id,)).fetchall()
        store.db.execute("DELETE FROM speaker_turns WHERE video_id = ?", (video_id,))
        store.db.execute("DELETE FROM voices WHERE video_id = ?", (video_id,))
        store.db.executemany("INSERT INTO speaker_turns(video_id, idx, start, stop, speaker) VALUES (?, ?, ?, ?, ?)",
                             [(video_id, i, float(t.start), float(t.end), t.speaker)
                              for i, t in enumerate(sorted(turns, key=lambda t: t.start))])
        now = utcnow()
        store.db.executemany(
            "INSERT INTO voices(video_id, speaker, seconds, embedding, encoder, media_sha256, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(video_id, v.speaker, float(v.seconds), to_blob(v.embedding), encoder, media_sha256, now) for v in voices])
        if named and voices:
            moves = []
            taken: set[str] = set()
            for r in named:
                if r["embedding"] is None:
                    continue
                old = from_blob(r["embedding"])
                best = max((v for v in voices if v.speaker not in taken), default=None,
                           key=lambda v: float(np.dot(old, v.embedding)))
                if best is not None and float(np.dot(old, best.embedding)) >= 0.75:
                    taken.add(best.speaker)
                    moves.append((r, best))
            if moves:
                store.db.execute("DELETE FROM voice_names WHERE video_id = ?", (video_id,))
                kept = {r["speaker"] for r, _ in moves}
                rows = [(video_id, v.speaker, r["name"], to_blob(v.embedding), r["named_at"]) for r, v in moves]
                rows += [(video_id, r["speaker"], r["name"], r["embedding"], r["named_at"]) for r in named
                         if r["speaker"] not in kept and r["speaker"] not in taken]
                store.db.executemany("INSERT INTO voice_names(video_id, speaker, name, embedding, named_at)"
                                     " VALUES (?, ?, ?, ?, ?)", rows)


def turns(store: Any, video_id: str) -> list[dict[str, Any]]:
    """A video's speaker turns, in time order: ``{"start", "end", "speaker"}``."""
    return [{"start": float(r["start"]), "end": float(r["stop"]), "speaker": r["speaker"]} for r in store.db.execute(
        "SELECT start, stop, speaker FROM speaker_turns WHERE video_id = ? ORDER BY idx", (video_id,)).fetchall()]


def voices(store: Any, video_id: str) -> list[dict[str, Any]]:
    """A video's voices with their names: ``{"speaker", "seconds", "name", "encoder", "embedding"}``, S1 first."""
    rows = store.db.execute(
        "SELECT v.speaker, v.seconds, v.encoder, v.embedding, n.name FROM voices v LEFT JOIN voice_names n"
        " ON n.video_id = v.video_id AND n.speaker = v.speaker WHERE v.video_id = ?", (video_id,)).fetchall()
    out = [{"speaker": r["speaker"], "seconds": float(r["seconds"]), "name": r["name"], "encoder": r["encoder"],
            "embedding": from_blob(r["embedding"])} for r in rows]
    return sorted(out, key=lambda d: (len(d["speaker"]), d["speaker"]))


def all_voices(store: Any, encoder: str | None = None) -> Iterator[tuple[str, str, float, np.ndarray]]:
    """Every stored voice as (video_id, speaker, seconds, embedding); only one encoder's when ``encoder`` is given."""
    sql = "SELECT video_id, speaker, seconds, embedding FROM voices"
    params: tuple = ()
    if encoder is not None:
        sql, params = sql + " WHERE encoder = ?", (encoder,)
    for r in store.db.execute(sql + " ORDER BY video_id, speaker", params):
        yield r["video_id"], r["speaker"], float(r["seconds"]), from_blob(r["embedding"])


def voice_count(store: Any) -> tuple[int, str]:
    """(number of voices, a fingerprint of the voices table that changes when a voice is added or replaced)."""
    r = store.db.execute("SELECT count(*) AS n, max(created_at) AS last FROM voices").fetchone()
    return int(r["n"]), f"{r['n']}:{r['last']}"


def set_name(store: Any, video_id: str, speaker: str, name: str, embedding: np.ndarray | None) -> str | None:
    """Name a voice (a person's label, replacing an earlier name of the same voice); returns the old name."""
    with store.transaction():
        old = store.db.execute("SELECT name FROM voice_names WHERE video_id = ? AND speaker = ?",
                               (video_id, speaker)).fetchone()
        store.db.execute(
            "INSERT INTO voice_names(video_id, speaker, name, embedding, named_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (video_id, speaker) DO UPDATE SET name = excluded.name, embedding = excluded.embedding,"
            " named_at = excluded.named_at",
            (video_id, speaker, name, to_blob(embedding) if embedding is not None else None, utcnow()))
    return old["name"] if old is not None else None


def named(store: Any, name: str) -> list[tuple[str, str]]:
    """The (video_id, speaker) pairs people named ``name`` (case-insensitive)."""
    return [(r["video_id"], r["speaker"]) for r in store.db.execute(
        "SELECT video_id, speaker FROM voice_names WHERE lower(name) = lower(?) ORDER BY video_id, speaker", (name,))]


def turns_of(store: Any, video_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Turns of several videos at once (search hits): video_id -> turns in time order."""
    ids = sorted(set(video_ids))
    out: dict[str, list[dict[str, Any]]] = {v: [] for v in ids}
    for a in range(0, len(ids), 500):
        chunk = ids[a:a + 500]
        marks = ", ".join("?" * len(chunk))
        for r in store.db.execute(f"SELECT video_id, start, stop, speaker FROM speaker_turns WHERE video_id IN ({marks})"
                                  " ORDER BY video_id, idx", tuple(chunk)):
            out[r["video_id"]].append({"start": float(r["start"]), "end": float(r["stop"]), "speaker": r["speaker"]})
    return out
