"""Recording the HTTP exchanges yt-dlp makes while it reads a video's page (and writes its thumbnail).

yt-dlp does every request through ``YoutubeDL.urlopen``; ``Recorder.attach`` puts a listener in front of it on one
``YoutubeDL`` object, so what is recorded is exactly what the extractor read, not a second download that could
differ: the watch page, the platform's JSON/API answers, the thumbnail. The media itself is never read here (a
media response passes through untouched; ``warc.py`` refers to the stored original by its SHA-256 instead).

What is kept of each exchange: the request line and headers as sent, the status line and headers as received,
and the body as yt-dlp received it. HTTP libraries hand the body over already decoded (gzip, br), so the
``Content-Encoding``/``Transfer-Encoding``/``Content-Length`` the site sent are kept under ``X-Archive-Orig-…``
names and ``Content-Length`` is set to the bytes kept, as web-archive crawlers do: the record then replays as it
reads. A body longer than ``max_body`` is kept up to that length and marked truncated (``WARC-Truncated:
length``); the extractor still reads it whole. An error answer (404, 410, 5xx) is recorded too: the site's words
are evidence.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024          # bytes of one response kept in the archive (a 50 MB watch page is kept whole)
MEDIA_TYPES = ("video/", "audio/", "application/octet-stream", "application/mp4", "application/x-mpegurl",
               "application/vnd.apple.mpegurl", "application/dash+xml")
# Headers that describe the bytes on the wire, not the body as kept: renamed, as pywb and warcprox do.
WIRE_HEADERS = ("content-encoding", "transfer-encoding", "content-length")


@dataclass
class Exchange:
    """One HTTP request and the site's answer, as yt-dlp made and received them.

    ``role`` says why it matters: ``page`` (the first HTML answer: the watch page), ``thumbnail``, or ``other``
    (platform JSON, API answers, player files)."""

    url: str                                   # the URL requested
    final_url: str                             # the URL that answered (after redirects)
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    response_headers: list[tuple[str, str]]    # as received, wire headers renamed (see the module docstring)
    body: bytes
    at: datetime
    truncated: bool = False
    role: str = "other"
    request_body: bytes = b""                  # a POST's body (the platform's API queries), as sent

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.response_headers if k.lower() == "content-type"), "")


@dataclass
class Recorder:
    """Listens to one ``YoutubeDL``'s requests and keeps the exchanges (see the module docstring).

    Arguments: max_body — bytes of a response body kept (default ``MAX_BODY``). ``only`` (set while media is
    downloaded) limits recording to those URLs (the thumbnails), so media requests are never read twice."""

    max_body: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    only: set[str] | None = None

    def __post_init__(self) -> None:
        self.max_body = self.max_body or MAX_BODY

    def attach(self, ydl: Any) -> None:
        """Record what ``ydl`` fetches from now on (its ``urlopen`` is wrapped on this object only).

        Arguments: ydl — a ``yt_dlp.YoutubeDL``."""
        from yt_dlp.networking.common import Response  # heavy (~0.3 s): only while something is fetched
        from yt_dlp.networking.exceptions import HTTPError

        inner: Callable[[Any], Any] = ydl.urlopen
        defaults = dict((ydl.params.get("http_headers") or {}).items())

        def urlopen(req: Any) -> Any:
            url = req if isinstance(req, str) else getattr(req, "url", "")
            if self.only is not None and url not in self.only:
                return inner(req)
            try:
                resp = inner(req)
            except HTTPError as exc:  # the site's error page is evidence too; the extractor still sees the error
                if exc.response is not None:
                    exc.response = self._keep(req, exc.response, defaults, Response)
                raise
            return self._keep(req, resp, defaults, Response)

        ydl.urlopen = urlopen

    def _keep(self, req: Any, resp: Any, defaults: dict[str, str], response_cls: Any) -> Any:
        ctype = (resp.headers.get("Content-Type") or "").strip().lower()
        if ctype.startswith(MEDIA_TYPES):
            return resp  # media: never buffered; referred to by digest
        try:
            body = resp.read(self.max_body + 1)
            extra = b""
            while len(body) <= self.max_body:
                extra = resp.read(self.max_body + 1 - len(body))
                if not extra:
                    break
                body += extra
        except Exception as exc:  # noqa: BLE001 - a reset mid-body: the extractor will meet it again below
            self.notes.append(f"{getattr(resp, 'url', '')}: the body could not be read whole ({exc.__class__.__name__})")
            return resp
        truncated = len(body) > self.max_body
        kept = body[: self.max_body]
        method = (getattr(req, "method", None) or "GET").upper() if not isinstance(req, str) else "GET"
        url = req if isinstance(req, str) else req.url
        sent = dict(defaults)
        sent.update(dict(getattr(req, "headers", {}) or {}))
        received = [(str(k), str(v)) for k, v in resp.headers.items()]
        self.exchanges.append(Exchange(
            url=url, final_url=str(getattr(resp, "url", url) or url), method=method,
            request_headers=[(str(k), str(v)) for k, v in sent.items()], status=int(resp.status or 0),
            reason=str(resp.reason or ""), response_headers=kept_headers(received, len(kept)), body=kept,
            at=datetime.now(timezone.utc), truncated=truncated,
            role="thumbnail" if self.only is not None else "other", request_body=_request_body(req)))
        if truncated:
            self.notes.append(f"{url}: answer longer than {self.max_body} bytes; the first {self.max_body} are kept")
            fp: io.IOBase = io.BufferedReader(_Chain(body, resp))
        else:
            fp = io.BytesIO(body)
            resp.close()
        return response_cls(fp, url=resp.url, headers=resp.headers, status=resp.status, reason=resp.reason,
                            extensions=getattr(resp, "extensions", None))

    def mark_roles(self, page_url: str, thumbnails: Iterable[str] = ()) -> None:
        """Name the watch page (the answer to ``page_url``, else the first HTML answer) and the thumbnails.

        Arguments: page_url — the video's page as yt-dlp reports it; thumbnails — their URLs."""
        thumbs = set(thumbnails)
        for ex in self.exchanges:
            if ex.url in thumbs or ex.final_url in thumbs:
                ex.role = "thumbnail"
        page = next((ex for ex in self.exchanges if page_url in (ex.url, ex.final_url)), None)
        page = page or next((ex for ex in self.exchanges if "html" in ex.content_type.lower()), None)
        if page is not None:
            page.role = "page"


def _request_body(req: Any) -> bytes:
    """The body yt-dlp sent (bytes, or text it encodes), empty when none or when it is a stream."""
    data = getattr(req, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    return b""


def kept_headers(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """The response headers as kept: wire headers renamed ``X-Archive-Orig-…``, ``Content-Length`` the bytes kept.

    Arguments: headers — as received; length — bytes of the body kept.
    Returns: the headers in their order, one ``Content-Length`` at the end."""
    out: list[tuple[str, str]] = []
    for k, v in headers:
        # a header value never carries CR/LF into the record (it would forge a header line); shown escaped instead
        v = v.replace("\r", "\\r").replace("\n", "\\n")
        out.append((f"X-Archive-Orig-{k}", v) if k.lower() in WIRE_HEADERS else (k, v))
    out.append(("Content-Length", str(length)))
    return out


class _Chain(io.RawIOBase):
    """The bytes already read, then the rest of the response: the extractor reads an over-long answer whole."""

    def __init__(self, head: bytes, rest: Any):
        self.head = io.BytesIO(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.head.readinto(b)
        if n:
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.rest.close()
        finally:
            super().close()
