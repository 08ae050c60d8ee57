"""Sweep what a crash (kill -9, power loss) left behind, at the start of a run; every removal is logged.

* ``.incoming`` temp files and fetch folders whose process is gone (their names carry the writer's PID; an entry
  without one, from an older version, once it is an hour old);
* ``.tmp-`` files left by an interrupted atomic write in a video folder, once they are an hour old;
* orphaned originals: a file under ``media/`` that no catalogue row names (stored just before a crash, before the
  catalogue commit). A re-run of the same ingest links it again (the bytes are found in place); one still orphaned
  after ``orphan_age`` is moved to ``orphans/`` (never deleted) and recorded as a ``swept`` event.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.storage.base import BlobStore
from pipeline.storage.locks import process_alive

log = logging.getLogger(__name__)

_PID = re.compile(r"^(?:\.tmp-|fetch-)(\d+)-")


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)   # temp files and folders
    orphans: list[str] = field(default_factory=list)   # originals moved to orphans/

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stale(p: Path, now: float, age: float) -> bool:
    m = _PID.match(p.name)
    if m:
        return not process_alive(int(m.group(1)))
    try:
        return now - p.lstat().st_mtime > age
    except OSError:
        return False


def sweep_incoming(root: Path, *, temp_age: float = 3600.0, now: float | None = None) -> list[str]:
    """Only the temp files and fetch folders of dead processes under ``root`` (one folder listing, no catalogue):
    what a worker runs before each download, since another of its flow runs may have been killed mid-fetch."""
    now = time.time() if now is None else now
    removed = []
    for incoming in (root / ".incoming", root / "media" / ".incoming"):
        if not incoming.is_dir():
            continue
        for p in sorted(incoming.iterdir()):
            if not _stale(p, now, temp_age):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p.relative_to(root).as_posix())
    return removed


def sweep(store, archive: BlobStore, *, temp_age: float = 3600.0, orphan_age: float = 600.0,
          now: float | None = None) -> SweepReport:
    now = time.time() if now is None else now
    rep = SweepReport(removed=sweep_incoming(archive.root, temp_age=temp_age, now=now))
    root = archive.root
    videos = root / "videos"
    if videos.is_dir():
        for p in videos.rglob(".tmp-*"):
            if p.is_file() and not p.is_symlink() and _stale(p, now, temp_age):
                p.unlink(missing_ok=True)
                rep.removed.append(p.relative_to(root).as_posix())
    media = root / "media"
    if media.is_dir() and not getattr(store, "readonly", False):
        known = {r["path"] for r in store.media_rows()}
        for p in sorted(media.glob("??/*")):
            rel = p.relative_to(root).as_posix()
            if rel in known or not p.is_file() or p.is_symlink():
                continue
            if now - p.stat().st_mtime < orphan_age:
                continue  # maybe a fetch in another process, about to be catalogued
            dest = root / "orphans" / p.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            rep.orphans.append(rel)
            store.add_event("swept", detail={"path": rel, "moved_to": dest.relative_to(root).as_posix(),
                                             "size": dest.stat().st_size,
                                             "reason": "an original no catalogue row names (left by an interrupted fetch)"})
    for what in rep.removed:
        log.warning("swept a temporary file left by an interrupted run: %s", what)
    for what in rep.orphans:
        log.warning("moved an orphaned original (no catalogue row) to orphans/: %s", what)
    return rep
