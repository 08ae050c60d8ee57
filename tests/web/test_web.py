"""The web UI and JSON API through FastAPI's TestClient: pages, escaping, range requests, traversal, bad params."""

from __future__ import annotations

import csv
import io
import json

import pytest
from _search_catalogue import HOSTILE, build_catalogue, make_media
from fastapi.testclient import TestClient

from pipeline.web import create_app


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    media = make_media(root / "src" / "ministry.mp4", seconds=6)
    s = build_catalogue(root / "data", media=media)
    (root / "data" / "secret.txt").write_text("outside the archive")
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        yield client, s


def test_search_page_and_results(web):
    c, _ = web
    r = c.get("/")
    assert r.status_code == 200 and "<form" in r.text and "KCTV Archive" in r.text  # channel filter options
    r = c.get("/", params={"q": "nuclear deterrent"})
    assert r.status_code == 200
    assert "Ministry statement" in r.text and "<mark>nuclear</mark>" in r.text
    assert 'href="/videos/generic-ministry-bbbbbb?t=0"' in r.text
    assert "/files/videos/generic-ministry-bbbbbb/keyframes/0000.jpg" in r.text  # thumbnail
    assert "Content-Security-Policy" in r.headers and "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_korean_search_page_shows_translation_beside(web):
    c, _ = web
    r = c.get("/", params={"q": "핵무력"})
    assert r.status_code == 200
    assert "<mark>핵무력</mark>을" in r.text and "We will further strengthen our nuclear forces." in r.text


def test_untrusted_text_is_escaped(web):
    c, _ = web
    for url in ("/?q=song", "/videos/youtube-hostile-cccccc", "/?q=%3Cscript%3Ealert(1)%3C/script%3E"):
        r = c.get(url)
        assert r.status_code == 200, url
        assert "<script>alert(1)</script>" not in r.text, url
        assert "<b>Channel" not in r.text and "<b>bold" not in r.text, url
        assert "<img src=x" not in r.text and "<i>for" not in r.text, url
    r = c.get("/videos/youtube-hostile-cccccc")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "Hostile &lt;b&gt;Channel&lt;/b&gt;" in r.text
    assert r.text.count("<script") == 1  # only our own /static/app.js
    r = c.get("/api/search", params={"q": "song"})
    assert r.json()["videos"][0]["title"] == HOSTILE  # JSON carries the raw text; escaping is the renderer's job
    assert "&lt;b&gt;bold&lt;/b&gt;" in r.json()["videos"][0]["hits"][0]["snippet_html"]


def test_only_http_links_are_clickable(web):
    c, s = web
    from pipeline.storage.sqlite.catalogue import Store

    with Store(s.db_path) as st:
        st.set_video_fields("generic-daily-dddddd", webpage_url="javascript:alert(3)", channel_url="data:text/html,x")
    try:
        r = c.get("/videos/generic-daily-dddddd")
        assert r.status_code == 200 and 'href="javascript:' not in r.text and 'href="data:' not in r.text
        r = c.get("/", params={"q": "harvest"})
        assert 'href="javascript:' not in r.text
    finally:
        with Store(s.db_path) as st:
            st.set_video_fields("generic-daily-dddddd", webpage_url="https://example.org/daily?id=4", channel_url=None)


def test_video_page(web):
    c, _ = web
    r = c.get("/videos/generic-ministry-bbbbbb", params={"t": "12"})
    assert r.status_code == 200
    assert '<video id="player"' in r.text and 'data-start="12.0"' in r.text
    assert 'data-seek="12.0"' in r.text  # transcript line that seeks
    assert "Nuclear talks will resume next week" in r.text
    assert "title: statement" in r.text  # tag evidence
    assert "yt-dlp 2026.10.26" in r.text  # provenance
    assert "fetched" in r.text  # event log
    assert "@misc{genericministrybbbbbb2019" in r.text and "00:00:12" in r.text  # citations (video and moment)
    r = c.get("/videos/youtube-kb1-aaaaaa")
    assert "This is the Korean Central Television evening report." in r.text  # translation beside the original
    assert "The archived file is not available" in r.text  # no file for this one
    r = c.get("/videos/youtube-hostile-cccccc")
    assert "removed-by-platform" in r.text and "removed" in r.text
    assert c.get("/videos/youtube-kb1").status_code == 200  # unambiguous prefix


def test_range_requests(web):
    c, s = web
    media_url = c.get("/api/videos/generic-ministry-bbbbbb").json()["media_url"]
    full = c.get(media_url)
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    size = len(full.content)
    r = c.get(media_url, headers={"Range": "bytes=100-299"})
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes 100-299/{size}"
    assert r.content == full.content[100:300]
    r = c.get(media_url, headers={"Range": f"bytes={size - 10}-"})
    assert r.status_code == 206 and r.content == full.content[-10:]
    r = c.get(media_url, headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert r.status_code == 416
    r = c.get("/files/videos/generic-ministry-bbbbbb/keyframes/0001.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("path", [
    "/files/../secret.txt", "/files/..%2fsecret.txt", "/files/%2e%2e/secret.txt", "/files/%2e%2e%2fsecret.txt",
    "/files/videos/../../secret.txt", "/files/videos/%2e%2e/%2e%2e/secret.txt", "/files/%2fetc%2fpasswd",
    "/files//etc/passwd", "/files/..%5csecret.txt", "/files/media/.incoming/x", "/files/videos", "/files/nope.mp4",
    "/files/%00", "/files/%2e%2e", "/files/../clipwatch.db", "/files/..%2fclipwatch.db",
])
def test_path_traversal_is_404(web, path):
    c, _ = web
    r = c.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "outside the archive" not in r.text and "SQLite" not in r.text


