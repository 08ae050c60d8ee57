"""Hostile sites (issue 23, bad input): a 50 MB page, a redirect loop, a hostile Content-Type, a folded header with
CR/LF, a thumbnail that is not an image, non-UTF-8 HTML — captured as served or refused in one line, never a broken
WACZ, never a traceback."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from conftest import SAMPLES
from fastapi.testclient import TestClient
from test_capture import validate, wacz_of
from warcio.archiveiterator import ArchiveIterator

from pipeline.capture import record, wacz
from pipeline.capture.warc import Capture
from pipeline.demo.loopback import Route, watch_page
from pipeline.errors import ClipwatchError
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch


def publish(server, name: str, page: bytes, content_type: str = "text/html; charset=utf-8", **route) -> str:
    server.routes[f"/media/{name}.mp4"] = Route.file(SAMPLES / "evening-bulletin.mp4")
    server.routes[f"/watch/{name}.html"] = Route(body=page, content_type=content_type, **route)
    return server.url(f"/watch/{name}.html")


def page_for(server, name: str, title: str = "A page", **kw) -> bytes:
    return watch_page(title, "What the site said.", server.url(f"/media/{name}.mp4"), **kw)


def ingest(server, store, archive, url: str) -> str:
    return record_fetch(store, archive, fetch(url, archive), None).video_id


def warc_headers(path, uri: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(HTTP headers, WARC headers) of the response record for ``uri``."""
    with zipfile.ZipFile(path) as z, z.open("archive/data.warc.gz") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == uri:
                return list(rec.http_headers.headers), dict(rec.rec_headers.headers)
    raise AssertionError(f"no response record for {uri}")


def test_a_50_mb_page_is_kept_whole_and_the_extractor_reads_it_whole():
    from yt_dlp.networking.common import Response

    body = b"<!doctype html><html><head><title>Fifty</title></head><body>" + b"<p>" + b"x" * (50 * 1024 * 1024) + b"</p></body></html>"
    served = []

    def urlopen(req):
        served.append(req)
        return Response(io.BytesIO(body), url="http://127.0.0.1:9/watch/big.html",
                        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}, status=200)

    ydl = SimpleNamespace(urlopen=urlopen, params={"http_headers": {"User-Agent": "clipwatch-test"}})
    rec = record.Recorder()
    rec.attach(ydl)
    resp = ydl.urlopen("http://127.0.0.1:9/watch/big.html")
    assert resp.read() == body                       # the extractor reads what the site sent
    [ex] = rec.exchanges
    assert ex.body == body and not ex.truncated
    # the body is kept decoded: the wire's Content-Encoding is kept by another name, the length is the kept bytes
    assert ("X-Archive-Orig-Content-Encoding", "gzip") in ex.response_headers
    assert ("Content-Length", str(len(body))) in ex.response_headers
    rec.mark_roles("http://127.0.0.1:9/watch/big.html")
    packed = wacz.package(Capture(video_id="v", page_url=ex.url, title="Fifty", exchanges=rec.exchanges,
                                  started=datetime.now(timezone.utc)))
    with zipfile.ZipFile(io.BytesIO(packed.data)) as z:
        assert json.loads(z.read("datapackage.json"))["mainPageUrl"] == ex.url
        with z.open("archive/data.warc.gz") as f:
            got = [r.content_stream().read() for r in ArchiveIterator(f) if r.rec_type == "response"]
    assert got == [body]


def test_a_page_over_the_limit_is_kept_truncated_and_said_so(server, store, archive, monkeypatch):
    monkeypatch.setattr(record, "MAX_BODY", 64 * 1024)
    page = page_for(server, "long", "A long page")
    page = page.replace(b"</body>", b"<p>" + b"y" * 300_000 + b"</p></body>")
    url = publish(server, "long", page)
    vid = ingest(server, store, archive, url)       # the fetch itself is whole: yt-dlp read the page to its end
    path = wacz_of(store, archive, vid)
    assert wacz.check(path) == []
    _http, head = warc_headers(path, url)
    assert head["WARC-Truncated"] == "length"
    got = wacz.main_page(path)
    assert got is not None and got.truncated and got.body == page[: 64 * 1024]
    provenance = json.loads((archive.video_dir(vid) / "provenance.json").read_text())
    assert any("longer than 65536 bytes" in n for n in provenance["capture"]["notes"])
    res = validate(path)
    assert res.returncode == 0, res.stdout


