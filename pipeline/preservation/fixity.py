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
chain is walked first (see ``pipeline.storage.chain``); a broken link fails the verification. A read-only
archive is verified without recording anything.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.errors import NotFoundError
from pipeline.preservation import anchors, manifest
from pipeline.storage import facts
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.chain import ChainReport
from pipeline.storage.files import Archive, sha256_stream

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
    anchors: list[Any] = field(default_factory=list)       # receipts and kept heads (anchors.AnchorCheck)
    notes: list[str] = field(default_factory=list)         # what an older archive did not record, and was recorded now

    @property
    def ok(self) -> bool:
        return (all(f.ok for f in self.files) and (self.chain is None or self.chain.ok)
                and all(a.ok for a in self.anchors))

    @property
    def strict_ok(self) -> bool:
        """``ok``, and no file in a video's folder that its manifest does not list (``verify --strict``)."""
        return self.ok and not self.unlisted

    @property
    def rewritten(self) -> list[Any]:
        return [a for a in self.anchors if not a.ok]

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
                "anchors": [a.to_dict() for a in self.anchors], "notes": self.notes,
                "files": [asdict(f) for f in self.files]}


def _hash(archive: BlobStore, rel: str, on_chunk: Callable[[int], None]) -> tuple[str, int]:
    """Stream the file through SHA-256 from whichever blob store holds it (a local folder, an object store)."""
    with archive.open(rel) as f:
        return sha256_stream(f, on_chunk)


def _check_original(archive: BlobStore, media, tick: Callable[[int], None]) -> FileCheck:
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
        actual, fc.actual_size = _hash(archive, rel, tick)
    except OSError as exc:
        fc.status, fc.message = "corrupt", f"{rel}: cannot be read ({exc.strerror or exc})"
        return fc
    fc.actual_sha256 = actual
    expected: str = media["sha256"]  # the catalogue's media rows always carry their hash
    name_sha = Path(rel).name.split(".", 1)[0]
    if fc.actual_size != fc.expected_size:
        fc.status = "corrupt"
        fc.message = f"{rel}: size {fc.actual_size:,} bytes, expected {fc.expected_size:,} (truncated or altered)"
    elif fc.actual_sha256 != fc.expected_sha256:
        fc.status = "corrupt"
        fc.message = f"{rel}: SHA-256 {actual[:16]}… differs from the recorded {expected[:16]}…"
    elif name_sha != fc.actual_sha256:
        fc.status = "corrupt"
        fc.message = (f"{rel}: SHA-256 {actual[:16]}… is not the file's content address {name_sha[:16]}…: "
                      "the file was replaced and its catalogue row changed to match")
    return fc


def _against_fetch_events(store: Catalogue, video_id: str, fc: FileCheck) -> FileCheck:
    """Hold one video's view of a file against that video's `fetched` events (what was recorded at fetch time)."""
    out = FileCheck(**{**asdict(fc), "video_id": video_id})
    if not out.ok:
        return out
    events = store.fetched_events(video_id, fc.expected_sha256) if fc.expected_sha256 else []
    if not events:
        out.status = "corrupt"
        out.message = (f"{fc.path}: no `fetched` event of {video_id} records SHA-256 {(fc.expected_sha256 or '')[:16]}…: "
                       "the catalogue names a file this video never fetched")
        return out
    for ev in events:
        d = _detail(ev)
        if d.get("sha256", fc.actual_sha256) != fc.actual_sha256 or d.get("size", fc.actual_size) != fc.actual_size:
            out.status = "corrupt"
            out.message = (f"{fc.path}: differs from what event {ev['id']} recorded at fetch time "
                           f"(SHA-256 {str(d.get('sha256'))[:16]}…, {d.get('size')} bytes)")
            break
    return out


def _detail(ev: Any) -> dict[str, Any]:
    """An event's detail as a dict ({} when it is not one: the chain's hash still covers what is there)."""
    try:
        d = json.loads(ev["detail"] or "{}")
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _hash_at_source(archive: Any, rel: str) -> tuple[str, int] | None:
    """SHA-256 and size of a derivative where the archive keeps it — on an object store the stored object, never
    this machine's cache; None when it is not there (a symbolic link is not there: links are never followed)."""
    if hasattr(archive, "open_stored"):
        if archive.head(rel) is None:
            return None
        with archive.open_stored(rel) as f:
            return sha256_stream(f)
    path = archive.abspath(rel)
    if path.is_symlink() or not path.is_file():
        return None
    with open(path, "rb") as f:
        return sha256_stream(f)


