"""Fixity: prove that the archived originals and derivatives are the bytes that were written.

``verify(store, archive, video_ids)`` re-hashes every original of the chosen videos once per file (streaming
SHA-256, constant memory) and holds it against three witnesses that do not all live in one place: the catalogue's
hash, the file's own content-addressed name (``media/ab/<sha256>.<ext>``), and the ``fetched`` event of each video
holding it (in the hash-chained log). A file published on two pages is one file held by two videos: each video
gets its own result and its own event. Each original gets one event per video:

* ``verified``      the bytes match every witness;
* ``corrupt``       the file is there but its size or SHA-256 differs from a witness (a flipped byte, a truncated
                    copy, or a file swapped together with its catalogue row);
* ``missing-file``  the file is gone.

Derivatives are checked against the video's manifest (see ``manifest``): a changed one is ``corrupt``, a missing
one ``missing-file``, a file the manifest does not list is reported as ``unlisted`` (not a failure). The event
chain is walked first (see ``pipeline.storage.sqlite.chain``); a broken link fails the verification. A read-only
archive is verified without recording anything.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.preservation import manifest
from pipeline.storage.files import Archive, sha256_file, sha256_stream
from pipeline.storage.sqlite.catalogue import Store
from pipeline.storage.sqlite.chain import ChainReport

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
        return self.status in ("ok", "unlisted")  # an unlisted file is reported, not a failure


@dataclass
class VerifyResult:
    files: list[FileCheck] = field(default_factory=list)   # originals (one per video holding each) and problems
    videos: list[str] = field(default_factory=list)
    bytes_hashed: int = 0
    derivatives_checked: int = 0
    chain: ChainReport | None = None
    head: dict[str, Any] = field(default_factory=dict)     # the chain head after this run: id, hash, at
    recorded: bool = True                                  # False: a read-only archive, nothing was written

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files) and (self.chain is None or self.chain.ok)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self.files if not f.ok]

    @property
    def unlisted(self) -> list[FileCheck]:
        return [f for f in self.files if f.status == "unlisted"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"ok": 0, "corrupt": 0, "missing-file": 0}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "videos": self.videos, "bytes_hashed": self.bytes_hashed, "counts": self.counts(),
                "derivatives_checked": self.derivatives_checked, "recorded": self.recorded,
                "chain": self.chain.to_dict() if self.chain else None, "head": self.head,
                "files": [asdict(f) for f in self.files]}


def _hash(archive: Archive, rel: str, on_chunk: Callable[[int], None]) -> tuple[str, int]:
    """Stream the file through SHA-256 from whichever blob store holds it (a local folder, an object store)."""
    with archive.open(rel) as f:
        return sha256_stream(f, on_chunk)


def _check_original(archive: Archive, media, tick: Callable[[int], None]) -> FileCheck:
    rel = media["path"]
    fc = FileCheck(video_id="", path=rel, role="original", status="ok",
                   expected_sha256=media["sha256"], expected_size=media["size"])
    if isinstance(archive, Archive):  # on an object store there are no links (and abspath would download)
        path = archive.abspath(rel)
        if path.is_symlink():
            fc.status, fc.message = "corrupt", f"{rel}: is a symbolic link, not the archived file"
            return fc
    if not archive.exists(rel):
        fc.status, fc.message = "missing-file", f"{rel}: the archived original is missing"
        return fc
    try:
        fc.actual_sha256, fc.actual_size = _hash(archive, rel, tick)
    except OSError as exc:
        fc.status, fc.message = "corrupt", f"{rel}: cannot be read ({exc.strerror or exc})"
        return fc
    name_sha = Path(rel).name.split(".", 1)[0]
    if fc.actual_size != fc.expected_size:
        fc.status = "corrupt"
        fc.message = f"{rel}: size {fc.actual_size:,} bytes, expected {fc.expected_size:,} (truncated or altered)"
    elif fc.actual_sha256 != fc.expected_sha256:
        fc.status = "corrupt"
        fc.message = f"{rel}: SHA-256 {fc.actual_sha256[:16]}… differs from the recorded {fc.expected_sha256[:16]}…"
    elif name_sha != fc.actual_sha256:
        fc.status = "corrupt"
        fc.message = (f"{rel}: SHA-256 {fc.actual_sha256[:16]}… is not the file's content address {name_sha[:16]}…: "
                      "the file was replaced and its catalogue row changed to match")
    return fc


def _against_fetch_events(store: Store, video_id: str, fc: FileCheck) -> FileCheck:
    """Hold one video's view of a file against that video's `fetched` events (what was recorded at fetch time)."""
    out = FileCheck(**{**asdict(fc), "video_id": video_id})
    if not out.ok:
        return out
    events = store.fetched_events(video_id, fc.expected_sha256)
    if not events:
        out.status = "corrupt"
        out.message = (f"{fc.path}: no `fetched` event of {video_id} records SHA-256 {fc.expected_sha256[:16]}…: "
                       "the catalogue names a file this video never fetched")
        return out
    for ev in events:
        d = json.loads(ev["detail"] or "{}")
        if d.get("sha256", fc.actual_sha256) != fc.actual_sha256 or d.get("size", fc.actual_size) != fc.actual_size:
            out.status = "corrupt"
            out.message = (f"{fc.path}: differs from what event {ev['id']} recorded at fetch time "
                           f"(SHA-256 {str(d.get('sha256'))[:16]}…, {d.get('size')} bytes)")
            break
    return out


def _check_derivatives(store: Store, archive: Archive, video_id: str, record: bool) -> tuple[list[FileCheck], int]:
    """Every file of the video's manifest re-hashed; returns the problems and how many files were checked."""

    v = store.get_video(video_id)
    if not v["folder"]:
        return [], 0
    if not isinstance(archive, Archive) and hasattr(archive, "fetch_folder"):
        archive.fetch_folder(v["folder"])  # an object store: files written elsewhere come into the local cache
    entries, why = manifest.load(store, archive, video_id)
    folder = archive.abspath(v["folder"])
    rel_folder = v["folder"]
    if entries is None:
        if why == "no manifest recorded":
            # An archive from before manifests: what is there now becomes the baseline.
            if record and folder.is_dir():
                manifest.record_manifest(store, archive, video_id)
            return [], 0
        return [FileCheck(video_id=video_id, path=f"{rel_folder}/{manifest.NAME}", role="manifest",
                          status="missing-file" if "missing" in why else "corrupt", message=why)], 0
    problems: list[FileCheck] = []
    for name, want in sorted(entries.items()):
        rel = f"{rel_folder}/{name}"
        path = folder / name
        role = _role(name)
        if path.is_symlink() or not path.is_file():
            problems.append(FileCheck(video_id=video_id, path=rel, role=role, status="missing-file",
                                      expected_sha256=want["sha256"], expected_size=want["size"],
                                      message=f"{rel}: {role} file is missing"))
            continue
        got = sha256_file(path)
        if got != want["sha256"]:
            problems.append(FileCheck(video_id=video_id, path=rel, role=role, status="corrupt",
                                      expected_sha256=want["sha256"], actual_sha256=got, expected_size=want["size"],
                                      actual_size=path.stat().st_size,
                                      message=f"{rel}: {role} was changed after it was written (SHA-256 {got[:16]}… "
                                              f"is not the manifest's {want['sha256'][:16]}…)"))
    files, links = manifest.folder_files(folder) if folder.is_dir() else ([], [])
    for f in files:
        name = f.relative_to(folder).as_posix()
        if name not in entries:
            problems.append(FileCheck(video_id=video_id, path=f"{rel_folder}/{name}", role=_role(name), status="unlisted",
                                      message=f"{rel_folder}/{name}: not in the video's manifest (added outside clipwatch?)"))
    for link in links:
        name = link.relative_to(folder).as_posix()
        problems.append(FileCheck(video_id=video_id, path=f"{rel_folder}/{name}", role="link", status="unlisted",
                                  message=f"{rel_folder}/{name}: a symbolic link in the video folder (never followed)"))
    return problems, len(entries)


