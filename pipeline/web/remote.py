"""Serving archived files that live on an object store, with HTTP Range (browsers seek video with it).

The bytes are streamed through the app rather than handed out as pre-signed URLs, so the page's Content Security
Policy (``media-src 'self'``) holds and the object store never has to be reachable from the reader's browser.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any, Iterator

from fastapi.responses import Response, StreamingResponse

from pipeline.errors import NotFoundError

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
CHUNK = 1 << 16


def safe_rel(rel: str) -> bool:
    """Only plain relative archive paths: no '..', no hidden parts, no absolute paths."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or "\\" in rel:
        return False
    return not any(p in ("..", ".", "") or p.startswith(".") for p in rel.split("/"))


def _chunks(stream: Any) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def remote_file_response(blobs: Any, rel: str, range_header: str | None) -> Response:
    """A 200 or 206 response streaming ``rel`` from ``blobs`` (an ``S3Store``); 404 when absent, 416 on a bad range."""
    if not safe_rel(rel):
        raise NotFoundError("no such archived file")
    info = blobs.head(rel)
    if info is None:
        raise NotFoundError("no such archived file")
    ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    size = info.size
    m = _RANGE.match((range_header or "").strip())
    if range_header and m and (m.group(1) or m.group(2)):
        first, last = m.group(1), m.group(2)
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:  # a suffix range: the last N bytes
            start, end = max(size - int(last), 0), size - 1
        if start >= size or end < start:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        stream, _total = blobs.open_range(rel, start, end)
        return StreamingResponse(_chunks(stream), status_code=206, media_type=ctype, headers={
            **headers, "Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)})
    return StreamingResponse(_chunks(blobs.open(rel)), media_type=ctype,
                             headers={**headers, "Content-Length": str(size)})