def _stored_names(archive: Any, rel_folder: str) -> tuple[list[str], list[str]]:
    """(files, symbolic links) in a video's folder, relative to it, as the archive keeps them (the manifest itself
    and temp files left out)."""
    if hasattr(archive, "list_folder"):
        names = [n for n in archive.list_folder(rel_folder)
                 if n and n != manifest.NAME and not n.rsplit("/", 1)[-1].startswith(".tmp-")]
        return names, []
    folder = archive.abspath(rel_folder)
    if folder.is_symlink() or not folder.is_dir():
        return [], []
    files, links = manifest.folder_files(folder)
    return [f.relative_to(folder).as_posix() for f in files], [ln.relative_to(folder).as_posix() for ln in links]


def _check_derivatives(store: Catalogue, archive: BlobStore, video_id: str, record: bool,
                       notes: list[str]) -> tuple[list[FileCheck], int]:
    """Every file of the video's manifest re-hashed at its source; the manifest itself held against the hash the
    latest event recorded for it. Returns the problems (and unlisted files) and how many files were checked."""
    got = manifest.load_checked(store, archive, video_id)
    if got.note:
        notes.append(f"{video_id}: {got.note}")
    rel_folder = got.folder
    if got.entries is None:
        if got.status == "none":
            # An archive from before manifests: what is there now becomes the baseline (said in the notes).
            if record and rel_folder and _stored_names(archive, rel_folder)[0]:
                manifest.record_manifest(store, archive, video_id, cause="baseline: no manifest was recorded before")
                notes.append(f"{video_id}: no manifest was recorded before; the folder as it is now was recorded as "
                             "the baseline")
            return [], 0
        return [FileCheck(video_id=video_id, path=f"{rel_folder}/{manifest.NAME}", role="manifest",
                          status=got.status, expected_sha256=got.expected_sha256, message=got.why)], 0
    assert rel_folder is not None  # load_checked reads entries only from the video's folder
    problems: list[FileCheck] = []
    for name, want in sorted(got.entries.items()):
        rel = f"{rel_folder}/{name}"
        role = _role(name)
        hashed = _hash_at_source(archive, rel)
        if hashed is None:
            problems.append(FileCheck(video_id=video_id, path=rel, role=role, status="missing-file",
                                      expected_sha256=want["sha256"], expected_size=want["size"],
                                      message=f"{rel}: {role} file is missing"))
            continue
        sha, size = hashed
        if sha != want["sha256"]:
            problems.append(FileCheck(video_id=video_id, path=rel, role=role, status="corrupt",
                                      expected_sha256=want["sha256"], actual_sha256=sha, expected_size=want["size"],
                                      actual_size=size,
                                      message=f"{rel}: {role} was changed after it was written (SHA-256 {sha[:16]}… "
                                              f"is not the manifest's {want['sha256'][:16]}…)"))
    files, links = _stored_names(archive, rel_folder)
    for name in files:
        if name not in got.entries:
            problems.append(FileCheck(video_id=video_id, path=f"{rel_folder}/{name}", role=_role(name), status="unlisted",
                                      message=f"{rel_folder}/{name}: not in the video's manifest (added outside clipwatch?)"))
    for name in links:
        problems.append(FileCheck(video_id=video_id, path=f"{rel_folder}/{name}", role="link", status="unlisted",
                                  message=f"{rel_folder}/{name}: a symbolic link in the video folder (never followed)"))
    return problems, len(got.entries)


_FACT_WORDS = {"metadata": "metadata (title, channel, dates, status, folder)", "tags": "tags"}


def _fact_name(key: str) -> str:
    if key.startswith("segments:"):
        return f"{key.split(':', 1)[1]} transcript's lines (text, times, flags)"
    return _FACT_WORDS.get(key, key)


