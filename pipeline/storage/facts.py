"""Every fact ``verify`` certifies, under the event chain: digests of a video's catalogue rows and its manifest.

A hash chain only protects what is written into it. The originals are (each ``fetched`` event carries the file's
SHA-256); the rest of what a video rests on lived in tables an editor of the database could change together with
the files: the manifest of its derivatives (``manifests``), its transcript segments, its metadata and its tags.
Here each of those gets a digest, and every change made through clipwatch appends an ``attested`` event that
carries the digests that changed (the first one carries them all):

* ``metadata``  title, description, channel (name, id, URL), uploader, upload date, archived date, status (kind,
                reason, date), the current original, the folder — what ``show``, ``search`` and exports print;
* ``segments``  one digest per transcript kind (original, translation, screen): each line's index, times, text and
                flags as stored in the catalogue — what search finds and cites;
* ``tags``      every tag row (model and human): category, decision, score, origin, evidence;
* ``manifest``  the SHA-256 of ``videos/<id>/manifest.json`` and its path — so the ``manifests`` table is a cache
                of the chain, never its authority.

``verify`` recomputes each digest from what is there now and compares it with the *latest* event that recorded it
(``expected``); a row changed outside clipwatch is ``corrupt`` with the event it contradicts. A change made through
clipwatch (a reprocess, a human tag, the monitor's metadata update) goes through ``attest`` and so passes.

Archives written before these digests existed have no ``attested`` events: ``verify`` says so ("not recorded
before …") and records the present state as the baseline, as it did for manifests.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

KIND = "attested"
VERSION = 1
# What an archive from before this change is told: the digests did not exist yet.
BEFORE = "not recorded before clipwatch recorded catalogue digests in the event chain (attested events, v1)"

METADATA_FIELDS = ("title", "description", "channel", "channel_id", "channel_url", "uploader", "upload_date",
                   "archived_at", "status", "status_kind", "status_reason", "status_changed_at", "media_sha256",
                   "folder", "webpage_url")


def _canon(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _num(x: Any) -> str | None:
    """Numbers as text with fixed precision: SQLite REAL and PostgreSQL double precision print alike."""
    return None if x is None else f"{float(x):.6f}"


def _sha(value: Any) -> str:
    return hashlib.sha256(_canon(value)).hexdigest()


def metadata_digest(video: Any) -> str:
    """SHA-256 over the video row's fields that are shown and exported (``METADATA_FIELDS``).

    Arguments: video — a catalogue row of ``videos``.
    Returns: the hex digest."""
    keys = set(video.keys())
    return _sha({k: (str(video[k]) if video[k] is not None else None) for k in METADATA_FIELDS if k in keys})


def segments_digests(store: Any, video_id: str) -> dict[str, str]:
    """One SHA-256 per transcript kind over its lines as stored (index, start, end, text, flags).

    Arguments: store — the catalogue; video_id — the video.
    Returns: {kind: hex digest}; empty when the video has no transcript."""
    out: dict[str, str] = {}
    for t in store.transcript_rows(video_id):
        rows = store.segment_rows(t["id"])
        out[t["kind"]] = _sha([[int(r["idx"]), _num(r["start"]), _num(r["end"]), r["text"], r["flags"] or ""]
                               for r in rows])
    return out


def tags_digest(store: Any, video_id: str) -> str:
    """SHA-256 over every tag row of the video (model and human).

    Arguments: store — the catalogue; video_id — the video.
    Returns: the hex digest (of an empty list when there are none)."""
    rows = store.tag_rows(video_id)
    return _sha([[r["origin"], r["category"], int(bool(r["decision"])), _num(r["score"]), r["evidence"]]
                 for r in rows])


def current(store: Any, video_id: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The digests of the video as it is now in the catalogue (and ``manifest``, when given: path and sha256).

    Arguments: store — the catalogue; video_id — the video; manifest — {"path", "sha256"} just recorded, or None.
    Returns: {"metadata": hex, "segments": {kind: hex}, "tags": hex[, "manifest": {...}]}."""
    v = store.get_video(video_id)
    out: dict[str, Any] = {"metadata": metadata_digest(v), "segments": segments_digests(store, v["id"]),
                           "tags": tags_digest(store, v["id"])}
    if manifest is not None:
        out["manifest"] = {"path": manifest["path"], "sha256": manifest["sha256"]}
    return out


