"""The copy links and the channel network's rows, in portable SQL (a part of ``SQLCatalogue``; issue 15)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from pipeline.domain import to_unsigned64, utcnow
from pipeline.storage.base import Row
from pipeline.storage.sql import SQLBase

_LINK_COLUMNS = ("SELECT c.*, o.title AS original_title, o.channel AS original_channel, o.upload_date AS original_upload_date,"
                 " o.status AS original_status, k.title AS copy_title, k.channel AS copy_channel,"
                 " k.upload_date AS copy_upload_date, k.status AS copy_status FROM copy_links c"
                 " JOIN videos o ON o.id = c.original_id JOIN videos k ON k.id = c.copy_id")


#: ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's limits on parameters
_IDS_PER_QUERY = 500


class CopyTables(SQLBase):
    """Audio fingerprints, copy links and what the channel network is built from."""

    def save_fingerprint(self, video_id: str, media_sha256: str, data: bytes, duration: float, tool: str,
                         tool_version: str) -> None:
        """A video's audio fingerprint (replacing the one it had)."""
        self._execute(
            f"INSERT INTO audio_fingerprints(video_id, media_sha256, items, duration, tool, tool_version) VALUES ({self._marks(6)})"
            " ON CONFLICT (video_id) DO UPDATE SET media_sha256 = excluded.media_sha256, items = excluded.items,"
            " duration = excluded.duration, tool = excluded.tool, tool_version = excluded.tool_version",
            (video_id, media_sha256, data, duration, tool, tool_version))

    def _only(self, only: list[str] | None) -> Iterator[tuple[str, tuple]]:
        """SQL conditions on ``video_id`` naming at most a few hundred ids each (one, always true, for None)."""
        if only is None:
            yield "1 = 1", ()
            return
        for i in range(0, len(only), _IDS_PER_QUERY):
            chunk = tuple(only[i:i + _IDS_PER_QUERY])
            yield f"video_id IN ({self._marks(len(chunk))})", chunk

    def fingerprints(self, exclude: str | None = None, only: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]:
        """(video id, fingerprint bytes) of every video but ``exclude`` (or of ``only`` these)."""
        for cond, args in self._only(None if only is None else list(only)):
            for r in self._execute(f"SELECT video_id, items FROM audio_fingerprints WHERE video_id <> COALESCE({self.P}, '')"
                                   f" AND {cond}", (exclude, *args)):
                yield r[0], bytes(r[1])

    def keyframe_rows(self, exclude: str | None = None,
                      only: Iterable[str] | None = None) -> list[tuple[str, float, int, float, float]]:
        """Every archived keyframe (or ``only`` these videos') as (video_id, time, phash unsigned, shot_start, shot_end)."""
        out = []
        for cond, args in self._only(None if only is None else list(only)):
            out += [(r[0], float(r[1]), to_unsigned64(int(r[2])), float(r[3]), float(r[4])) for r in self._all(
                "SELECT video_id, time, phash, shot_start, shot_end FROM keyframes"
                f" WHERE video_id <> COALESCE({self.P}, '') AND {cond} ORDER BY video_id, time", (exclude, *args))]
        return out

    def video_facts(self, only: Iterable[str] | None = None) -> list[Row]:
        """(id, upload_date, archived_at, duration, channel) of every video (or ``only`` these): what copy direction
        is decided from."""
        out: list[Row] = []
        for cond, args in self._only(None if only is None else list(only)):
            out += self._all("SELECT id, upload_date, archived_at, duration, channel FROM videos WHERE "
                             + cond.replace("video_id", "id"), args)
        return out

    def save_links(self, links: Iterable[Any], method_version: str) -> int:
        """Insert or refresh links (``CopyLink``s); a pair is stored once, in its original -> copy direction.

        Returns:
            The number of links written.
        """
        n = 0
        p = self.P
        with self.transaction():
            for link in links:
                # the same pair found the other way round (dates changed) replaces the old row
                self._execute(f"DELETE FROM copy_links WHERE original_id = {p} AND copy_id = {p}", (link.copy, link.original))
                self._execute(
                    "INSERT INTO copy_links(original_id, copy_id, \"offset\", speed, coverage, confidence, method,"
                    f" matched_seconds, detail, method_version, found_at) VALUES ({self._marks(11)})"
                    " ON CONFLICT (original_id, copy_id) DO UPDATE SET \"offset\" = excluded.\"offset\", speed = excluded.speed,"
                    " coverage = excluded.coverage, confidence = excluded.confidence, method = excluded.method,"
                    " matched_seconds = excluded.matched_seconds, detail = excluded.detail,"
                    " method_version = excluded.method_version, found_at = excluded.found_at",
                    (link.original, link.copy, link.offset, link.speed, link.coverage, link.confidence, link.method,
                     link.matched_seconds, json.dumps(link.detail, ensure_ascii=False, default=str), method_version, utcnow()))
                n += 1
        return n

    def links_of(self, video_id: str) -> tuple[list[Row], list[Row]]:
        """(links where the video is the copy, links where it is the original), most confident first."""
        copied_from = self._all(_LINK_COLUMNS + f" WHERE c.copy_id = {self.P} ORDER BY c.confidence DESC", (video_id,))
        copies = self._all(_LINK_COLUMNS + f" WHERE c.original_id = {self.P} ORDER BY k.upload_date, c.copy_id", (video_id,))
        return copied_from, copies

    def all_links(self) -> list[Row]:
        return self._all("SELECT * FROM copy_links ORDER BY original_id, copy_id")

    def network_videos(self) -> list[Row]:
        """The rows the channel network is built from, with each video's latest info.json path (for yt-dlp fields)."""
        return self._all(
            "SELECT v.id, v.channel, v.channel_id, v.uploader, v.channel_url, v.webpage_url, v.upload_date, v.archived_at,"
            " v.status, v.description, v.title, (SELECT m.info_json_path FROM metadata_versions m WHERE m.video_id = v.id"
            " ORDER BY m.id DESC LIMIT 1) AS info_json_path FROM videos v ORDER BY v.id")

    def video_copies(self, video_id: str) -> dict[str, list[dict[str, Any]]]:
        """``{"copied_from": [...], "copies_elsewhere": [...]}`` for one video, as plain dicts (CLI, web, API)."""
        copied_from, copies = self.links_of(video_id)
        return {"copied_from": [_link_dict(r, "original") for r in copied_from],
                "copies_elsewhere": [_link_dict(r, "copy") for r in copies]}


def _link_dict(r: Row, other: str) -> dict[str, Any]:
    return {"video_id": r[f"{other}_id"], "title": r[f"{other}_title"], "channel": r[f"{other}_channel"],
            "upload_date": r[f"{other}_upload_date"], "status": r[f"{other}_status"],
            "offset": r["offset"], "speed": r["speed"], "coverage": r["coverage"], "confidence": r["confidence"],
            "method": r["method"], "matched_seconds": r["matched_seconds"], "found_at": r["found_at"],
            "evidence": (ev := json.loads(r["detail"] or "{}")),
            # observed (first archived) | claimed (platform dates only) | uncertain (they contradict), issue 21
            "direction": ev.get("direction", "observed") if isinstance(ev, dict) else "observed"}
