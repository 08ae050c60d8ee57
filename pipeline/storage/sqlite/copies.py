"""SQL for copies and the channel network (issue 15): audio fingerprints, copy links, network rows.

Functions over an open catalogue (its ``db``); the tables are in ``schema.sql`` (and PostgreSQL's migration 0006).
The SQL is what SQLite and PostgreSQL both run (upserts with ON CONFLICT, "offset" quoted; no IS DISTINCT FROM, which SQLite has only since 3.39).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from pipeline.storage.sqlite.catalogue import Store, to_unsigned64, utcnow


def save_fingerprint(store: Store, video_id: str, media_sha256: str, data: bytes, duration: float,
                     tool: str, tool_version: str) -> None:
    store.db.execute(
        "INSERT INTO audio_fingerprints(video_id, media_sha256, items, duration, tool, tool_version)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (video_id) DO UPDATE SET media_sha256 = excluded.media_sha256,"
        " items = excluded.items, duration = excluded.duration, tool = excluded.tool, tool_version = excluded.tool_version",
        (video_id, media_sha256, data, duration, tool, tool_version))


def fingerprints(store: Store, exclude: str | None = None) -> Iterator[tuple[str, bytes]]:
    for r in store.db.execute("SELECT video_id, items FROM audio_fingerprints WHERE video_id <> COALESCE(?, '')", (exclude,)):
        yield r[0], bytes(r[1])


def keyframe_rows(store: Store, exclude: str | None = None) -> list[tuple[str, float, int, float, float]]:
    """Every archived keyframe as (video_id, time, phash unsigned, shot_start, shot_end)."""
    return [(r[0], float(r[1]), to_unsigned64(int(r[2])), float(r[3]), float(r[4])) for r in store.db.execute(
        "SELECT video_id, time, phash, shot_start, shot_end FROM keyframes WHERE video_id <> COALESCE(?, '') ORDER BY video_id, time",
        (exclude,))]


def video_facts(store: Store) -> list[sqlite3.Row]:
    return store.db.execute("SELECT id, upload_date, archived_at, duration, channel FROM videos").fetchall()


def save_links(store: Store, links: Iterable[Any], method_version: str) -> int:
    """Insert or refresh links (``CopyLink``s); a pair is stored once, in its original -> copy direction."""
    n = 0
    with store.transaction():
        for l in links:
            # the same pair found the other way round (dates changed) replaces the old row
            store.db.execute("DELETE FROM copy_links WHERE original_id = ? AND copy_id = ?", (l.copy, l.original))
            store.db.execute(
                "INSERT INTO copy_links(original_id, copy_id, \"offset\", speed, coverage, confidence, method,"
                " matched_seconds, detail, method_version, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (original_id, copy_id) DO UPDATE SET \"offset\" = excluded.\"offset\", speed = excluded.speed,"
                " coverage = excluded.coverage, confidence = excluded.confidence, method = excluded.method,"
                " matched_seconds = excluded.matched_seconds, detail = excluded.detail,"
                " method_version = excluded.method_version, found_at = excluded.found_at",
                (l.original, l.copy, l.offset, l.speed, l.coverage, l.confidence, l.method, l.matched_seconds,
                 json.dumps(l.detail, ensure_ascii=False, default=str), method_version, utcnow()))
            n += 1
    return n


_LINK_COLUMNS = ("SELECT c.*, o.title AS original_title, o.channel AS original_channel, o.upload_date AS original_upload_date,"
                 " o.status AS original_status, k.title AS copy_title, k.channel AS copy_channel,"
                 " k.upload_date AS copy_upload_date, k.status AS copy_status FROM copy_links c"
                 " JOIN videos o ON o.id = c.original_id JOIN videos k ON k.id = c.copy_id")


def links_of(store: Store, video_id: str) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    """(links where the video is the copy, links where it is the original), most confident first."""
    copied_from = store.db.execute(_LINK_COLUMNS + " WHERE c.copy_id = ? ORDER BY c.confidence DESC", (video_id,)).fetchall()
    copies = store.db.execute(_LINK_COLUMNS + " WHERE c.original_id = ? ORDER BY k.upload_date, c.copy_id", (video_id,)).fetchall()
    return copied_from, copies


def all_links(store: Store) -> list[sqlite3.Row]:
    return store.db.execute("SELECT * FROM copy_links ORDER BY original_id, copy_id").fetchall()


def network_videos(store: Store) -> list[sqlite3.Row]:
    """The rows the channel network is built from, with each video's latest info.json path (for yt-dlp fields)."""
    return store.db.execute(
        "SELECT v.id, v.channel, v.channel_id, v.uploader, v.channel_url, v.webpage_url, v.upload_date, v.archived_at, v.status,"
        " v.description, v.title, (SELECT m.info_json_path FROM metadata_versions m WHERE m.video_id = v.id"
        " ORDER BY m.id DESC LIMIT 1) AS info_json_path FROM videos v ORDER BY v.id").fetchall()


def _link_dict(r: sqlite3.Row, other: str) -> dict[str, Any]:
    vid = r[f"{other}_id"]
    other_title = r[f"{other}_title"]
    return {"video_id": vid, "title": other_title, "channel": r[f"{other}_channel"],
            "upload_date": r[f"{other}_upload_date"], "status": r[f"{other}_status"],
            "offset": r["offset"], "speed": r["speed"], "coverage": r["coverage"], "confidence": r["confidence"],
            "method": r["method"], "matched_seconds": r["matched_seconds"], "found_at": r["found_at"],
            "evidence": (ev := json.loads(r["detail"] or "{}")),
            # observed (first archived) | claimed (platform dates only) | uncertain (they contradict), issue 21
            "direction": ev.get("direction", "observed") if isinstance(ev, dict) else "observed"}


def video_copies(store: Store, video_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{"copied_from": [...], "copies_elsewhere": [...]}`` for one video, as plain dicts (CLI, web, API)."""
    copied_from, copies = links_of(store, video_id)
    return {"copied_from": [_link_dict(r, "original") for r in copied_from],
            "copies_elsewhere": [_link_dict(r, "copy") for r in copies]}