@dataclass
class Recorded:
    """The latest recorded value of one fact and the event that recorded it."""
    value: Any
    event_id: int
    at: str


def expected(store: Any, video_id: str) -> dict[str, Recorded]:
    """For each fact (metadata, segments:<kind>, tags, manifest), its value in the latest event that recorded it.

    ``attested`` events carry them (and events that make a change, in ``detail["facts"]``); for an archive from
    before them, a ``verified`` event's ``manifest_sha256`` is
    the manifest's last recorded hash. A fact no event recorded is absent.

    Arguments: store — the catalogue; video_id — the video.
    Returns: {fact: Recorded}."""
    out: dict[str, Recorded] = {}
    for ev in store.events(video_id):
        try:
            d = json.loads(ev["detail"] or "{}")
        except ValueError:
            continue  # a malformed detail is the chain's business (its hash still covers it)
        if not isinstance(d, dict):
            continue
        eid, at = int(ev["id"]), ev["at"]
        if isinstance(d.get("facts"), dict) and ev["kind"] != "deleted":  # attested, or the event of the change
            facts = d["facts"]
            for key in ("metadata", "tags", "manifest"):
                if key in facts:
                    out[key] = Recorded(facts[key], eid, at)
            for kind, digest in (facts.get("segments") or {}).items():
                out[f"segments:{kind}"] = Recorded(digest, eid, at)
            for kind in facts.get("segments_removed") or []:
                out[f"segments:{kind}"] = Recorded(None, eid, at)
        elif ev["kind"] == "verified" and d.get("manifest_sha256") and "manifest" not in out:
            # Before attested events: the manifest hash a verification recorded (path: the video's folder).
            out["manifest"] = Recorded({"path": None, "sha256": d["manifest_sha256"]}, eid, at)
    return out


def flatten(facts: dict[str, Any]) -> dict[str, Any]:
    """{"segments": {k: v}} → {"segments:k": v}, the keys ``expected`` uses."""
    out = {k: v for k, v in facts.items() if k != "segments"}
    for kind, digest in (facts.get("segments") or {}).items():
        out[f"segments:{kind}"] = digest
    return out


def attest(store: Any, video_id: str, *, cause: str, manifest: dict[str, Any] | None = None) -> int | None:
    """Record in the chain the digests of the video that differ from the latest recorded ones.

    Called by every change made through clipwatch (fetch, a stage's results, the monitor's metadata and status
    updates, a human tag, ``verify`` setting an old archive's baseline). Nothing is written when nothing changed
    or the archive is read-only.

    Arguments: store — the catalogue; video_id — the video; cause — why (shown in ``history``); manifest — the
        manifest just recorded ({"path", "sha256"}), or None to leave the recorded one as it is.
    Returns: the new event's id, or None when nothing was recorded."""
    if getattr(store, "readonly", False):
        return None
    with store.transaction():
        changed = changes(store, video_id, manifest)
        if not changed:
            return None
        vid = store.get_video(video_id)["id"]
        return store.add_event(KIND, video_id=vid, detail={"version": VERSION, "cause": cause, "facts": changed})


def changes(store: Any, video_id: str, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The digests of the video that differ from the latest recorded ones — to carry in the event that makes
    the change (``detail["facts"]``), as the monitor's ``removed`` and ``reappeared`` events do.

    Arguments: store — the catalogue (call inside the transaction that made the change); video_id — the video;
        manifest — the manifest just recorded, or None.
    Returns: {fact: digest} (empty when nothing changed)."""
    store.lock_events()  # read under the append lock: no newer digest can be appended before ours
    now = current(store, video_id, manifest)
    last = expected(store, store.get_video(video_id)["id"])
    changed: dict[str, Any] = {}
    for key in ("metadata", "tags", "manifest"):
        if key in now and (key not in last or last[key].value != now[key]):
            changed[key] = now[key]
    segs = {k: d for k, d in now["segments"].items()
            if f"segments:{k}" not in last or last[f"segments:{k}"].value != d}
    if segs:
        changed["segments"] = segs
    gone = [k.split(":", 1)[1] for k, r in last.items()
            if k.startswith("segments:") and r.value is not None and k.split(":", 1)[1] not in now["segments"]]
    if gone:
        changed["segments_removed"] = sorted(gone)
    return changed
