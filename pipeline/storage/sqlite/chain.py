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
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

GENESIS = "0" * 64
TRIGGERS = ("events_no_update", "events_no_delete", "events_chain_insert")


def content_of(row: Any) -> str:
    """The canonical text an event's hash covers."""
    return json.dumps({"video_id": row["video_id"], "source_id": row["source_id"], "media_sha256": row["media_sha256"],
                       "at": row["at"], "kind": row["kind"], "detail": row["detail"]},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def event_hash(prev_hash: str, row: Any) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content_of(row)}".encode("utf-8", "surrogatepass")).hexdigest()


def head(db: sqlite3.Connection) -> tuple[int, str, str]:
    """(id, hash, at) of the newest event; (0, GENESIS, '') for an empty log."""
    row = db.execute("SELECT id, hash, at FROM events ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1] or GENESIS, row[2]) if row else (0, GENESIS, "")


def append_event(db: sqlite3.Connection, kind: str, *, video_id: str | None = None, source_id: int | None = None,
                 media_sha256: str | None = None, detail: dict[str, Any] | None = None, at: str) -> int:
    """Append one event; the caller holds the write transaction (BEGIN IMMEDIATE), so no other writer interleaves.

    The log's clock never runs backwards: an event is dated no earlier than the one before it (a system clock
    stepped back by NTP would otherwise read as a backdated event).
    """
    _id, prev, last_at = head(db)
    row = {"video_id": video_id, "source_id": source_id, "media_sha256": media_sha256, "at": max(at, last_at or ""),
           "kind": kind, "detail": json.dumps(detail or {}, ensure_ascii=False, default=str)}
    cur = db.execute("INSERT INTO events(video_id, source_id, media_sha256, at, kind, detail, prev_hash, hash)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (row["video_id"], row["source_id"], row["media_sha256"], row["at"], row["kind"], row["detail"],
                      prev, event_hash(prev, row)))
    return int(cur.lastrowid)


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


def walk(db: sqlite3.Connection) -> ChainReport:
    """Re-hash every event in order; the first broken link (or missing protection) is reported."""
    prev, prev_id, prev_at, n = GENESIS, 0, "", 0
    broken: tuple[int, str] | None = None
    for row in db.execute("SELECT * FROM events ORDER BY id"):
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
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    if broken is None and seq is not None and int(seq[0]) > prev_id:
        broken = (prev_id + 1, f"events {prev_id + 1}–{seq[0]} were deleted from the end of the log"
                  if int(seq[0]) > prev_id + 1 else f"event {prev_id + 1} was deleted from the end of the log")
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")}
    missing = tuple(t for t in TRIGGERS if t not in present)
    hid, hhash, hat = head(db)
    rep = ChainReport(ok=broken is None and not missing, events=n, head_id=hid, head_hash=hhash, head_at=hat,
                      missing_triggers=missing)
    if broken:
        rep.broken_at, rep.problem = broken
    elif missing:
        rep.problem = f"the append-only triggers {', '.join(missing)} were dropped from the database"
    return rep
