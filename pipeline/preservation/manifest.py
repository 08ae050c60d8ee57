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
from pathlib import Path
from typing import Any

from pipeline.storage.base import BlobStore
from pipeline.storage.locks import video_lock
from pipeline.storage.files import atomic_write_bytes, sha256_file

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


def record_manifest(store, archive: BlobStore, video_id: str) -> dict[str, Any] | None:
    """Hash the video's folder, write manifest.json and record it; nothing new is recorded when nothing changed.

    Under the video's lock, and, on an object store, after bringing in the files other machines wrote to the
    folder: the manifest lists what exists, not only what this machine made.
    """
    with video_lock(store, video_id):
        v = store.get_video(video_id)
        if v["folder"] and hasattr(archive, "fetch_folder"):
            archive.fetch_folder(v["folder"])
        return _record_manifest(store, archive, video_id)


def _record_manifest(store, archive: BlobStore, video_id: str) -> dict[str, Any] | None:
    folder = _video_folder(store, archive, video_id)
    if folder is None or not folder.is_dir():
        return None
    entries = build(folder)
    data = (json.dumps({"video_id": video_id, "files": entries}, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    digest = hashlib.sha256(data).hexdigest()
    last = recorded(store, video_id)
    if last is not None and last.get("manifest_sha256") == digest and (folder / NAME).is_file() \
            and sha256_file(folder / NAME) == digest:
        return last
    atomic_write_bytes(folder / NAME, data)
    if hasattr(archive, "push_folder"):  # an object store: the folder goes where every machine can read it
        archive.push_folder(archive.relpath(folder))
    detail = {"path": archive.relpath(folder / NAME), "manifest_sha256": digest, "files": len(entries)}
    store.set_manifest_record(video_id, detail["path"], digest, len(entries))
    return detail


def load(store, archive: BlobStore, video_id: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """The recorded manifest's entries, or (None, why not) when it is missing or was changed."""
    rec = recorded(store, video_id)
    folder = _video_folder(store, archive, video_id)
    if rec is None or folder is None:
        return None, "no manifest recorded"
    path = folder / NAME
    if path.is_symlink() or not path.is_file():
        return None, f"{archive.relpath(folder)}/{NAME}: the manifest is missing"
    if sha256_file(path) != rec.get("manifest_sha256"):
        return None, f"{archive.relpath(folder)}/{NAME}: the manifest was changed after it was recorded"
    return json.loads(path.read_text(encoding="utf-8"))["files"], ""