def test_a_redirect_loop_is_refused_in_one_line_and_leaves_nothing(server, archive):
    server.routes["/watch/loop.html"] = Route(status=302, headers={"Location": "/watch/loop.html"})
    with pytest.raises(ClipwatchError) as err:
        fetch(server.url("/watch/loop.html"), archive)
    assert "\n" not in str(err.value) and "redirect" in str(err.value).lower()
    assert not [p for p in archive.root.rglob("*") if p.is_file()]


def test_a_hostile_content_type_is_captured_as_served_and_never_trusted(server, store, archive, settings):
    from pipeline.web.app import create_app

    hostile = 'text/html; charset="><script>alert(1)</script>'
    url = publish(server, "hostile", page_for(server, "hostile", "Hostile type"), content_type=hostile)
    vid = ingest(server, store, archive, url)
    path = wacz_of(store, archive, vid)
    assert wacz.check(path) == []
    http, _ = warc_headers(path, url)
    assert ("Content-Type", hostile) in http             # as served
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        framed = client.get(f"/videos/{vid}/capture/page")
        assert framed.status_code == 200 and framed.headers["content-type"] == "text/html"
        listing = client.get(f"/videos/{vid}/capture")
        assert listing.status_code == 200 and "<script>alert(1)" not in listing.text


def test_a_folded_header_with_cr_lf_cannot_forge_a_record_line(server, store, archive):
    url = publish(server, "folded", page_for(server, "folded", "Folded header"),
                  headers={"X-Note": "first\r\n second", "X-Plain": "ok"})
    vid = ingest(server, store, archive, url)
    path = wacz_of(store, archive, vid)
    assert wacz.check(path) == []
    http, _ = warc_headers(path, url)
    names = [k for k, _ in http]
    assert "X-Plain" in names and "second" not in names   # the folded line is no header of its own
    note = dict(http)["X-Note"]
    assert "\r" not in note and "\n" not in note and "second" in note
    res = validate(path)
    assert res.returncode == 0, res.stdout


def test_a_thumbnail_that_is_not_an_image_is_kept_as_served(server, store, archive):
    server.routes["/thumbs/not.jpg"] = Route(body=b"<html><body>not an image</body></html>", content_type="text/html")
    url = publish(server, "badthumb", page_for(server, "badthumb", "Bad thumbnail",
                                                thumbnail_url=server.url("/thumbs/not.jpg")))
    vid = ingest(server, store, archive, url)
    path = wacz_of(store, archive, vid)
    assert wacz.check(path) == []
    http, _ = warc_headers(path, server.url("/thumbs/not.jpg"))
    assert ("Content-Type", "text/html") in http


def test_non_utf8_html_is_kept_byte_for_byte_with_its_charset(server, store, archive, settings):
    from pipeline.web.app import create_app

    title = "조선중앙텔레비죤 보도"
    page = (f"<!doctype html><html lang='ko'><head><meta charset='euc-kr'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>오늘의 보도입니다.</p>"
            f"<video src='{server.url('/media/euckr.mp4')}'></video></body></html>").encode("euc-kr")
    url = publish(server, "euckr", page, content_type="text/html; charset=EUC-KR")
    vid = ingest(server, store, archive, url)
    path = wacz_of(store, archive, vid)
    assert wacz.check(path) == []
    got = wacz.main_page(path)
    assert got is not None and got.body == page
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        framed = client.get(f"/videos/{vid}/capture/page")
        assert framed.status_code == 200 and framed.content == page
        assert framed.headers["content-type"] == "text/html; charset=EUC-KR"


def test_a_post_to_the_platform_api_is_kept_with_its_body():
    from yt_dlp.networking.common import Request, Response

    def urlopen(req):
        return Response(io.BytesIO(b'{"ok": true}'), url=req.url, headers={"Content-Type": "application/json"}, status=200)

    ydl = SimpleNamespace(urlopen=urlopen, params={})
    rec = record.Recorder()
    rec.attach(ydl)
    query = b'{"videoId": "abc", "context": {"client": "WEB"}}'
    assert ydl.urlopen(Request("http://127.0.0.1:9/api/player", data=query, headers={"Content-Type": "application/json"})).read() == b'{"ok": true}'
    packed = wacz.package(Capture(video_id="v", page_url="http://127.0.0.1:9/watch", title=None, exchanges=rec.exchanges))
    with zipfile.ZipFile(io.BytesIO(packed.data)) as z, z.open("archive/data.warc.gz") as f:
        reqs = [(r.http_headers.protocol, r.content_stream().read()) for r in ArchiveIterator(f) if r.rec_type == "request"]
    assert reqs == [("POST", query)]