def _check_facts(store: Catalogue, video_id: str, record: bool, notes: list[str]) -> list[FileCheck]:
    """The video's catalogue rows (metadata, transcript lines, tags) against the digests the latest events
    recorded. An archive from before those digests gets them recorded now, and a note says so."""
    exp = {k: r for k, r in facts.expected(store, video_id).items() if k != "manifest"}
    now = facts.flatten(facts.current(store, video_id))
    attested_before = any(e["kind"] == facts.KIND for e in store.events(video_id))
    problems: list[FileCheck] = []
    unrecorded: list[str] = []
    for key in sorted(set(exp) | set(now)):
        table = "segments" if key.startswith("segments:") else ("tags" if key == "tags" else "videos")
        rec = exp.get(key)
        if rec is None:
            if attested_before:
                problems.append(FileCheck(video_id=video_id, path=f"catalogue:{table}", role=key, status="corrupt",
                                          actual_sha256=now[key],
                                          message=f"{video_id}: the {_fact_name(key)} in the catalogue were never "
                                                  "recorded by any event: written outside clipwatch"))
            else:
                unrecorded.append(key)
            continue
        if rec.value is None and key not in now:
            continue  # removed through clipwatch
        if now.get(key) != rec.value:
            state = "are gone from the catalogue" if key not in now else "in the catalogue differ from"
            problems.append(FileCheck(video_id=video_id, path=f"catalogue:{table}", role=key, status="corrupt",
                                      expected_sha256=rec.value, actual_sha256=now.get(key),
                                      message=f"{video_id}: the {_fact_name(key)} {state} what event {rec.event_id} "
                                              f"({rec.at}) recorded: changed outside clipwatch"))
    if unrecorded:
        what = ", ".join(_fact_name(k) for k in unrecorded)
        if record:
            facts.attest(store, video_id, cause="baseline: verify found no recorded digests")
            notes.append(f"{video_id}: {what}: {facts.BEFORE}; recorded now as the baseline")
        else:
            notes.append(f"{video_id}: {what}: {facts.BEFORE} (read-only: not recorded)")
    return problems


def _explained(events: list[Any]) -> bool:
    """True when a `deleted` event (``clipwatch delete --why``) came after the video's last `fetched` event."""
    last_fetch = max((int(e["id"]) for e in events if e["kind"] == "fetched"), default=0)
    return any(e["kind"] == "deleted" and int(e["id"]) > last_fetch for e in events)


def lost_videos(store: Catalogue, known: set[str] | None = None) -> list[tuple[str, Any]]:
    """Videos a `fetched` event says were archived that the catalogue no longer has, with no event explaining it.

    Arguments: store — the catalogue; known — the catalogue's video ids (read when None).
    Returns: [(video id, its last `fetched` event)]."""
    
    known = set(store.video_ids()) if known is None else known
    fetched: dict[str, Any] = {}
    for ev in store.events_of_kind("fetched"):
        if ev["video_id"] and ev["video_id"] not in known:
            fetched[ev["video_id"]] = ev
    return [(vid, ev) for vid, ev in sorted(fetched.items()) if not _explained(store.events(vid))]


def _lost_check(vid: str, ev: Any) -> FileCheck:
    d = _detail(ev)
    return FileCheck(video_id=vid, path=f"videos/{vid}", role="video", status="missing-file",
                     expected_sha256=ev["media_sha256"], expected_size=d.get("size"),
                     message=f"{vid}: event {ev['id']} ({ev['at']}) archived it, and it is gone from the catalogue; "
                             f"no event explains it (a deliberate removal is `clipwatch delete {vid} --why …`)")


def _chain_originals(store: Catalogue, archive: BlobStore, vid: str, listed: set[str], tick) -> list[FileCheck]:
    """The originals the video's `fetched` events name that its catalogue rows no longer list: each a problem,
    with what is at the event's path now."""
    out = []
    for ev in store.events(vid):
        sha = ev["media_sha256"]
        if ev["kind"] != "fetched" or not sha or sha in listed:
            continue
        listed.add(sha)
        d = _detail(ev)
        rel = d.get("media_path") if isinstance(d.get("media_path"), str) else None
        what = ""
        if rel and rel.startswith("media/") and ".." not in rel.split("/"):
            fc = _check_original(archive, {"path": rel, "sha256": sha, "size": d.get("size")}, tick)
            what = {"ok": "; the file at its path is still intact",
                    "missing-file": "; the file at its path is gone"}.get(fc.status, f"; {fc.message}")
        out.append(FileCheck(video_id=vid, path=rel or "?", role="original", status="corrupt", expected_sha256=sha,
                             expected_size=d.get("size"),
                             message=f"{rel or sha[:16]}: the original event {ev['id']} ({ev['at']}) fetched "
                                     f"(SHA-256 {sha[:16]}…) is no longer among {vid}'s catalogue rows: they were "
                                     f"changed outside clipwatch{what}"))
    return out


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
    if name.startswith("capture/") and base.endswith(".wacz"):
        return "web archive (WACZ)"
    if base == "provenance.json":
        return "provenance"
    if base.startswith("audio"):
        return "audio profile"
    return "derivative"


def resolve_ids(store: Catalogue, video_ids: Iterable[str] | None) -> list[str]:
    """Full ids for what the user named (prefixes allowed); every video when None."""
    if video_ids is None:
        return store.video_ids("archived")
    return [store.get_video(v)["id"] for v in video_ids]


