"""A manifest per video: every derivative in its folder with its SHA-256.

``videos/<id>/manifest.json`` lists each file clipwatch wrote for the video — info.json and its later versions,
provenance.json, the thumbnail, keyframes, transcripts in every format, the audio profile when there is one — with
its SHA-256 and size. The manifest's own SHA-256 is kept in the catalogue (``manifests``) and carried by every
``verified`` event, so editing a transcript and the manifest together still shows. ``verify`` re-hashes the files
against it and the bag export copies them against it.

Links are never followed: a symbolic link in a video folder is not part of the manifest (nor of a bag).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.storage import facts
from pipeline.storage.base import BlobStore
from pipeline.storage.files import atomic_write_bytes, sha256_file
from pipeline.storage.locks import video_lock

log = logging.getLogger(__name__)

NAME = "manifest.json"


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(regular files, symbolic links) under ``folder``, without following any link; temp files are left out."""
    files: list[Path] = []
    links: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        for d in list(dirs):
            if (base / d).is_symlink():
                links.append(base / d)
                dirs.remove(d)
        for n in names:
            p = base / n
            if p.is_symlink():
                links.append(p)
            elif n.startswith(".tmp-") or (base == folder and n == NAME):
                continue
            elif p.is_file():
                files.append(p)
    return sorted(files), sorted(links)


def build(folder: Path) -> dict[str, dict[str, Any]]:
    files, _links = folder_files(folder)
    return {f.relative_to(folder).as_posix(): {"sha256": sha256_file(f), "size": f.stat().st_size} for f in files}


def _video_folder(store, archive: BlobStore, video_id: str) -> Path | None:
    v = store.get_video(video_id)
    return archive.abspath(v["folder"]) if v["folder"] else None


def recorded(store, video_id: str) -> dict[str, Any] | None:
    """The recorded manifest of the video: path, manifest_sha256, files (None: none recorded yet)."""
    row = store.manifest_record(video_id)
    return {"path": row["path"], "manifest_sha256": row["sha256"], "files": row["files"]} if row is not None else None


def record_manifest(store, archive: BlobStore, video_id: str, cause: str = "derivatives written") -> dict[str, Any] | None:
    """Hash the video's folder, write manifest.json and record it; nothing new is recorded when nothing changed.

    The manifest's hash and the digests of the video's catalogue rows go into the event chain (an ``attested``
    event, see ``facts``) whenever they changed: every change clipwatch makes to a video ends here. Under the
    video's lock, and, on an object store, after bringing in the files other machines wrote to the folder: the
    manifest lists what exists, not only what this machine made.

    Arguments: store, archive — the archive; video_id — the video; cause — why (kept in the event).
    Returns: the manifest's record, or None when the video has no folder."""
    with video_lock(store, video_id):
        v = store.get_video(video_id)
        if v["folder"] and hasattr(archive, "fetch_folder"):
            archive.fetch_folder(v["folder"])
        return _record_manifest(store, archive, video_id, cause)


