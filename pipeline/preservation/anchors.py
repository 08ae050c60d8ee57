"""Anchors outside the database: RFC 3161 receipts and chain heads a user kept, checked against the chain.

Anyone who can write the database can rewrite the whole event log and recompute every hash: the chain then walks
"intact". What they cannot rewrite is what left the database — a timestamp authority's signed receipt of a head
(``chain/timestamps/*.tsr``, written by ``verify --tsa``) and a head line a user copied elsewhere. Each is a claim
"event N had hash H": if the log's event N has another hash now (or is gone), the chain was rewritten after that
claim was made.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from pipeline.errors import ClipwatchError
from pipeline.preservation.manifest import read_at_source
from pipeline.preservation.timestamp import TimestampError, check_signature

RECEIPTS = "chain/timestamps"
_NAME = re.compile(r"(\d{1,12})-([0-9a-f]{8,64})\.tsr")
_HEAD = re.compile(r"(\d{1,12})\s*[:\s]\s*([0-9a-fA-F]{64})")


class HeadFormatError(ClipwatchError):
    """A kept head that cannot be read."""


@dataclass
class AnchorCheck:
    """One receipt or kept head, held against the chain."""
    what: str        # the receipt's path, or "kept head N"
    ok: bool
    message: str
    event_id: int | None = None
    at: str = ""     # when the anchor says the head existed (a receipt's signed time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_heads(text: str, where: str = "--head") -> list[tuple[int, str]]:
    """Heads as ``ID:SHA256`` or ``ID SHA256`` — also the lines ``verify`` and a bag print ("chain head: ID SHA",
    "Clipwatch-Event-Chain-Head: ID SHA"); one or more per text.

    Arguments: text — what the user gave; where — named in the error.
    Returns: [(event id, hash)]. Raises HeadFormatError when there is none."""
    found = [(int(m.group(1)), m.group(2).lower()) for m in _HEAD.finditer(text)]
    if not found:
        raise HeadFormatError(f"{where}: no chain head in {text[:60]!r}; give it as EVENT_ID:SHA256, as "
                              "`clipwatch verify` prints it (chain head: ID SHA256)")
    return found


def read_heads_file(path: Path) -> list[tuple[int, str]]:
    """The heads in a file kept by the user (any lines holding ``ID SHA256``)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise HeadFormatError(f"--heads {path}: cannot be read ({exc.strerror or exc}); give a file of kept heads") from None
    return parse_heads(text, f"--heads {path}")


def check_heads(store: Any, heads: Iterable[tuple[int, str]]) -> list[AnchorCheck]:
    """Each kept head against the log: the event must be there with that hash.

    Arguments: store — the catalogue; heads — (event id, hash) pairs.
    Returns: one AnchorCheck per head."""
    out = []
    for eid, want in heads:
        row = store.event_by_id(eid)
        what = f"kept head {eid}"
        if row is None:
            out.append(AnchorCheck(what, False, f"chain rewritten: event {eid} of the head you kept ({want[:16]}…) is "
                                                "not in the log any more", eid))
        elif (row["hash"] or "") != want:
            out.append(AnchorCheck(what, False, f"chain rewritten since event {eid} ({row['at']}): the head you kept "
                                                f"says {want[:16]}…, the log now has {str(row['hash'])[:16]}…", eid, row["at"]))
        else:
            out.append(AnchorCheck(what, True, f"event {eid} still has the hash you kept", eid, row["at"]))
    return out


def list_receipts(archive: Any) -> list[str]:
    """The archive paths of every timestamp receipt (.tsr) the archive holds."""
    if hasattr(archive, "list_folder"):
        return [f"{RECEIPTS}/{n}" for n in archive.list_folder(RECEIPTS) if "/" not in n and n.endswith(".tsr")]
    folder = archive.abspath(RECEIPTS)
    return sorted(f"{RECEIPTS}/{p.name}" for p in folder.glob("*.tsr")) if folder.is_dir() else []


def _read_receipt(body: bytes) -> tuple[str, str]:
    """(imprint hex, signed time) of a receipt whose signature holds; TimestampError otherwise."""
    from asn1crypto import tsp


    try:
        resp = tsp.TimeStampResp.load(body)
        signed = resp["time_stamp_token"]["content"]
        raw = signed["encap_content_info"]["content"].contents
        info = tsp.TSTInfo.load(raw)
        imprint = info["message_imprint"]["hashed_message"].native.hex()
        gen = info["gen_time"].native.isoformat().replace("+00:00", "Z")
    except Exception as exc:  # noqa: BLE001 - any malformed receipt is a finding, not a crash
        raise TimestampError(f"not an RFC 3161 response ({exc.__class__.__name__})") from None
    check_signature(signed, raw)
    return imprint, gen


def check_receipts(store: Any, archive: Any) -> list[AnchorCheck]:
    """Every stored RFC 3161 receipt (the files, and the ``timestamped`` events naming them) against the chain.

    Arguments: store — the catalogue; archive — where ``chain/timestamps`` is kept (a folder or an object store).
    Returns: one AnchorCheck per receipt (and one per receipt an event names that is gone)."""

    named: dict[str, tuple[int, Any]] = {}
    for ev in store.events_of_kind("timestamped"):
        try:
            d = json.loads(ev["detail"] or "{}")
        except ValueError:
            continue
        if isinstance(d, dict) and isinstance(d.get("token_path"), str):
            named[d["token_path"]] = (int(d.get("head_id") or 0), ev)
    out: list[AnchorCheck] = []
    paths = sorted(set(list_receipts(archive)) | set(named))
    for rel in paths:
        body = read_at_source(archive, rel) if rel.startswith(RECEIPTS + "/") and ".." not in rel else None
        if body is None:
            eid = named[rel][1]["id"] if rel in named else None
            out.append(AnchorCheck(rel, False, f"{rel}: the receipt event {eid} recorded is missing", eid))
            continue
        try:
            imprint, gen = _read_receipt(body)
        except TimestampError as exc:
            out.append(AnchorCheck(rel, False, f"{rel}: the receipt does not hold: {exc}"))
            continue
        m = _NAME.fullmatch(rel.rsplit("/", 1)[-1])
        head_id = named[rel][0] if rel in named else (int(m.group(1)) if m else 0)
        row = store.event_by_id(head_id) if head_id else None
        if row is None:
            out.append(AnchorCheck(rel, False, f"chain rewritten since {gen}: {rel} stamps event {head_id} "
                                               f"({imprint[:16]}…), which is not in the log any more", head_id, gen))
        elif (row["hash"] or "") != imprint:
            out.append(AnchorCheck(rel, False, f"chain rewritten since {gen}: {rel} stamps event {head_id} as "
                                               f"{imprint[:16]}…, the log now has {str(row['hash'])[:16]}…", head_id, gen))
        else:
            out.append(AnchorCheck(rel, True, f"{rel}: event {head_id} as stamped at {gen}", head_id, gen))
    return out
