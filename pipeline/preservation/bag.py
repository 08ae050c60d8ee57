"""Hand a collection over: BagIt bags (RFC 8493) and catalogue exports (CSV / JSON).

``export_bag(store, archive, dest, video_ids)`` writes a bag whose payload is::

    data/provenance.json                 the bag's story: what was selected, and every video's event log
    data/catalogue.json                  one citable record per video (URL, upload date, archive date, SHA-256…)
    data/videos/<id>/provenance.json     the video's record, its media files with their fetch provenance,
                                         metadata versions, derivatives with the tools that made them, events
    data/videos/<id>/original/<sha256>.<ext>   the original media, byte for byte
    data/videos/<id>/...                 info.json (and later versions), thumbnail, keyframes/, transcripts
    data/videos/<id>/fetch-provenance.json     the provenance.json written at fetch time

with a SHA-256 manifest made and checked by the ``bagit`` library. The bag is
built beside ``dest`` and renamed into place once it validates, so ``dest`` is
either a whole, valid bag or absent. Originals are re-hashed while copied: a
file whose bytes no longer match its recorded SHA-256 stops the export (run
``clipwatch verify``). Each exported video gets an ``exported`` event.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline import __version__, csvsafe
from pipeline.domain import utcnow
from pipeline.errors import ClipwatchError, NotFoundError
from pipeline.preservation import manifest
from pipeline.preservation.anchors import list_receipts
from pipeline.search.facade import MAX_LIMIT, SearchQuery, search
from pipeline.storage.base import BlobStore, Catalogue
from pipeline.storage.files import CHUNK, atomic_write_bytes, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

# videos done, videos total, current video id
BagProgress = Callable[[int, int, str], None]

CATALOGUE_FIELDS = (
    "id", "title", "channel", "channel_url", "uploader", "upload_date", "duration", "language", "webpage_url", "source_url",
    "status", "status_kind", "status_reason", "status_changed_at", "last_checked_at", "archived_at",
    "sha256", "size", "media_path", "container", "video_codec", "audio_codec", "width", "height",
    "fetched_at", "fetcher", "fetcher_version", "clipwatch_version", "final_url", "platform_tags", "categories", "tags",
)


class ExportError(ClipwatchError):
    """An export cannot be written as asked."""


@dataclass
class BagResult:
    path: str
    bag_id: str
    videos: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    valid: bool = False
    skipped: list[str] = field(default_factory=list)   # what was not carried, and why (links are never followed)
    unlisted: list[str] = field(default_factory=list)  # carried, though the video's manifest does not list them
    chain_head: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- selection ------------------------------------------------------------------

def select_videos(store: Catalogue, *, channel: str | None = None, query: str | None = None,
                  video_ids: Iterable[str] | None = None, archive_dir: Path | None = None) -> list[str]:
    """Ids of the videos to export: named ids, or a channel, or a search query (all videos when none is given)."""
    ids: list[str] = []
    if video_ids:
        ids = [store.get_video(v)["id"] for v in video_ids]
    elif query:
        ids = _query_ids(store, query, channel, archive_dir)
    elif channel:
        ids = store.video_ids_by_channel(channel)
        if not ids:
            raise NotFoundError(f"no archived video from channel {channel!r}; `clipwatch list` shows the channels")
    else:
        ids = store.video_ids("upload")
    return list(dict.fromkeys(ids))  # first occurrence of each, in order


def _query_ids(store: Catalogue, query: str, channel: str | None, archive_dir: Path | None) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        res = search(store, SearchQuery(text=query, channel=channel, limit=MAX_LIMIT, cursor=cursor), archive_dir=archive_dir)
        ids.extend(g.video_id for g in res.videos)
        cursor = res.next_cursor
        if not cursor:
            break
    # Titles count too: a scholar exporting "deterrent" expects the video titled so.
    ids.extend(i for i in store.video_ids_by_title(query) if not channel or store.get_video(i)["channel"] == channel)
    return ids


# -- catalogue --------------------------------------------------------------------

def catalogue_rows(store: Catalogue, video_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One citable record per video, newest upload first: where it came from, when, and the SHA-256 of the copy."""
    if video_ids is None:
        videos = store.list_videos(limit=1_000_000_000)
    else:
        videos = [store.get_video(v) for v in video_ids]
    rows = []
    for v in videos:
        m = store.media_file(v["media_sha256"], v["id"]) if v["media_sha256"] else None
        tags = {t["category"]: round(float(t["score"]), 3) for t in store.tags(v["id"]) if t["decision"]}
        rows.append({
            **{k: v[k] for k in ("id", "title", "channel", "channel_url", "uploader", "upload_date", "duration", "language",
                                 "webpage_url", "source_url", "status", "status_kind", "status_reason", "status_changed_at",
                                 "last_checked_at", "archived_at")},
            "sha256": v["media_sha256"],
            **({k: m[k] for k in ("size", "container", "video_codec", "audio_codec", "width", "height", "fetched_at",
                                  "fetcher", "fetcher_version", "clipwatch_version", "final_url")} if m else
               dict.fromkeys(("size", "container", "video_codec", "audio_codec", "width", "height", "fetched_at",
                              "fetcher", "fetcher_version", "clipwatch_version", "final_url"))),
            "media_path": m["path"] if m else None,
            "platform_tags": json.loads(v["platform_tags"] or "[]"),
            "categories": json.loads(v["categories"] or "[]"),
            "tags": tags,
        })
    return rows