@pytest.mark.parametrize("url,status", [
    ("/?q=x&limit=abc", 400), ("/?q=x&limit=0", 400), ("/?q=x&limit=99999", 400), ("/?q=x&min_score=high", 400),
    ("/?q=x&min_score=7", 400), ("/?q=x&since=2019-13-40", 400), ("/?q=x&since=2020&until=2019", 400),
    ("/?q=x&sort=sideways", 400), ("/?q=x&mode=psychic", 400), ("/?q=x&status=gone", 400), ("/?q=x&cursor=%%%", 400),
    ("/?q=%22unbalanced", 200), ("/?q=AND", 200), ("/?q=*", 200), ("/?q=(((", 200), ("/?q=" + "a" * 2000, 400),
    ("/videos/nope", 404), ("/videos/generic-ministry-bbbbbb?t=abc", 400), ("/videos/generic-ministry-bbbbbb?t=-5", 400),
    ("/videos/generic-ministry-bbbbbb?t=1:05", 200), ("/videos/%00", 404),
    ("/export?q=nuclear&format=xml", 400), ("/export?q=nuclear&max=lots", 400), ("/export?q=", 400),
    ("/api/search", 422), ("/api/search?q=", 422), ("/api/search?q=x&limit=abc", 422), ("/api/search?q=x&limit=0", 422),
    ("/api/search?q=x&sort=sideways", 400), ("/api/search?q=x&since=nope", 400), ("/api/search?q=x&cursor=zzz", 400),
    ("/api/search?q=x&min_score=2", 422), ("/api/videos/nope", 404), ("/api/videos/nope/transcript", 404),
    ("/api/videos/youtube-kb1-aaaaaa/citation?format=rtf", 400), ("/api/videos/youtube-kb1-aaaaaa/citation?t=x", 422),
])
def test_bad_params_are_4xx_never_500(web, url, status):
    c, _ = web
    r = c.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    if status >= 400 and url.startswith("/api/"):
        body = r.json()
        assert body.get("error") or body.get("detail")
    elif status >= 400:
        assert "<h1>" in r.text or "query-error" in r.text


def test_notice_shown_for_fallback(web):
    c, _ = web
    r = c.get("/", params={"q": '"nuclear deterrent'})
    assert 'id="notice"' in r.text and "plain phrase" in r.text and "<mark>" in r.text


def test_pagination_links(web):
    c, _ = web
    r = c.get("/", params={"q": "harvest", "limit": "10"})
    assert 'id="next-page"' in r.text
    import re

    nxt = re.search(r'id="next-page" href="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    r2 = c.get(nxt)
    assert r2.status_code == 200 and "Report number 10 mentions" in r2.text


def test_api_search_json(web):
    c, _ = web
    d = c.get("/api/search", params={"q": "핵무력", "language": "ko"}).json()
    assert d["mode"] == "substring" and d["hit_count"] == 2
    h = d["videos"][0]["hits"][0]
    assert h["link"].startswith("https://www.youtube.com/watch?v=kb1&t=") and h["translation"]
    d = c.get("/api/search", params={"q": "nuclear", "status": "removed"}).json()
    assert [v["video_id"] for v in d["videos"]] == ["youtube-hostile-cccccc"]
    d = c.get("/api/search", params={"q": "harvest", "limit": 25}).json()
    d2 = c.get("/api/search", params={"q": "harvest", "limit": 25, "cursor": d["next_cursor"]}).json()
    assert d["hit_count"] == 25 and d2["hit_count"] == 5 and d2["next_cursor"] is None


def test_api_video_and_transcript(web):
    c, _ = web
    v = c.get("/api/videos/youtube-kb1-aaaaaa").json()
    assert v["video"]["title"] == "저녁 보도 Evening bulletin" and len(v["keyframes"]) == 3
    assert [t["category"] for t in v["tags"]] == ["news", "propaganda"]
    assert v["citation"]["csl"]["issued"] == {"date-parts": [[2018, 3, 5]]} and v["events"][0]["kind"] == "fetched"
    t = c.get("/api/videos/youtube-kb1-aaaaaa/transcript").json()
    assert len(t["segments"]) == 4
    assert t["segments"][1]["text"] == "우리는 핵무력을 더욱 강화할 것입니다."
    assert t["segments"][1]["translation"] == "We will further strengthen our nuclear forces."
    b = c.get("/api/videos/youtube-kb1-aaaaaa/citation", params={"t": 9, "format": "bibtex"})
    assert b.status_code == 200 and b.text.startswith("@misc{youtubekb1aaaaaa2018t9,")
    assert "openapi" in c.get("/openapi.json").json()


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "srt"])
def test_export_download(web, fmt):
    c, _ = web
    r = c.get("/export", params={"q": "nuclear", "format": fmt, "channel": "Ministry TV"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="clipwatch-hits.{fmt}"'
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.text)))
    elif fmt == "json":
        rows = r.json()
    elif fmt == "jsonl":
        rows = [json.loads(x) for x in r.text.splitlines()]
    else:
        assert r.text.startswith("1\n00:00:00,000 --> 00:00:03,000\n")
        return
    assert len(rows) == 2 and all(x["channel"] == "Ministry TV" and x["sha256"] for x in rows)