def _record_manifest(store, archive: BlobStore, video_id: str, cause: str) -> dict[str, Any] | None:
    folder = _video_folder(store, archive, video_id)
    if folder is None or not folder.is_dir():
        facts.attest(store, video_id, cause=cause)  # the catalogue rows still go under the chain
        return None
    entries = build(folder)
    data = (json.dumps({"video_id": video_id, "files": entries}, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    digest = hashlib.sha256(data).hexdigest()
    last = recorded(store, video_id)
    rel = archive.relpath(folder / NAME)
    if last is not None and last.get("manifest_sha256") == digest and (folder / NAME).is_file() \
            and sha256_file(folder / NAME) == digest:
        facts.attest(store, video_id, cause=cause, manifest={"path": rel, "sha256": digest})
        return last
    atomic_write_bytes(folder / NAME, data)
    if hasattr(archive, "push_folder"):  # an object store: the folder goes where every machine can read it
        archive.push_folder(archive.relpath(folder))
    detail = {"path": archive.relpath(folder / NAME), "manifest_sha256": digest, "files": len(entries)}
    store.set_manifest_record(video_id, detail["path"], digest, len(entries))  # a cache of the chain
    facts.attest(store, video_id, cause=cause, manifest={"path": detail["path"], "sha256": digest})
    return detail


def safe_entry(name: Any) -> bool:
    """True when a manifest entry names a file inside the video's folder: a relative POSIX path with no ``..``,
    no absolute start, no backslash or NUL (a hostile manifest must not make ``verify`` or a bag read elsewhere)."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return False
    parts = name.split("/")
    return all(p not in ("", ".", "..") for p in parts) and ":" not in parts[0]


def parse(data: bytes) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """The entries of a manifest's bytes, or (None, what is wrong with them): never an exception.

    Arguments: data — the bytes of a manifest.json.
    Returns: ({name: {"sha256", "size"}}, "") or (None, reason)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"is not JSON ({exc.__class__.__name__})"
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return None, "is not a clipwatch manifest (no \"files\" object)"
    entries: dict[str, dict[str, Any]] = {}
    for name, want in doc["files"].items():
        if not safe_entry(name):
            return None, f"lists a path outside the video's folder ({name!r}); nothing of it was read"
        if not isinstance(want, dict) or not isinstance(want.get("sha256"), str) or len(want["sha256"]) != 64 \
                or not isinstance(want.get("size"), int) or isinstance(want.get("size"), bool):
            return None, f"has a malformed entry for {name!r} (wants a 64-digit sha256 and an integer size)"
        entries[name] = {"sha256": want["sha256"].lower(), "size": want["size"]}
    return entries, ""


def read_at_source(archive: Any, rel: str) -> bytes | None:
    """The bytes of ``rel`` where the archive keeps them (an object store's object, never its local cache); None
    when there is no such file (a symbolic link counts as none: links are never followed)."""
    if hasattr(archive, "open_stored"):
        if archive.head(rel) is None:
            return None
        with archive.open_stored(rel) as f:
            return f.read()
    path = archive.abspath(rel)
    if path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


@dataclass
class Loaded:
    """A video's manifest as ``verify`` and the bag see it."""
    entries: dict[str, dict[str, Any]] | None   # None: none usable (see status/why)
    folder: str | None                          # the video's folder, relative to the archive root
    status: str = "ok"                          # ok | none | missing-file | corrupt
    why: str = ""
    expected_sha256: str | None = None
    event_id: int | None = None                 # the event that recorded the expected hash (None: the cache)
    note: str = ""                              # e.g. the hash was not in the chain before attested events


def load_checked(store, archive: BlobStore, video_id: str) -> Loaded:
    """The manifest's entries, checked against the hash the latest event recorded for it (the ``manifests`` table
    only for archives from before that, said in ``note``). Never raises on a malformed manifest.

    Arguments: store, archive — the archive; video_id — the video.
    Returns: a ``Loaded``."""

    v = store.get_video(video_id)
    rec = facts.expected(store, v["id"]).get("manifest")
    path_rel = (rec.value or {}).get("path") if rec is not None and isinstance(rec.value, dict) else None
    folder = v["folder"] or (path_rel.rsplit("/", 1)[0] if path_rel else None)
    out = Loaded(entries=None, folder=folder)
    if rec is not None and isinstance(rec.value, dict) and rec.value.get("sha256"):
        out.expected_sha256, out.event_id = rec.value["sha256"], rec.event_id
    else:
        row = store.manifest_record(v["id"])
        if row is None or folder is None:
            out.status, out.why = "none", "no manifest recorded"
            return out
        out.expected_sha256 = row["sha256"]
        out.note = f"{folder}/{NAME}: its hash was {facts.BEFORE}; checked against the catalogue's copy"
    if folder is None:
        out.status, out.why = "missing-file", f"event {out.event_id} recorded a manifest, and the video has no folder now"
        return out
    rel = f"{folder}/{NAME}"
    if path_rel and path_rel != rel:
        out.status = "corrupt"
        out.why = f"{rel}: the video's folder is not the one event {out.event_id} recorded ({path_rel})"
        return out
    data = read_at_source(archive, rel)
    if data is None:
        out.status, out.why = "missing-file", f"{rel}: the manifest is missing"
        return out
    got = hashlib.sha256(data).hexdigest()
    if got != out.expected_sha256:
        by = f"event {out.event_id}" if out.event_id is not None else "the catalogue"
        out.status = "corrupt"
        out.why = (f"{rel}: the manifest was changed after it was recorded (SHA-256 {got[:16]}… is not the "
                   f"{out.expected_sha256[:16]}… that {by} recorded)")
        return out
    entries, why = parse(data)
    if entries is None:
        out.status, out.why = "corrupt", f"{rel}: the manifest {why}"
        return out
    out.entries = entries
    return out


def load(store, archive: BlobStore, video_id: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """The recorded manifest's entries, or (None, why not) when it is missing, malformed or was changed."""
    got = load_checked(store, archive, video_id)
    return got.entries, got.why
