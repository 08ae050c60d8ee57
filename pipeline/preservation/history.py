"""Metadata history: each version of a video's title, description and tags as the platform showed it, the diff
between versions, and how a change is recorded (a ``metadata_versions`` row, the info.json as received kept beside
the first, and a ``metadata-changed`` event that keeps the change — large values by SHA-256 — with the catalogue
digests it changes).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pipeline.preservation.clock import iso
from pipeline.preservation.manifest import record_manifest
from pipeline.sources import ytdlp
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.facts import changes
from pipeline.storage.files import atomic_write_json, sha256_file


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value or []]


def metadata_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Field-by-field differences between two metadata versions (empty when equal).

    Titles: old and new. Descriptions: old, new and a unified diff by line.
    Tags: which were added and which removed.
    """
    diff: dict[str, Any] = {}
    if (old.get("title") or "") != (new.get("title") or ""):
        diff["title"] = {"old": old.get("title"), "new": new.get("title")}
    od, nd = old.get("description") or "", new.get("description") or ""
    if od != nd:
        lines = list(difflib.unified_diff(od.splitlines(), nd.splitlines(), "before", "after", lineterm="", n=1))
        diff["description"] = {"old": old.get("description"), "new": new.get("description"), "unified": lines}
    ot, nt = _tags(old.get("platform_tags")), _tags(new.get("platform_tags"))
    if ot != nt:
        diff["platform_tags"] = {"old": ot, "new": nt,
                                 "added": [t for t in nt if t not in ot], "removed": [t for t in ot if t not in nt]}
    return diff


LARGE_FIELD = 2048          # characters: a value longer than this is kept in an event by its SHA-256, not verbatim
MAX_EVENT_DIFF = 32 * 1024  # characters of a unified diff kept in an event (the versions themselves are kept whole)


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def compact_diff(diff: dict[str, Any]) -> dict[str, Any]:
    """The diff as a ``metadata-changed`` event keeps it: small values verbatim, large ones (a 1 MB description)
    by SHA-256 and length — the versions themselves are in ``metadata_versions`` and the dated info.json files,
    byte-exact, and the hashes bind the event to them — and the unified diff capped at ``MAX_EVENT_DIFF``.

    Arguments: diff — from ``metadata_diff``. Returns: the event's form of it.
    """
    out: dict[str, Any] = {}
    for name, d in diff.items():
        d = dict(d)
        for side in ("old", "new"):
            v = d.get(side)
            if isinstance(v, str) and len(v) > LARGE_FIELD:
                d[f"{side}_sha256"], d[f"{side}_chars"] = _sha(v), len(v)
                d.pop(side)
        lines = d.get("unified")
        if isinstance(lines, list) and sum(len(x) + 1 for x in lines) > MAX_EVENT_DIFF:
            kept, size = [], 0
            for line in lines:
                size += len(line) + 1
                if size > MAX_EVENT_DIFF:
                    break
                kept.append(line)
            d["unified"], d["unified_truncated"], d["unified_lines"] = kept, True, len(lines)
        out[name] = d
    return out


def latest_metadata(store: Catalogue, video_id: str) -> dict[str, Any]:
    versions = store.metadata_versions(video_id)
    row = versions[-1] if versions else store.get_video(video_id)
    return {"title": row["title"], "description": row["description"], "platform_tags": _tags(row["platform_tags"])}


@dataclass
class MetadataVersion:
    id: int
    seen_at: str
    title: str | None
    description: str | None
    platform_tags: list[str]
    info_json_path: str | None
    diff: dict[str, Any]   # against the version before (empty for the first)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def history(store: Catalogue, video_id: str) -> list[MetadataVersion]:
    """Every metadata version seen for a video, oldest first, each with its diff from the one before."""
    vid = store.get_video(video_id)["id"]
    out: list[MetadataVersion] = []
    prev: dict[str, Any] | None = None
    for r in store.metadata_versions(vid):
        cur = {"title": r["title"], "description": r["description"], "platform_tags": _tags(r["platform_tags"])}
        out.append(MetadataVersion(r["id"], r["seen_at"], r["title"], r["description"], cur["platform_tags"],
                                   r["info_json_path"], metadata_diff(prev, cur) if prev is not None else {}))
        prev = cur
    return out


def _file_sha(archive: BlobStore | None, rel: str | None) -> str | None:
    if archive is None or rel is None:
        return None
    path = archive.abspath(rel)
    return sha256_file(path) if path.is_file() else None


def record_metadata(store: Catalogue, archive: BlobStore | None, video, info: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    rec = ytdlp._video_record(info, video["source_url"])
    new = {"title": rec.title, "description": rec.description, "platform_tags": rec.platform_tags}
    old = latest_metadata(store, video["id"])
    diff = metadata_diff(old, new)
    if not diff:
        return None
    info_rel = None
    if archive is not None and video["folder"]:
        # The previous info.json stays as it is; each later version gets its own file.
        name = f"info.{now.strftime('%Y%m%dT%H%M%SZ')}.json"
        dest = archive.abspath(video["folder"]) / name
        n = 1
        while dest.exists():
            dest = dest.with_name(f"info.{now.strftime('%Y%m%dT%H%M%SZ')}-{n}.json")
            n += 1
        atomic_write_json(dest, info)
        info_rel = archive.relpath(dest)
    with store.transaction():
        store.add_metadata_version(video["id"], rec.title, rec.description, rec.platform_tags, info_rel, seen_at=iso(now))
        store.set_video_fields(video["id"], title=rec.title, description=rec.description,
                               platform_tags=json.dumps(rec.platform_tags, ensure_ascii=False))
        # The event keeps the change, not the whole values twice (see compact_diff): a 1 MB description edited
        # three times is three small events, each pointing at its version by hash.
        store.add_event("metadata-changed", video_id=video["id"], detail={
            "checked_at": iso(now), "diff": compact_diff(diff), "info_json": info_rel,
            "info_json_sha256": _file_sha(archive, info_rel),
            "version": {"title_sha256": _sha(rec.title), "description_sha256": _sha(rec.description)},
            "facts": changes(store, video["id"])})
    if archive is not None and video["folder"]:
        record_manifest(store, archive, video["id"])
    return diff
