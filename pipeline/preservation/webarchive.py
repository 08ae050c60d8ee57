"""A video's web archive in custody: finding it by the chain, exporting a collection, timestamping its digest.

The WACZ a fetch wrote (``pipeline/capture``) lives in the video's folder as ``capture/<sha256>.wacz``; the
``fetched`` event names it (``detail.capture``: path, SHA-256, size), so the chain, not the folder, says which file
is the capture. ``verify`` checks it with every other file of the manifest; ``export bag`` carries it.

``export_wacz`` writes what ReplayWeb.page and pywb open::

    DIR/collection.wacz          one WACZ holding every video's WARC (indexes merged, pages listed together)
    DIR/videos/<id>.wacz         each video's WACZ byte for byte as archived (checked against the chain first)
    DIR/collection.json          the multi-WACZ listing of those files with their SHA-256 (profile multi-wacz-package)
    DIR/*.tsr                    with a TSA: the RFC 3161 response stamping each file's SHA-256
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from pipeline import __version__
from pipeline.capture.wacz import combine
from pipeline.errors import ClipwatchError, NotFoundError
from pipeline.preservation import timestamp
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.files import atomic_write_bytes, atomic_write_json, sha256_file


class ExportError(ClipwatchError):
    """A web-archive export cannot be written as asked."""


@dataclass
class CaptureRef:
    """The WACZ the chain names for a video."""

    video_id: str
    path: str            # relative to the archive root
    sha256: str
    size: int | None
    event_id: int
    at: str


def capture_of(store: Catalogue, video_id: str) -> CaptureRef | None:
    """The latest WACZ a ``fetched`` event of the video names; None when it has none (archived before capture,
    or from a local file).

    Arguments: store — the catalogue; video_id — an id or unambiguous prefix."""
    vid = store.get_video(video_id)["id"]
    for ev in reversed(store.events(vid)):
        if ev["kind"] != "fetched":
            continue
        try:
            cap = (json.loads(ev["detail"] or "{}") or {}).get("capture") or {}
        except ValueError:
            continue
        if isinstance(cap, dict) and cap.get("path") and cap.get("sha256"):
            return CaptureRef(video_id=vid, path=str(cap["path"]), sha256=str(cap["sha256"]), size=cap.get("size"),
                              event_id=int(ev["id"]), at=str(ev["at"]))
    return None


def checked_path(store: Catalogue, archive: BlobStore, video_id: str) -> tuple[CaptureRef, Path]:
    """The video's WACZ on disk after checking its SHA-256 against the chain.

    Raises: NotFoundError (no capture), ExportError (missing or changed: run ``clipwatch verify``)."""
    ref = capture_of(store, video_id)
    if ref is None:
        raise NotFoundError(f"{video_id}: no web archive was captured for this video (archived before capture, or "
                            "from a local file); `clipwatch ingest URL` again captures one")
    if hasattr(archive, "fetch_folder"):  # an object store: bring the folder to the local cache first
        archive.fetch_folder(ref.path.rsplit("/", 2)[0])
    path = archive.abspath(ref.path)
    if path.is_symlink() or not path.is_file():
        raise ExportError(f"{ref.path}: the web archive is missing; run `clipwatch verify {ref.video_id}`")
    got = sha256_file(path)
    if got != ref.sha256:
        raise ExportError(f"{ref.path}: the web archive was changed after event {ref.event_id} recorded it "
                          f"(SHA-256 {got[:16]}…); run `clipwatch verify {ref.video_id}`")
    return ref, path


@dataclass
class WaczExport:
    """What ``export_wacz`` wrote."""

    path: str
    collection: str
    videos: list[dict[str, Any]] = field(default_factory=list)
    timestamps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "collection": self.collection, "videos": self.videos, "timestamps": self.timestamps}


def _stamp(path: Path, tsa: str) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).digest()
    body, info, signer = timestamp.ask(tsa, digest)
    tsr = path.with_name(path.name + ".tsr")
    atomic_write_bytes(tsr, body)
    return {"file": path.name, "sha256": digest.hex(), "tsr": tsr.name, "signer": signer,
            "gen_time": info["gen_time"].native.isoformat().replace("+00:00", "Z")}


def export_wacz(store: Catalogue, archive: BlobStore, dest: Path, video_ids: Iterable[str],
                tsa: str | None = None) -> WaczExport:
    """Write the videos' web archives as a collection at ``dest`` (a new or empty folder); see the module docstring.

    Arguments: store, archive — the archive; dest — the folder; video_ids — ids or prefixes; tsa — an RFC 3161
    authority's URL: each file's SHA-256 stamped, the response kept beside it as ``.tsr``.
    Returns: a ``WaczExport``. Raises: ExportError, NotFoundError (one line each)."""
    refs = [checked_path(store, archive, v) for v in video_ids]
    if not refs:
        raise ExportError("nothing to export: name at least one video id")
    dest = Path(dest).expanduser().resolve()
    try:
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ExportError(f"{dest} already exists and is not empty; choose a new folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as exc:
        raise ExportError(f"cannot write at {dest}: {exc.strerror or exc}; choose a folder you can write") from exc
    created = datetime.now(timezone.utc)
    out = WaczExport(path=str(dest), collection="collection.wacz")
    try:
        resources: list[dict[str, Any]] = []
        for ref, src in refs:
            name = f"videos/{ref.video_id}.wacz"
            data = src.read_bytes()
            if hashlib.sha256(data).hexdigest() != ref.sha256:  # changed between the check and the copy
                raise ExportError(f"{ref.path}: changed while it was exported; run `clipwatch verify {ref.video_id}`")
            atomic_write_bytes(work / name, data)
            resources.append({"name": f"{ref.video_id}.wacz", "path": name, "hash": f"sha256:{ref.sha256}",
                              "bytes": len(data)})
            out.videos.append({"id": ref.video_id, "path": name, "sha256": ref.sha256, "event": ref.event_id})
        title = f"clipwatch collection of {len(refs)} video(s)"
        atomic_write_bytes(work / out.collection, combine([(r.video_id, p) for r, p in refs], title, created))
        atomic_write_json(work / "collection.json", {
            "profile": "multi-wacz-package", "title": title, "software": f"clipwatch {__version__}",
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": resources})
        if tsa:
            for f in [work / out.collection, *(work / r["path"] for r in resources)]:
                out.timestamps.append(_stamp(f, tsa))
        if dest.exists():  # an empty folder the user made: the files go into it
            for p in work.iterdir():
                p.rename(dest / p.name)
            work.rmdir()
        else:
            work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out

