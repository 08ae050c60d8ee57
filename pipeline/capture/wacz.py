"""One video's capture as a WACZ 1.1.1 file; reading it back for replay; checking it; joining several into one.

The layout (https://specs.webrecorder.net/wacz/1.1.1/), written here with ``zipfile`` rather than py-wacz, whose
``frictionless`` dependency tree is far heavier than the format (py-wacz's ``wacz validate`` checks what is written
here, in the tests)::

    archive/data.warc.gz        the WARC (``warc.py``), stored uncompressed in the zip (it is gzipped per record)
    indexes/index.cdx           its CDXJ index, sorted (named .cdx: pywb's ``wb-manager add --unpack-wacz`` and
                                ReplayWeb.page read that name)
    pages/pages.jsonl           the watch page: url, ts, title
    datapackage.json            every file above with its SHA-256 and size, wacz_version 1.1.1, mainPageUrl
    datapackage-digest.json     the SHA-256 of datapackage.json

Every entry carries the capture time as its zip date, so the same capture gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from warcio.archiveiterator import ArchiveIterator

from pipeline import __version__
from pipeline.capture.warc import Capture, write_warc
from pipeline.errors import ClipwatchError

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


class CaptureError(ClipwatchError):
    """A WACZ cannot be read (not a zip, or not a WACZ clipwatch can replay)."""


@dataclass
class Packaged:
    """A WACZ as written: its bytes' SHA-256 and size, and what it holds."""

    data: bytes
    sha256: str
    size: int
    records: int
    page_url: str | None
    created: str

    def summary(self) -> dict[str, Any]:
        """The facts the ``fetched`` event and provenance.json carry (no bytes)."""
        return {"sha256": self.sha256, "size": self.size, "records": self.records, "page_url": self.page_url,
                "created": self.created, "format": f"WACZ {WACZ_VERSION}"}


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _zip(files: list[tuple[str, bytes]], at: datetime) -> bytes:
    buf = io.BytesIO()
    stamp = at.astimezone(timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            # the WARC is gzipped per record and the index is read at offsets: both stored as they are (the spec)
            info.compress_type = zipfile.ZIP_STORED if name.startswith(("archive/", "indexes/")) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def _assemble(warcs: list[tuple[str, bytes]], index: list[str], pages: list[dict[str, Any]], created: datetime,
              title: str, main_page: dict[str, Any] | None) -> bytes:
    pages_data = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in [PAGES_HEADER, *pages]).encode("utf-8")
    index_data = "".join(line + "\n" for line in sorted(index)).encode("utf-8")
    files = [(f"archive/{name}", data) for name, data in warcs]
    files += [("indexes/index.cdx", index_data), ("pages/pages.jsonl", pages_data)]
    package: dict[str, Any] = {
        "profile": "data-package",
        "resources": [{"name": path.rsplit("/", 1)[1], "path": path, "hash": _sha(data), "bytes": len(data)}
                      for path, data in files],
        "wacz_version": WACZ_VERSION,
        "software": f"clipwatch {__version__}",
        "created": _iso(created),
        "title": title,
    }
    if main_page:
        package["mainPageUrl"] = main_page["url"]
        package["mainPageDate"] = main_page["ts"]
    package_data = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
    digest = {"path": "datapackage.json", "hash": _sha(package_data)}
    files += [("datapackage.json", package_data),
              ("datapackage-digest.json", json.dumps(digest, indent=2).encode("utf-8"))]
    return _zip(files, created)


def package(capture: Capture) -> Packaged:
    """Write the capture as a WARC and package it as a WACZ (see the module docstring).

    Arguments: capture — the exchanges and facts of one fetch.
    Returns: the WACZ's bytes with their SHA-256."""
    warc = io.BytesIO()
    index = write_warc(capture, warc, WARC_NAME)
    page = capture.page
    pages = []
    if page is not None:
        pages.append({"id": hashlib.sha256(page.final_url.encode()).hexdigest()[:32], "url": page.final_url,
                      "ts": _iso(page.at), "title": capture.title or page.final_url})
    title = f"clipwatch capture of {capture.title or capture.page_url} ({capture.video_id})"
    data = _assemble([(WARC_NAME, warc.getvalue())], index, pages, capture.started, title, pages[0] if pages else None)
    return Packaged(data=data, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                    records=sum(1 for _ in ArchiveIterator(io.BytesIO(warc.getvalue()))),
                    page_url=page.final_url if page else None, created=_iso(capture.started))


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CaptureError(f"{path.name}: not a readable WACZ ({exc}); run `clipwatch verify` on the video") from None


