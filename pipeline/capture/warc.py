"""Writing a video's capture as one gzipped WARC 1.1 file with warcio, and the CDXJ lines that index it.

Records, in order:

* ``warcinfo`` — clipwatch's and yt-dlp's versions, the capture time, the video's page and id, notes (a body kept
  truncated, a page with no TLS because it is plain http);
* ``request`` + ``response`` for every exchange yt-dlp made while reading the page and writing the thumbnail (see
  ``record.py``), linked by ``WARC-Concurrent-To``;
* ``metadata`` — the platform metadata as yt-dlp assembled it (the info.json, ``application/json``), referring to
  the watch page's response;
* ``revisit`` — the media: its HTTP status and headers as the site gave them, and ``WARC-Payload-Digest:
  sha256:<hex>``, the name of the original in clipwatch's content-addressed store (``media/ab/<sha256>.<ext>``). The
  media bytes are stored once there, not a second time inside the WARC;
* ``metadata`` — the TLS certificate chain an https site presented (JSON with PEM), when there is one.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import surt
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date, datetime_to_timestamp
from warcio.warcwriter import WARCWriter

from pipeline import __version__
from pipeline.capture.record import Exchange, kept_headers

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@dataclass
class MediaRef:
    """The media as fetched: where from, what the site said of it, and its SHA-256 in the blob store."""

    url: str
    sha256: str
    size: int
    stored_as: str                      # path in the archive (``media/ab/<sha256>.<ext>``)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None


@dataclass
class Capture:
    """Everything one fetch keeps as a web archive (see the module docstring)."""

    video_id: str
    page_url: str
    title: str | None
    exchanges: list[Exchange]
    info: dict[str, Any] | None = None
    media: MediaRef | None = None
    certificates: dict[str, Any] | None = None    # ``tls.peer_chain``'s answer
    notes: list[str] = field(default_factory=list)
    fetcher: str = "yt-dlp"
    fetcher_version: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def page(self) -> Exchange | None:
        return next((ex for ex in self.exchanges if ex.role == "page"), None)


def _warc_date(at: datetime) -> str:
    return datetime_to_iso_date(at.astimezone(timezone.utc).replace(tzinfo=None), use_micros=True)


def _one_line(text: str) -> str:
    # warcinfo fields are "name: value" lines: a value never starts another line
    return " ".join(str(text).split())


def cdx_key(url: str) -> str:
    """The SURT form replay tools look a URL up by (``surt``, as pywb and py-wacz compute it).

    Arguments: url — an absolute URL. Returns: its SURT key."""
    try:
        return surt.surt(url)
    except Exception:  # noqa: BLE001 - a URL surt cannot read is still indexed, by itself
        return url


def write_warc(capture: Capture, out: BinaryIO, filename: str) -> list[str]:
    """Write the capture's records to ``out`` (gzipped per record) and return their CDXJ lines, unsorted.

    Arguments: capture — what to write; out — a binary file open for writing at offset 0; filename — the WARC's
    name inside the WACZ (``data.warc.gz``), as the index names it.
    Returns: one CDXJ line per replayable record (``response``, ``revisit``)."""
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    lines: list[str] = []

    def put(record: Any, index: bool = True) -> None:
        offset = out.tell()
        writer.write_record(record)
        if not index:
            return
        http = record.http_headers
        uri = record.rec_headers.get_header("WARC-Target-URI")
        date = record.rec_headers.get_header("WARC-Date")
        entry = {"url": uri, "mime": "warc/revisit" if record.rec_type == "revisit" else
                 (http.get_header("Content-Type") or "unk").split(";")[0].strip().lower() if http else "unk",
                 "status": http.get_statuscode() if http else "200",
                 "digest": record.rec_headers.get_header("WARC-Payload-Digest") or "",
                 "length": str(out.tell() - offset), "offset": str(offset), "filename": filename}
        ts = datetime_to_timestamp(datetime.strptime(date[:19], "%Y-%m-%dT%H:%M:%S"))
        lines.append(f"{cdx_key(uri)} {ts} {json.dumps(entry, ensure_ascii=False, separators=(', ', ': '))}")

    info = {
        "software": f"clipwatch/{__version__} ({capture.fetcher} {capture.fetcher_version})".strip(),
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "isPartOf": f"clipwatch video {capture.video_id}",
        "description": _one_line(f"capture of {capture.page_url}"),
        "x-clipwatch-video-id": capture.video_id,
        "x-clipwatch-captured-at": _warc_date(capture.started),
        "x-clipwatch-media": "referenced by SHA-256 in a revisit record; stored once in clipwatch's archive",
    }
    for n, note in enumerate(capture.notes, 1):
        info[f"x-clipwatch-note-{n}"] = _one_line(note)
    put(writer.create_warcinfo_record(filename, info), index=False)

    page_id = None
    for ex in capture.exchanges:
        date = _warc_date(ex.at)
        parts = urlsplit(ex.final_url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        req_headers = [("Host", parts.netloc)] + [(k, _safe(v)) for k, v in ex.request_headers if k.lower() != "host"]
        resp_headers = [(k, _safe(v)) for k, v in ex.response_headers]
        response_head = {"WARC-Date": date}
        if ex.truncated:
            response_head["WARC-Truncated"] = "length"
        if ex.url != ex.final_url:
            response_head["WARC-X-Clipwatch-Requested-URI"] = ex.url
        resp = writer.create_warc_record(
            ex.final_url, "response", payload=io.BytesIO(ex.body), length=len(ex.body),
            http_headers=StatusAndHeaders(f"{ex.status} {_one_line(ex.reason) or 'Status'}", resp_headers,
                                          protocol="HTTP/1.1"),
            warc_headers_dict=response_head)
        rid = resp.rec_headers.get_header("WARC-Record-ID")
        if ex.role == "page" and page_id is None:
            page_id = rid
        req = writer.create_warc_record(
            ex.final_url, "request", payload=io.BytesIO(ex.request_body), length=len(ex.request_body),
            http_headers=StatusAndHeaders(f"{ex.method} {target} HTTP/1.1", req_headers, is_http_request=True),
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": rid})
        put(resp)
        put(req, index=False)

    if capture.info is not None:
        data = json.dumps(capture.info, ensure_ascii=False, sort_keys=True, indent=1, default=str).encode("utf-8")
        head = {"WARC-Date": _warc_date(capture.started), "Content-Type": "application/json"}
        if page_id:
            head["WARC-Refers-To"] = page_id
        put(writer.create_warc_record(capture.page_url, "metadata", payload=io.BytesIO(data), length=len(data),
                                      warc_content_type="application/json", warc_headers_dict=head), index=False)

    m = capture.media
    if m is not None:
        status = m.status or 200
        headers = kept_headers([(k, str(v)) for k, v in m.headers.items() if k.lower() != "content-length"], m.size)
        rec = writer.create_revisit_record(
            m.url, f"sha256:{m.sha256}", m.url, _warc_date(m.at or capture.started),
            http_headers=StatusAndHeaders(f"{status} OK", [(k, _safe(v)) for k, v in headers], protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": _warc_date(m.at or capture.started),
                               "WARC-X-Clipwatch-Stored-As": m.stored_as, "WARC-X-Clipwatch-Size": str(m.size)})
        # warcio's revisit profile follows the writer's version (1.1); said again so a reader need not infer it
        rec.rec_headers.replace_header("WARC-Profile", REVISIT_PROFILE)
        put(rec)

    if capture.certificates is not None:
        data = json.dumps(capture.certificates, ensure_ascii=False, indent=1).encode("utf-8")
        put(writer.create_warc_record(
            capture.page_url, "metadata", payload=io.BytesIO(data), length=len(data),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Date": _warc_date(capture.started), "Content-Type": "application/json",
                               "WARC-X-Clipwatch-Kind": "tls-certificate-chain"}), index=False)
    return lines


def _safe(value: str) -> str:
    """A header value for a record: no CR, LF or NUL (they would end the header line and forge another)."""
    return value.replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\x00")


def write_warc_file(capture: Capture, path: Path, filename: str = "data.warc.gz") -> list[str]:
    """``write_warc`` into a file at ``path``; returns the CDXJ lines."""
    with open(path, "wb") as f:
        return write_warc(capture, f, filename)
