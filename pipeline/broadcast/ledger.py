"""The recorder's ledger: what of a channel's stream is already recorded, kept in the archive so that a restart (after
a stop or a ``kill -9``) neither loses nor repeats anything.

One folder per channel under ``<data>/record/<channel>/``:

* ``lock`` — an exclusive ``flock`` held while a recorder runs: two recorders of one channel would record it twice;
* ``ledger.jsonl`` — append-only lines, each written (and fsynced) after the bytes it describes: ``state`` (where
  the last closed segment left the stream), ``chunk`` (a stream chunk appended to the open segment: its stream key,
  air start and length, the segment file's size after it), ``close``. It is rewritten as one ``state`` line
  (atomically) each time a segment closes, so it stays small;
* ``open/<seq>.ts`` — the segment being written; bytes past the last ``chunk`` line are a chunk whose line was never
  written (a crash mid-write): they are cut off at restart and that chunk is fetched again if the stream still has it;
* ``closed/<seq>.ts`` with its sidecar — closed segments waiting to be archived (removed once catalogued).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline.errors import ClipwatchError
from pipeline.storage.files import atomic_write_text


class RecorderBusy(ClipwatchError):
    """Another recorder holds this channel."""


@dataclass
class Chunk:
    key: str            # the stream's name for it: its program date-time, else media sequence + URI
    air_start: float    # seconds since the epoch, UTC
    duration: float
    size: int           # the segment file's size once this chunk was appended


@dataclass
class LedgerState:
    next_seq: int = 0
    last_end: float | None = None     # air end of the last chunk recorded (epoch seconds)
    last_msn: int | None = None       # its media sequence number (a stream without program date-times)
    clock: str = "receiver"
    open_seq: int | None = None
    open_chunks: list[Chunk] = field(default_factory=list)


class Ledger:
    """The channel folder: its lock, its ledger and its segment files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.open_dir = folder / "open"
        self.closed_dir = folder / "closed"
        self.path = folder / "ledger.jsonl"
        self._lock_fd: int | None = None
        self._fh: TextIO | None = None

    def acquire(self) -> None:
        """Take the channel's lock; RecorderBusy when another recorder holds it."""
        for d in (self.folder, self.open_dir, self.closed_dir):
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RecorderBusy(f"another recorder is recording {self.folder.name} (lock {self.folder / 'lock'}); "
                               "stop it first, or give this recording another --channel") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> LedgerState:
        """Replay the ledger (a torn last line, from a crash mid-write, is ignored)."""
        st = LedgerState()
        if not self.path.is_file():
            return st
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            t = d.get("t")
            if t == "state":
                st.next_seq, st.last_end, st.last_msn = d["next_seq"], d.get("last_end"), d.get("last_msn")
                st.clock = d.get("clock", st.clock)
                st.open_seq, st.open_chunks = None, []
            elif t == "chunk":
                if st.open_seq != d["seg"]:
                    st.open_seq, st.open_chunks = d["seg"], []
                st.open_chunks.append(Chunk(d["key"], d["air_start"], d["duration"], d["size"]))
                st.last_end, st.last_msn = d["air_start"] + d["duration"], d.get("msn")
                st.clock = d.get("clock", st.clock)
                st.next_seq = max(st.next_seq, d["seg"] + 1)
        return st

    def append(self, record: dict[str, Any]) -> None:
        """One line, flushed and fsynced: the facts before it are on disk when it is."""
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def compact(self, st: LedgerState) -> None:
        """Rewrite the ledger as one state line (after a segment closed: nothing open)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        atomic_write_text(self.path, json.dumps({"t": "state", "next_seq": st.next_seq, "last_end": st.last_end,
                                                 "last_msn": st.last_msn, "clock": st.clock}) + "\n")

    def open_file(self, seq: int) -> Path:
        return self.open_dir / f"{seq:08d}.ts"

    def closed_file(self, seq: int) -> Path:
        return self.closed_dir / f"{seq:08d}.ts"

    def waiting(self) -> list[Path]:
        """Closed segments not yet archived (their sidecar written), oldest first."""
        return sorted(p for p in self.closed_dir.glob("*.ts") if p.with_name(p.name + ".segment.json").is_file())
