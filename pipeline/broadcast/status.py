"""What each channel's recorder says about itself (``<data>/record/<channel>/status.json``, written atomically by
``flows/record.py``): read by ``clipwatch status`` and the web UI, without Prefect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.sources.segment import sidecar_of
from pipeline.storage.locks import process_alive


def record_root(data_dir: Path) -> Path:
    return Path(data_dir) / "record"


def record_folder(data_dir: Path, channel: str) -> Path:
    """Where a channel's recorder keeps its lock, ledger, open and closed segments and status."""
    if not channel or "/" in channel or channel.startswith(".") or "\\" in channel:
        raise ValueError(f"bad channel id {channel!r}")
    return record_root(data_dir) / channel


def waiting(folder: Path) -> list[Path]:
    """Closed segments not archived yet (a sidecar beside each), oldest first."""
    closed = folder / "closed"
    return sorted(p for p in closed.glob("*.ts") if sidecar_of(p).is_file()) if closed.is_dir() else []


def read_status(data_dir: Path) -> list[dict[str, Any]]:
    """Every channel's recorder status, newest facts as written, plus ``running`` (its process is alive) and
    ``waiting_on_disk`` (closed segments not yet archived, which a restart takes up).

    Arguments:
        data_dir: the archive's data folder.

    Returns:
        One dict per channel that was ever recorded here, by channel id.
    """
    root = record_root(data_dir)
    out = []
    for f in sorted(root.glob("*/status.json")) if root.is_dir() else []:
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(d, dict):
            continue
        d["running"] = d.get("state") != "stopped" and process_alive(int(d.get("pid") or 0))
        d["waiting_on_disk"] = len(waiting(f.parent))
        if not d["running"] and d.get("state") != "stopped":
            d["state"] = "died"  # its process is gone without saying so (kill -9, power loss): restart it
        out.append(d)
    return out


def gap_summary(store: Any) -> dict[str, Any]:
    """The gaps recorded in live streams (``gap`` events), per channel: what ``verify`` reports, so that time
    without signal is never silent.

    Returns:
        ``{"count": n, "seconds": total, "channels": {channel: {"count", "seconds"}}}``.
    """
    out: dict[str, Any] = {"count": 0, "seconds": 0.0, "channels": {}}
    for ev in store.events_of_kind("gap"):
        try:
            d = json.loads(ev["detail"] or "{}")
        except ValueError:
            d = {}
        ch = out["channels"].setdefault(str(d.get("channel") or "?"), {"count": 0, "seconds": 0.0})
        secs = float(d.get("seconds") or 0.0)
        ch["count"] += 1
        ch["seconds"] = round(ch["seconds"] + secs, 3)
        out["count"] += 1
        out["seconds"] = round(out["seconds"] + secs, 3)
    return out