def catalogue_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csvsafe.DictWriter(buf, fieldnames=list(CATALOGUE_FIELDS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        flat = dict(r)
        flat["platform_tags"] = "; ".join(r.get("platform_tags") or [])
        flat["categories"] = "; ".join(r.get("categories") or [])
        flat["tags"] = "; ".join(f"{k}:{v}" for k, v in (r.get("tags") or {}).items())
        w.writerow(flat)
    return buf.getvalue()


def export_catalogue(store: Catalogue, dest: Path, fmt: str, video_ids: Iterable[str] | None = None) -> int:
    """Write the catalogue as CSV or JSON (atomically); returns the number of videos."""
    if fmt not in ("csv", "json"):
        raise ExportError(f"unknown catalogue format {fmt!r}; use csv or json")
    rows = catalogue_rows(store, video_ids)
    dest = Path(dest)
    if fmt == "csv":
        atomic_write_text(dest, catalogue_csv(rows))
    else:
        atomic_write_text(dest, json.dumps(rows, ensure_ascii=False, indent=2, default=str) + "\n")
    return len(rows)


# -- provenance ---------------------------------------------------------------------

def _row(r) -> dict[str, Any]:
    return {k: r[k] for k in r.keys()}


def _event(e) -> dict[str, Any]:
    return {"id": e["id"], "at": e["at"], "kind": e["kind"], "media_sha256": e["media_sha256"],
            "source_id": e["source_id"], "detail": json.loads(e["detail"] or "{}")}


def video_provenance(store: Catalogue, archive: BlobStore, video_id: str) -> dict[str, Any]:
    """Everything that says where a video's copy came from and what has happened to it since."""
    v = store.get_video(video_id)
    vid = v["id"]
    media = []
    for m in store.media_for_video(vid):
        d = _row(m)
        d["http_headers"] = json.loads(m["http_headers"] or "{}")
        media.append(d)
    fetch_prov = None
    if v["folder"] and (archive.abspath(v["folder"]) / "provenance.json").is_file():
        fetch_prov = json.loads((archive.abspath(v["folder"]) / "provenance.json").read_text(encoding="utf-8"))
    source = store.source(v["source_id"]) if v["source_id"] else None
    return {
        "video": _row(v) | {"categories": json.loads(v["categories"] or "[]"), "platform_tags": json.loads(v["platform_tags"] or "[]")},
        "source": _row(source) if source else None,
        "media_files": media,
        "fetch": fetch_prov,
        "metadata_versions": [_row(r) | {"platform_tags": json.loads(r["platform_tags"] or "[]")} for r in
                              store.metadata_versions(vid)],
        "derivatives": {
            "keyframes": [{k: r[k] for k in ("shot_index", "time", "path", "detector", "tool_version", "media_sha256")}
                          for r in store.keyframes(vid)],
            "transcripts": [{k: r[k] for k in ("kind", "language", "model", "engine", "engine_version", "created_at", "path", "media_sha256")}
                            for r in store.transcript_rows(vid)],
            "tags": [{k: r[k] for k in ("category", "score", "decision", "origin", "model_version", "created_at")} | {
                "evidence": json.loads(r["evidence"] or "[]")} for r in store.tags(vid)],
        },
        "events": [_event(e) for e in store.events(vid)],
    }


# -- bag ------------------------------------------------------------------------------

def _open_nofollow(src: Path):
    """Open a file for reading, refusing a symbolic link (O_NOFOLLOW): a bag never carries what a link points to."""
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(fd, "rb")


def _copy_checked(src: Path, dest: Path, expected_sha256: str, what: str = "original") -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    with _open_nofollow(src) as f, open(dest, "wb") as out:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if h.hexdigest() != expected_sha256:
        raise ExportError(f"{src}: its SHA-256 no longer matches the {what}'s recorded {expected_sha256[:16]}…; "
                          "nothing was exported — run `clipwatch verify` and restore the file from a backup")
    return size


def _carry_receipts(archive: BlobStore, work: Path) -> int:
    """Copy the chain's RFC 3161 receipts into the bag (``data/chain/timestamps``): anchors outside the database
    travel with the collection. Returns how many."""
    n = 0
    for rel in list_receipts(archive):
        body = manifest.read_at_source(archive, rel)
        if body is not None:
            atomic_write_bytes(work / rel, body)
            n += 1
    return n


def export_bag(store: Catalogue, archive: BlobStore, dest: Path, video_ids: Iterable[str], *, selection: str = "",
               organization: str | None = None, progress: BagProgress | None = None, validate: bool = True,
               include_unlisted: bool = False) -> BagResult:
    """Write the videos, their derivatives and provenance as a BagIt bag at ``dest`` (which must not exist).

    A file in a video's folder that its manifest does not list is left out (and said so in ``skipped``) unless
    ``include_unlisted``; the chain's RFC 3161 receipts go under ``data/chain/timestamps``."""
    import bagit  # heavy (~0.7 s): only when a bag is exported

    ids = [store.get_video(v)["id"] for v in video_ids]
    if not ids:
        raise ExportError("nothing to export: the selection matched no archived video")
    dest = Path(dest).expanduser().resolve()
    try:
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ExportError(f"{dest} already exists; choose a new folder for the bag")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as exc:
        raise ExportError(f"cannot write a bag at {dest}: {exc.strerror or exc}; choose a folder you can write") from exc
    bag_id = f"urn:uuid:{uuid.uuid4()}"
    created = utcnow()
    result = BagResult(path=str(dest), bag_id=bag_id, videos=ids)
    try:
        hid, hhash, hat = store.chain_head()
        result.chain_head = {"id": hid, "hash": hhash, "at": hat}
        provenance: dict[str, Any] = {"bag_id": bag_id, "created_at": created, "clipwatch_version": __version__,
                                      "selection": selection, "event_chain_head": result.chain_head, "videos": {}}
        for n, vid in enumerate(ids):
            if progress:
                progress(n, len(ids), vid)
            vdir = work / "videos" / vid
            folder_rel = store.get_video(vid)["folder"]
            if folder_rel and hasattr(archive, "fetch_folder"):
                # an object store: the video's files (written by other workers, or on another machine) come into the
                # local cache first; the originals come, verified, when their paths are asked for
                archive.fetch_folder(folder_rel)
            prov = video_provenance(store, archive, vid)
            for m in prov["media_files"]:
                src = archive.abspath(m["path"])
                if src.is_symlink():
                    raise ExportError(f"{vid}: the original {m['path']} is a symbolic link, not the archived file; "
                                      "nothing was exported — run `clipwatch verify`")
                if not src.is_file():
                    raise ExportError(f"{vid}: the original {m['path']} is missing; nothing was exported — run `clipwatch verify`")
                rel = Path("videos") / vid / "original" / Path(m["path"]).name
                result.bytes += _copy_checked(src, work / rel, m["sha256"])
                m["bag_path"] = "data/" + rel.as_posix()
            folder = archive.abspath(prov["video"]["folder"]) if prov["video"]["folder"] else None
            if folder and folder.is_dir() and not folder.is_symlink():
                entries, why = manifest.load(store, archive, vid)
                if entries is None and why != "no manifest recorded":
                    raise ExportError(f"{vid}: {why}; nothing was exported — run `clipwatch verify`")
                files, links = manifest.folder_files(folder)
                for link in links:
                    result.skipped.append(f"{archive.relpath(link.parent)}/{link.name}: a symbolic link (never followed)")
                for f in files:
                    rel = f.relative_to(folder).as_posix()
                    target = vdir / ("fetch-provenance.json" if rel == "provenance.json" else rel)
                    if entries is not None and rel not in entries:
                        if not include_unlisted:  # nothing vouches for it: planted files stay out unless asked for
                            result.skipped.append(f"{prov['video']['folder']}/{rel}: not in the video's manifest "
                                                  "(left out; --include-unlisted carries it)")
                            continue
                        # Carried, but said: no hash was recorded for it when it was written.
                        result.unlisted.append(f"{prov['video']['folder']}/{rel}")
                    if entries is not None and rel in entries:
                        result.bytes += _copy_checked(f, target, entries[rel]["sha256"], what=f"{rel} manifest entry")
                    else:
                        with _open_nofollow(f) as fin:
                            target.parent.mkdir(parents=True, exist_ok=True)
                            with open(target, "wb") as out:
                                shutil.copyfileobj(fin, out, CHUNK)
                        result.bytes += target.stat().st_size
                if (folder / manifest.NAME).is_file() and not (folder / manifest.NAME).is_symlink():
                    shutil.copyfile(folder / manifest.NAME, vdir / manifest.NAME)
            atomic_write_json(vdir / "provenance.json", prov)
            provenance["videos"][vid] = {"title": prov["video"]["title"], "webpage_url": prov["video"]["webpage_url"],
                                         "sha256": prov["video"]["media_sha256"], "status": prov["video"]["status"],
                                         "events": prov["events"]}
        _carry_receipts(archive, work)
        provenance["skipped"] = result.skipped
        provenance["not_in_manifest"] = result.unlisted
        atomic_write_json(work / "provenance.json", provenance)
        atomic_write_text(work / "catalogue.json", json.dumps(catalogue_rows(store, ids), ensure_ascii=False, indent=2, default=str) + "\n")
        info = {
            "External-Identifier": bag_id,
            "External-Description": f"clipwatch export of {len(ids)} archived video(s)" + (f"; selection: {selection}" if selection else ""),
            "Clipwatch-Version": __version__,
            # The event chain's head when the bag was made: keep it; `clipwatch verify` prints the current one.
            "Clipwatch-Event-Chain-Head": f"{hid} {hhash}",
        }
        if organization:
            info["Source-Organization"] = organization
        bag = bagit.make_bag(str(work), info, processes=1, checksums=["sha256"])
        if validate:
            bag.validate()
        result.valid = validate
        result.files = len(list(bag.payload_files()))
        if dest.exists():
            dest.rmdir()  # an empty folder the user made for it
        os.replace(work, dest)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise ExportError(f"the bag could not be written at {dest} ({exc.strerror or exc}"
                          f"{': ' + exc.filename if isinstance(exc.filename, str) else ''}); nothing was exported"
                          + (" — free some space and try again" if exc.errno == 28 else "")) from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    detail = {"bag": str(dest), "bag_id": bag_id, "files": result.files, "selection": selection,
              "event_chain_head": result.chain_head, "skipped": result.skipped}
    for what in result.skipped:
        log.warning("not in the bag: %s", what)
    if getattr(store, "readonly", False):  # a read-only archive: the bag is made, nothing is recorded
        return result
    with store.transaction():
        for vid in ids:
            store.add_event("exported", video_id=vid, media_sha256=store.get_video(vid)["media_sha256"], detail=detail)
    if progress:
        progress(len(ids), len(ids), "")
    return result
