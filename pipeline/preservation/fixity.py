"""Fixity: prove that the archived originals are the bytes that were fetched.

``verify(store, archive, video_ids)`` re-hashes every original media file of the
chosen videos (streaming SHA-256, constant memory) and compares it with the hash
recorded at fetch time, which is also the file's content address. Each file gets
one event in the chain of custody:

* ``verified``      the bytes match;
* ``corrupt``       the file is there but its size or SHA-256 differs (a flipped
                    byte, a truncated copy);
* ``missing-file``  the file is gone.

Derivatives (keyframes, transcripts) have no recorded hash; their presence is
checked and a missing one is reported (and recorded) as ``missing-file`` too.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.storage.files import Archive, sha256_file
from pipeline.storage.sqlite.catalogue import Store

log = logging.getLogger(__name__)

# done bytes, total bytes, the file being hashed (relative path)
VerifyProgress = Callable[[int, int, str], None]


@dataclass
class FileCheck:
    video_id: str
    path: str                       # relative to the archive root
    role: str                       # original | keyframe | transcript
    status: str                     # ok | corrupt | missing-file
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    expected_size: int | None = None
    actual_size: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class VerifyResult:
    files: list[FileCheck] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self.files if not f.ok]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"ok": 0, "corrupt": 0, "missing-file": 0}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "videos": self.videos, "bytes_hashed": self.bytes_hashed, "counts": self.counts(),
                "files": [asdict(f) for f in self.files]}


def _hash(path: Path, on_chunk: Callable[[int], None]) -> tuple[str, int]:
    size = 0

    def tick(n: int) -> None:
        nonlocal size
        size += n
        on_chunk(n)

    return sha256_file(path, tick), size


def _check_original(archive: Archive, media, tick: Callable[[int], None]) -> FileCheck:
    rel = media["path"]
    fc = FileCheck(video_id=media["video_id"], path=rel, role="original", status="ok",
                   expected_sha256=media["sha256"], expected_size=media["size"])
    path = archive.abspath(rel)
    if not path.is_file():
        fc.status, fc.message = "missing-file", f"{rel}: the archived original is missing"
        return fc
    try:
        fc.actual_sha256, fc.actual_size = _hash(path, tick)
    except OSError as exc:
        fc.status, fc.message = "corrupt", f"{rel}: cannot be read ({exc.strerror or exc})"
        return fc
    if fc.actual_size != fc.expected_size:
        fc.status = "corrupt"
        fc.message = f"{rel}: size {fc.actual_size:,} bytes, expected {fc.expected_size:,} (truncated or altered)"
    elif fc.actual_sha256 != fc.expected_sha256:
        fc.status = "corrupt"
        fc.message = f"{rel}: SHA-256 {fc.actual_sha256[:16]}… differs from the recorded {fc.expected_sha256[:16]}…"
    return fc


def _derivatives(store: Store, video_id: str) -> Iterable[tuple[str, str]]:
    for r in store.db.execute("SELECT path FROM keyframes WHERE video_id = ? ORDER BY time", (video_id,)):
        yield "keyframe", r["path"]
    for r in store.db.execute("SELECT path FROM transcripts WHERE video_id = ? AND path IS NOT NULL", (video_id,)):
        yield "transcript", r["path"]


def resolve_ids(store: Store, video_ids: Iterable[str] | None) -> list[str]:
    """Full ids for what the user named (prefixes allowed); every video when None."""
    if video_ids is None:
        return [r["id"] for r in store.db.execute("SELECT id FROM videos ORDER BY archived_at, id")]
    return [store.get_video(v)["id"] for v in video_ids]


def verify(store: Store, archive: Archive, video_ids: Iterable[str] | None = None, *,
           progress: VerifyProgress | None = None, record: bool = True, derivatives: bool = True) -> VerifyResult:
    """Re-hash the originals of ``video_ids`` (all videos when None) and record one event per file."""
    ids = resolve_ids(store, video_ids)
    result = VerifyResult(videos=ids)
    media_rows = []
    for vid in ids:
        media_rows.extend(store.db.execute("SELECT * FROM media_files WHERE video_id = ? ORDER BY fetched_at", (vid,)).fetchall())
    total = sum(int(m["size"] or 0) for m in media_rows)
    done = 0

    for m in media_rows:
        def tick(n: int, _rel: str = m["path"]) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total, _rel)

        fc = _check_original(archive, m, tick)
        result.bytes_hashed += fc.actual_size or 0
        if fc.actual_size is None:  # nothing read: move the bar past it all the same
            tick(int(m["size"] or 0))
        result.files.append(fc)
        if record:
            kind = "verified" if fc.ok else fc.status
            store.add_event(kind, video_id=fc.video_id, media_sha256=m["sha256"], detail={
                "path": fc.path, "role": fc.role, "expected_sha256": fc.expected_sha256, "actual_sha256": fc.actual_sha256,
                "expected_size": fc.expected_size, "actual_size": fc.actual_size, **({"message": fc.message} if fc.message else {}),
            })
        if not fc.ok:
            log.info("%s", fc.message)

    if derivatives:
        for vid in ids:
            for role, rel in _derivatives(store, vid):
                if archive.abspath(rel).is_file():
                    continue
                fc = FileCheck(video_id=vid, path=rel, role=role, status="missing-file", message=f"{rel}: {role} file is missing")
                result.files.append(fc)
                if record:
                    store.add_event("missing-file", video_id=vid, detail={"path": rel, "role": role, "message": fc.message})
    if progress:
        progress(total, total, "")
    return result