def check(path: Path) -> list[str]:
    """What is wrong with a WACZ: every file against ``datapackage.json``, that against its digest file.

    Arguments: path — the .wacz. Returns: problems, one line each (empty: the package is whole)."""
    try:
        z = _open(path)
    except CaptureError as exc:
        return [str(exc)]
    problems: list[str] = []
    with z:
        names = set(z.namelist())
        try:
            package_data = z.read("datapackage.json")
            package_doc = json.loads(package_data)
            digest = json.loads(z.read("datapackage-digest.json"))
        except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            return [f"{path.name}: datapackage.json or its digest is missing or unreadable ({exc})"]
        if digest.get("hash") != _sha(package_data):
            problems.append(f"{path.name}: datapackage.json does not match datapackage-digest.json")
        listed = set()
        for res in package_doc.get("resources") or []:
            name = res.get("path")
            listed.add(name)
            if name not in names:
                problems.append(f"{path.name}: {name} is listed and missing")
                continue
            try:
                data = z.read(name)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:  # a CRC error: a changed byte in the zip
                problems.append(f"{path.name}: {name} cannot be read ({exc})")
                continue
            if _sha(data) != res.get("hash"):
                problems.append(f"{path.name}: {name} does not match its SHA-256 in datapackage.json")
        for extra in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
            problems.append(f"{path.name}: {extra} is not listed in datapackage.json")
    return problems


@dataclass
class Replayed:
    """One archived HTTP response read back from a WACZ."""

    url: str
    date: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")


def records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of every WARC in a WACZ, in order: type, uri, date, status, content type, length.

    Arguments: path — the .wacz. Raises: CaptureError when it cannot be read."""
    with _open(path) as z:
        for name in sorted(n for n in z.namelist() if n.startswith("archive/")):
            try:
                with z.open(name) as f:
                    for rec in ArchiveIterator(f):
                        http = rec.http_headers
                        yield {"type": rec.rec_type, "uri": rec.rec_headers.get_header("WARC-Target-URI"),
                               "date": rec.rec_headers.get_header("WARC-Date"),
                               "status": http.get_statuscode() if http and rec.rec_type != "request" else None,
                               "content_type": (http.get_header("Content-Type") if http else
                                                rec.rec_headers.get_header("Content-Type")) or "",
                               "length": rec.rec_headers.get_header("Content-Length")}
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise CaptureError(f"{path.name}: {name} cannot be read ({exc}); run `clipwatch verify`") from None


def main_page(path: Path) -> Replayed | None:
    """The watch page's response as archived (``mainPageUrl`` of the package), or None when it holds none.

    Arguments: path — the .wacz. Raises: CaptureError when it cannot be read."""
    with _open(path) as z:
        try:
            url = json.loads(z.read("datapackage.json")).get("mainPageUrl")
        except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            raise CaptureError(f"{path.name}: datapackage.json cannot be read ({exc})") from None
        if not url:
            return None
        for name in sorted(n for n in z.namelist() if n.startswith("archive/")):
            try:
                with z.open(name) as f:
                    for rec in ArchiveIterator(f):
                        if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == url:
                            return Replayed(url=url, date=rec.rec_headers.get_header("WARC-Date"),
                                            status=int(rec.http_headers.get_statuscode() or 0),
                                            headers=list(rec.http_headers.headers), body=rec.content_stream().read(),
                                            truncated=bool(rec.rec_headers.get_header("WARC-Truncated")))
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise CaptureError(f"{path.name}: {name} cannot be read ({exc}); run `clipwatch verify`") from None
    return None


def combine(paths: list[tuple[str, Path]], title: str, created: datetime | None = None) -> bytes:
    """Several videos' WACZ files as one WACZ: each WARC kept byte for byte as ``archive/<key>.warc.gz``, the
    indexes merged (their file names rewritten) and the pages listed together.

    Arguments: paths — (key, path) per video, the key a safe file stem (the video id); title — the collection's.
    Returns: the WACZ's bytes. Raises: CaptureError when one cannot be read."""
    warcs: list[tuple[str, bytes]] = []
    index: list[str] = []
    pages: list[dict[str, Any]] = []
    for key, path in paths:
        with _open(path) as z:
            try:
                mapping = {}
                for name in sorted(n for n in z.namelist() if n.startswith("archive/")):
                    new = f"{key}-{name.rsplit('/', 1)[1]}"
                    mapping[name.rsplit("/", 1)[1]] = new
                    warcs.append((new, z.read(name)))
                for line in z.read("indexes/index.cdx").decode("utf-8").splitlines():
                    head, _, body = line.partition(" {")
                    doc = json.loads("{" + body)
                    doc["filename"] = mapping.get(doc.get("filename"), doc.get("filename"))
                    index.append(f"{head} {json.dumps(doc, ensure_ascii=False, separators=(', ', ': '))}")
                for line in z.read("pages/pages.jsonl").decode("utf-8").splitlines()[1:]:
                    if line.strip():
                        pages.append(json.loads(line))
            except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
                raise CaptureError(f"{path.name}: not a WACZ clipwatch wrote ({exc}); run `clipwatch verify`") from None
    return _assemble(warcs, index, pages, created or datetime.now(timezone.utc), title, pages[0] if pages else None)