def _role(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if name.startswith("keyframes/"):
        return "keyframe"
    if base.startswith("transcript"):
        return "transcript"
    if base.startswith("info"):
        return "info.json"
    if base.startswith("thumbnail"):
        return "thumbnail"
    if base == "provenance.json":
        return "provenance"
    if base.startswith("audio"):
        return "audio profile"
    return "derivative"


def resolve_ids(store: Store, video_ids: Iterable[str] | None) -> list[str]:
    """Full ids for what the user named (prefixes allowed); every video when None."""
    if video_ids is None:
        return store.video_ids("archived")
    return [store.get_video(v)["id"] for v in video_ids]


def verify(store: Store, archive: Archive, video_ids: Iterable[str] | None = None, *,
           progress: VerifyProgress | None = None, record: bool = True, derivatives: bool = True,
           chain: bool = True) -> VerifyResult:
    """Walk the event chain, re-hash the originals and derivatives of ``video_ids`` (all when None), record one
    event per video and original (unless the archive is read-only)."""
    record = record and not getattr(store, "readonly", False)
    ids = resolve_ids(store, video_ids)
    result = VerifyResult(videos=ids, recorded=record)
    if chain:
        result.chain = store.chain_report()
    # One check per file, however many videos hold it; then one result per video holding it.
    holders: dict[str, list[str]] = {}
    files: dict[str, Any] = {}
    for vid in ids:
        for m in store.media_for_video(vid):
            holders.setdefault(m["sha256"], []).append(vid)
            files.setdefault(m["sha256"], m)
    total = sum(int(m["size"] or 0) for m in files.values())
    done = 0

    for sha, m in files.items():
        def tick(n: int, _rel: str = m["path"]) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total, _rel)

        base = _check_original(archive, m, tick)
        result.bytes_hashed += base.actual_size or 0
        if base.actual_size is None:  # nothing read: move the bar past it all the same
            tick(int(m["size"] or 0))
        for vid in holders[sha]:
            fc = _against_fetch_events(store, vid, base)
            result.files.append(fc)
            if record:
                kind = "verified" if fc.ok else fc.status
                man = store.manifest_record(vid)
                store.add_event(kind, video_id=vid, media_sha256=sha, detail={
                    **({"manifest_sha256": man["sha256"]} if man is not None else {}),
                    "path": fc.path, "role": fc.role, "expected_sha256": fc.expected_sha256, "actual_sha256": fc.actual_sha256,
                    "expected_size": fc.expected_size, "actual_size": fc.actual_size, **({"message": fc.message} if fc.message else {}),
                })
            if not fc.ok:
                log.info("%s", fc.message)

    if derivatives:
        for vid in ids:
            problems, checked = _check_derivatives(store, archive, vid, record)
            result.derivatives_checked += checked
            for fc in problems:
                result.files.append(fc)
                if record and fc.status != "unlisted":
                    store.add_event(fc.status, video_id=vid, detail={"path": fc.path, "role": fc.role, "message": fc.message,
                                                                     "expected_sha256": fc.expected_sha256,
                                                                     "actual_sha256": fc.actual_sha256})
    hid, hhash, hat = store.chain_head()
    result.head = {"id": hid, "hash": hhash, "at": hat}
    if progress:
        progress(total, total, "")
    return result
