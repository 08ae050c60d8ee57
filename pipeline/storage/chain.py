"""The events table as a hash chain: appending an event, and walking the chain to find the first broken link.

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's own content (video, source, media
hash, time, kind, detail as stored), as canonical JSON; the first event's ``prev_hash`` is 64 zeros. Rewriting an
event (REPLACE INTO, an UPDATE with the triggers dropped) changes its content hash; inserting one out of order or
deleting one breaks the link to the next; deleting the newest ones leaves the AUTOINCREMENT counter ahead of the
last id. Anyone can recompute a chain, so the head (id and hash) is printed by ``verify`` and written into every
bag, to be kept elsewhere, and can be timestamped by an RFC 3161 authority: a rewritten chain then no longer ends
in a head that was kept.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

GENESIS = "0" * 64


def content_of(row: Any) -> str:
    """The canonical text an event's hash covers.

    Arguments:
        row: an event (by column name).

    Returns:
        Canonical JSON of its content (not its id or links).
    """
    return json.dumps({"video_id": row["video_id"], "source_id": row["source_id"], "media_sha256": row["media_sha256"],
                       "at": row["at"], "kind": row["kind"], "detail": row["detail"]},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def event_hash(prev_hash: str, row: Any) -> str:
    """SHA-256 (hex) over the previous event's hash and this event's ``content_of``."""
    return hashlib.sha256(f"{prev_hash}\n{content_of(row)}".encode("utf-8", "surrogatepass")).hexdigest()


def new_event(last: tuple[int, str, str], kind: str, *, video_id: str | None = None, source_id: int | None = None,
              media_sha256: str | None = None, detail: dict[str, Any] | None = None, at: str) -> dict[str, Any]:
    """The next event of a chain whose newest event is ``last``: its columns, its links and its hash.

    The log's clock never runs backwards: an event is dated no earlier than the one before it (a system clock
    stepped back by NTP would otherwise read as a backdated event). The catalogue inserts the result while it holds
    its write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock), so no other writer interleaves.

    Arguments:
        last: (id, hash, at) of the newest event; ``(0, GENESIS, "")`` for an empty log.
        kind: what happened (``fetched``, ``verified`` …).
        video_id, source_id, media_sha256: what it happened to.
        detail: what the event records (stored as JSON).
        at: the time now (``pipeline.domain.utcnow``).

    Returns:
        ``{"id": last id + 1, "video_id", "source_id", "media_sha256", "at", "kind", "detail", "prev_hash", "hash"}``.
    """
    last_id, prev, last_at = last
    row: dict[str, Any] = {"video_id": video_id, "source_id": source_id, "media_sha256": media_sha256,
                           "at": max(at, last_at or ""), "kind": kind,
                           "detail": json.dumps(detail or {}, ensure_ascii=False, default=str)}
    return {"id": last_id + 1, **row, "prev_hash": prev, "hash": event_hash(prev, row)}


@dataclass
class ChainReport:
    ok: bool
    events: int
    head_id: int
    head_hash: str
    head_at: str
    broken_at: int | None = None     # id of the first event whose link is broken
    problem: str = ""                # what is wrong there, in words
    missing_triggers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def walk(rows: Iterable[Any], *, issued: int | None, present: set[str], expected: tuple[str, ...],
         head: tuple[int, str, str]) -> ChainReport:
    """Re-hash every event in order; the first broken link (or missing protection) is reported.

    Arguments:
        rows: every event, in id order (rows readable by column name).
        issued: the highest event id the database ever gave out (None when it does not say).
        present: the names of the (enabled) triggers on the events table.
        expected: the triggers that keep the log append-only on this database.
        head: (id, hash, at) of the newest event.

    Returns:
        The report: ok, the number of events, the head, the first broken link and what is wrong there.
    """
    prev, prev_id, prev_at, n = GENESIS, 0, "", 0
    broken: tuple[int, str] | None = None
    for row in rows:
        n += 1
        eid = int(row["id"])
        if broken is None:
            if eid != prev_id + 1:
                broken = (eid, f"events {prev_id + 1}–{eid - 1} are missing (deleted from the log)" if eid > prev_id + 2
                          else f"event {prev_id + 1} is missing (deleted from the log)")
            elif row["hash"] is None or row["prev_hash"] is None:
                broken = (eid, f"event {eid} ({row['kind']}, {row['at']}) carries no hash: it was written outside clipwatch")
            elif row["prev_hash"] != prev:
                broken = (eid, f"event {eid} does not follow event {prev_id}: its prev_hash {row['prev_hash'][:12]}… "
                               f"is not {prev[:12]}… (an event before it was removed, inserted or rewritten)")
            elif event_hash(prev, row) != row["hash"]:
                broken = (eid, f"event {eid} ({row['kind']}, {row['at']}) was changed after it was written: "
                               "its content no longer matches its hash")
            elif row["at"] < prev_at:
                broken = (eid, f"event {eid} is dated {row['at']}, before event {prev_id} ({prev_at}): backdated")
        prev, prev_id, prev_at = row["hash"] or "", eid, row["at"]
    if broken is None and issued is not None and issued > prev_id:
        broken = (prev_id + 1, f"events {prev_id + 1}–{issued} were deleted from the end of the log"
                  if issued > prev_id + 1 else f"event {prev_id + 1} was deleted from the end of the log")
    missing = tuple(t for t in expected if t not in present)
    hid, hhash, hat = head
    rep = ChainReport(ok=broken is None and not missing, events=n, head_id=hid, head_hash=hhash, head_at=hat,
                      missing_triggers=missing)
    if broken:
        rep.broken_at, rep.problem = broken
    elif missing:
        rep.problem = f"the append-only triggers {', '.join(missing)} were dropped from the database"
    return rep
