"""A deliberate deletion, recorded: ``clipwatch delete ID --why TEXT``.

The pipeline never deletes; a person may (a takedown order, a video archived by mistake). Then the video's
catalogue rows, its folder and any original no other video holds are removed, and a ``deleted`` event records who
asked and why, with the digests of what was removed — so ``verify`` can tell a deliberate deletion from a loss: a
video a ``fetched`` event names, gone without such an event, is reported missing.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.errors import ClipwatchError
from pipeline.storage import facts

log = logging.getLogger(__name__)


class DeleteError(ClipwatchError):
    """A deletion that cannot be done as asked."""


@dataclass
class Deleted:
    video_id: str
    why: str
    event_id: int
    originals_removed: list[str] = field(default_factory=list)
    folder_removed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def delete_video(store: Any, archive: Any, video_id: str, why: str) -> Deleted:
    """Remove a video from the archive and record why (the event first, in the same transaction as the rows).

    Arguments: store, archive — the archive; video_id — id or unambiguous prefix; why — the reason, kept in the
        event (required: an unexplained deletion is what ``verify`` reports as a loss).
    Returns: what was removed."""
    why = (why or "").strip()
    if not why:
        raise DeleteError("say why the video is deleted (--why TEXT): the reason is kept in the event chain")
    if getattr(store, "readonly", False):
        raise DeleteError("the archive is read-only here; delete where it can be written")
    v = store.get_video(video_id)
    vid = v["id"]

    with store.transaction():
        digests = facts.current(store, vid)
        originals = [{"sha256": m["sha256"], "path": m["path"]} for m in store.media_for_video(vid)]
        only = store.delete_video_rows(vid)
        eid = store.add_event("deleted", video_id=vid, media_sha256=v["media_sha256"], detail={
            "why": why, "title": v["title"], "webpage_url": v["webpage_url"], "folder": v["folder"],
            "originals": originals, "originals_removed": only, "facts": digests})
    out = Deleted(video_id=vid, why=why, event_id=eid, originals_removed=only)
    # Files after the rows: a crash here leaves files the sweep reports, never rows naming missing files.
    for rel in only:
        try:
            if hasattr(archive, "delete"):
                archive.delete(rel)
            else:
                archive.abspath(rel).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("%s: could not be removed (%s); remove it by hand", rel, exc.strerror or exc)
    if v["folder"]:
        folder = archive.abspath(v["folder"])
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        if hasattr(archive, "list_folder"):
            for name in archive.list_folder(v["folder"]):
                archive.delete(f"{v['folder']}/{name}")
        out.folder_removed = v["folder"]
    return out
