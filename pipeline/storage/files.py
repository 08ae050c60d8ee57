"""The archive on disk: content-addressed originals and per-video folders.

Originals live at ``media/ab/<sha256>.<ext>``; per-video folders at
``videos/<video_id>/`` hold info.json, thumbnails, keyframes and transcripts.
Every file is written under a temporary name, fsynced, then renamed, so a
crash never leaves a partial file under a final name. Nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: str  # relative to the archive root


def sha256_stream(f: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Stream an open file (or an object store's body) through SHA-256 in constant memory: (hex digest, size)."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
        if progress:
            progress(len(chunk))
    return h.hexdigest(), size


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Stream a file through SHA-256 in constant memory."""
    with open(path, "rb") as f:
        return sha256_stream(f, progress)[0]


def fs_display(text: str) -> str:
    """Readable text for a file name that may not be UTF-8.

    Python hands undecodable name bytes over as lone surrogates (PEP 383), which cannot be written to JSON files,
    SQLite or a terminal. Names from Windows zips are often CP949 (Korean) or another legacy code page: the bytes
    are decoded as UTF-8, else CP949, else UTF-8 with U+FFFD for what cannot be read.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    raw = text.encode("utf-8", "surrogateescape")
    for codec in ("utf-8", "cp949"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def safe_name(text: str, max_len: int = 80) -> str:
    """A file-name-safe version of untrusted text (titles full of ../ and emoji)."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._") or "file"
    return text[:max_len]


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (so a rename into it survives a crash); quiet where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(dest: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write through ``write(fileobj)`` to a temporary name beside dest, fsync, then rename over dest.

    Readers see the old file or the new one, never a partial one; a crash leaves
    at most a ``.tmp-`` file that no catalogue row points to.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-", suffix=dest.suffix)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; archive files are meant to be read
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    atomic_write(dest, lambda f: f.write(data))


def atomic_write_text(dest: Path, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: Path, obj: Any) -> None:
    atomic_write_text(dest, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n")


class Archive:
    def __init__(self, root: Path):
        self.root = Path(root)

    def abspath(self, rel: str | Path) -> Path:
        return self.root / rel

    def video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / safe_name(video_id, 120)

    def relpath(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    def store_media(self, src: Path, ext: str, move: bool = False) -> StoredFile:
        """Copy (or move) a finished download into content-addressed storage.

        The copy is hashed as it is written, fsynced, then renamed into place; if
        a file with the same hash exists it is kept as it is (it is the same bytes).
        """
        src = Path(src)
        ext = re.sub(r"[^a-z0-9]", "", ext.lower())[:8] or "bin"
        tmp_dir = self.root / "media" / ".incoming"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # The PID in the name lets the next run sweep it once this process is gone.
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f".tmp-{os.getpid()}-")
        os.fchmod(fd, 0o644)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = h.hexdigest()
            rel = Path("media") / sha[:2] / f"{sha}.{ext}"
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                Path(tmp).unlink()
            else:
                os.replace(tmp, dest)
                fsync_dir(dest.parent)
            if move:
                src.unlink(missing_ok=True)
            return StoredFile(sha256=sha, size=size, path=rel.as_posix())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, rel: str | Path) -> bool:
        return (self.root / rel).is_file()

    def open(self, rel: str | Path) -> BinaryIO:
        return open(self.root / rel, "rb")

    def copy_into(self, src: Path, dest: Path) -> None:
        """Atomic copy of a small side file (thumbnail, subtitles) into a video folder."""
        with open(src, "rb") as f:
            atomic_write(dest, lambda out: shutil.copyfileobj(f, out, CHUNK))