def _resolve(store: Catalogue, video_ids: Iterable[str] | None) -> tuple[list[str], list[tuple[str, Any]]]:
    """(catalogued ids to verify, lost videos): a named id the catalogue lost but the chain knows is lost, not
    'no such video'."""
    if video_ids is None:
        ids = store.video_ids("archived")
        return ids, lost_videos(store)
    ids, lost = [], []
    for v in video_ids:
        try:
            ids.append(store.get_video(v)["id"])
        except NotFoundError:
            events = [e for e in store.events(v) if e["kind"] == "fetched"]
            if not events:
                raise
            if not _explained(store.events(v)):
                lost.append((v, events[-1]))
    return ids, lost


_READ_FAULTS = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError)


def verify(store: Catalogue, archive: BlobStore, video_ids: Iterable[str] | None = None, *,
           progress: VerifyProgress | None = None, record: bool = True, derivatives: bool = True,
           chain: bool = True, heads: Iterable[tuple[int, str]] = (), receipts: bool = True) -> VerifyResult:
    """Walk the event chain and hold it against the receipts and kept heads; re-hash the originals and derivatives
    of ``video_ids`` (all when None, and then also notice videos the chain knows and the catalogue lost); hold
    their catalogue rows against the digests the latest events recorded; record one event per video and original
    (unless the archive is read-only).

    Arguments: store, archive — the archive; video_ids — ids or prefixes (None: every video); progress — called
        with (bytes done, bytes total, file); record — write events; derivatives — check the video folders; chain —
        walk the chain; heads — (event id, hash) pairs the user kept; receipts — check stored RFC 3161 receipts.
    Returns: a VerifyResult (``ok`` false on any problem; ``strict_ok`` also on unlisted files)."""
    record = record and not getattr(store, "readonly", False)
    ids, lost = _resolve(store, video_ids)
    result = VerifyResult(videos=ids + [v for v, _ in lost], recorded=record)
    if chain:
        result.chain = store.chain_report()
    heads = list(heads)
    if heads:
        result.anchors.extend(anchors.check_heads(store, heads))
    if receipts:
        result.anchors.extend(anchors.check_receipts(store, archive))
    for vid, ev in lost:
        fc = _lost_check(vid, ev)
        result.files.append(fc)
        if record:
            store.add_event("missing-file", video_id=vid, media_sha256=ev["media_sha256"],
                            detail={"path": fc.path, "role": fc.role, "message": fc.message, "fetched_event": ev["id"]})
    # One check per file, however many videos hold it; then one result per video holding it.
    holders: dict[str, list[str]] = {}
    files: dict[str, Any] = {}
    for vid in ids:
        for m in store.media_for_video(vid):
            holders.setdefault(m["sha256"], []).append(vid)
            files.setdefault(m["sha256"], m)
    total = sum(int(m["size"] or 0) for m in files.values())
    done = 0

    def tick_for(rel: str) -> Callable[[int], None]:
        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total, rel)
        return tick

    for sha, m in files.items():
        tick = tick_for(m["path"])
        base = _check_original(archive, m, tick)
        result.bytes_hashed += base.actual_size or 0
        if base.actual_size is None:  # nothing read: move the bar past it all the same
            tick(int(m["size"] or 0))
        for vid in holders[sha]:
            fc = _against_fetch_events(store, vid, base)
            result.files.append(fc)
            if record:
                kind = "verified" if fc.ok else fc.status
                man = facts.expected(store, vid).get("manifest")
                man_sha = man.value.get("sha256") if man is not None and isinstance(man.value, dict) else None
                store.add_event(kind, video_id=vid, media_sha256=sha, detail={
                    **({"manifest_sha256": man_sha} if man_sha else {}),
                    "path": fc.path, "role": fc.role, "expected_sha256": fc.expected_sha256, "actual_sha256": fc.actual_sha256,
                    "expected_size": fc.expected_size, "actual_size": fc.actual_size, **({"message": fc.message} if fc.message else {}),
                })
            if not fc.ok:
                log.info("%s", fc.message)

    for vid in ids:
        problems: list[FileCheck] = []
        try:
            problems += _chain_originals(store, archive, vid, {m["sha256"] for m in store.media_for_video(vid)},
                                         tick_for(vid))
            problems += _check_facts(store, vid, record, result.notes)
            if derivatives:
                found, checked = _check_derivatives(store, archive, vid, record, result.notes)
                problems += found
                result.derivatives_checked += checked
        except _READ_FAULTS as exc:  # whatever a hostile row or file holds: a finding for this video, then the next
            problems.append(FileCheck(video_id=vid, path=f"videos/{vid}", role="video", status="corrupt",
                                      message=f"{vid}: could not be checked ({exc.__class__.__name__}: {exc}); "
                                              "a row or file was changed outside clipwatch"))
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
