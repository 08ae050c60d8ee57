"""One lock per video, held by whichever process (on whichever machine) records that video's facts.

Two machines ingesting the same URL at once on one shared catalogue must end with one record: one ``fetched``
event, one metadata version, and a manifest that lists every derivative either of them made. Each of those is a
read-then-write ("is it recorded yet? then record it"), so it runs under ``video_lock``:

* PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) keyed by the video id — every machine sharing
  the database sees it, and it is released when the connection ends, so a machine killed mid-ingest never leaves
  it held;
* SQLite: an exclusive ``flock`` on a small file beside the database (``locks/<video id>.lock``) — every process
  sharing the file sees it, and the kernel releases it when the process dies.

The lock is re-entrant within one catalogue object (nested ``with`` blocks for the same video are fine).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)
_held: dict[tuple[int, str], int] = {}


def _key(video_id: str) -> int:
    """A signed 64-bit advisory-lock key for a video id (stable across machines and Python versions)."""
    return int.from_bytes(hashlib.sha256(f"clipwatch-video:{video_id}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def video_lock(store: Any, video_id: str) -> Iterator[None]:
    """Hold the video's lock for the block (waits while another process holds it).

    Arguments: store — the catalogue (SQLite ``Store`` or ``PostgresCatalogue``); video_id — the video's id.
    """
    ident = (id(store), video_id)
    if _held.get(ident):
        _held[ident] += 1
        try:
            yield
        finally:
            _held[ident] -= 1
        return
    if getattr(store, "backend", None) == "postgresql":
        key = _key(video_id)
        store.conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        _held[ident] = 1
        try:
            yield
        finally:
            _held.pop(ident, None)
            store.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    path = getattr(store, "path", None)
    if path is None or getattr(store, "readonly", False):
        yield  # nothing shared to lock against (an in-memory or read-only catalogue)
        return
    import fcntl

    folder = Path(path).parent / "locks"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", video_id)[:120] + "-" + hashlib.sha256(video_id.encode()).hexdigest()[:8]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        # A catalogue whose folder cannot take a lock file can still be written (SQLite serialises the writes);
        # only the cross-process guarantee is lost, and the log says so.
        log.warning("no lock for %s beside %s (%s): concurrent ingests of it are not serialised", video_id, path, exc)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[ident] = 1
        try:
            yield
        finally:
            _held.pop(ident, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a pid of 0 or less never does: ``kill(0, …)`` would
    signal our own process group).

    Arguments: pid — a process id, e.g. from a temporary file's name or a recorder's status file.
    Returns: True when it exists (also when it belongs to another user).
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
