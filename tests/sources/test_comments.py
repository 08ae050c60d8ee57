"""The platform's comments (issue 23): fetched through yt-dlp's comment extraction with ``--comments`` (or a registry
entry's ``comments = true``), kept as received in info.json and the WACZ, derived into comments.json (in the manifest),
searchable with ``--source comments``, shown threaded on the video page and by ``show``; hostile comments stay text.

yt-dlp has no comment-capable extractor for the loopback site, so the tests register one: an ``InfoExtractor`` whose
``_get_comments`` reads the comments from a loopback JSON API, as YouTube's and others' extractors read theirs."""

from __future__ import annotations

import json
import zipfile

import pytest
from conftest import SAMPLES, publish_page
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline.capture import wacz
from pipeline.demo.loopback import Route
from pipeline.errors import ConfigError
from pipeline.preservation.fixity import verify
from pipeline.preservation.watching import wants_comments
from pipeline.preservation.webarchive import capture_of
from pipeline.search.facade import SearchQuery, search
from pipeline.sources import comments as cm
from pipeline.sources import ytdlp
from pipeline.sources.base import FetchOptions
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch

COMMENTS = [
    {"id": "c1", "parent": "root", "author": "Reader One", "author_id": "UC111", "text": "The harvest figures look wrong.",
     "timestamp": 1700000000, "like_count": 12},
    {"id": "c2", "parent": "c1", "author": "Reader Two", "author_id": "UC222", "text": "They match last year's bulletin.",
     "timestamp": 1700003600, "like_count": 3},
    {"id": "c3", "parent": "root", "author": "Third", "author_id": "UC333", "text": "Где оригинал видео?",
     "timestamp": 1700007200, "like_count": 0},
]


def _extractor():
    from yt_dlp.extractor.common import InfoExtractor

    class LoopbackCommentsIE(InfoExtractor):
        """Watch pages /watch/c-NAME.html on the loopback site, their comments from /api/comments/c-NAME.json."""

        IE_NAME = "loopbackcomments"
        _VALID_URL = r"http://127\.0\.0\.1:\d+/watch/(?P<id>c-[\w-]+)\.html"

        def _real_extract(self, url):
            vid = self._match_id(url)
            page = self._download_webpage(url, vid)
            base = url.split("/watch/", 1)[0]
            return {"id": vid, "title": self._html_extract_title(page), "url": f"{base}/media/{vid}.mp4", "ext": "mp4",
                    "uploader": "Sample TV", "__post_extractor": self.extract_comments(vid, base)}

        def _get_comments(self, vid, base):
            data = self._download_json(f"{base}/api/comments/{vid}.json", vid, note="Downloading comments")
            yield from data["comments"]

    return LoopbackCommentsIE


@pytest.fixture(autouse=True)
def comment_extractor(monkeypatch):
    """Every YoutubeDL clipwatch makes tries the loopback comments extractor first (before yt-dlp's generic one)."""
    ie_class = _extractor()
    made = ytdlp.new_ydl

    def new_ydl(extra=None):
        ydl = made(extra)
        ie = ie_class(ydl)
        ydl._ies = {ie.ie_key(): ie, **ydl._ies}
        ydl._ies_instances[ie.ie_key()] = ie
        return ydl

    monkeypatch.setattr(ytdlp, "new_ydl", new_ydl)


def publish(server, name: str, comments: list) -> tuple[str, bytes]:
    url = publish_page(server, f"c-{name}", SAMPLES / "evening-bulletin.mp4", f"Bulletin {name}",
                       description="The evening news.")
    body = json.dumps({"comments": comments}, ensure_ascii=False).encode()
    server.routes[f"/api/comments/c-{name}.json"] = Route(body=body, content_type="application/json")
    return url, body


def ingest(server, store, archive, name: str, comments: list, want: bool = True) -> tuple[str, bytes]:
    url, body = publish(server, name, comments)
    return record_fetch(store, archive, fetch(url, archive, FetchOptions(comments=want)), None).video_id, body


def test_comments_are_kept_as_received_listed_searchable_and_in_the_wacz(server, store, archive):
    vid, body = ingest(server, store, archive, "news", COMMENTS)
    folder = archive.video_dir(vid)
    info = json.loads((folder / "info.json").read_text())
    got = [{k: c.get(k) for k in ("id", "parent", "author", "author_id", "text", "timestamp", "like_count")}
           for c in info["comments"]]
    assert got == COMMENTS  # as yt-dlp gave them, every field
    doc = json.loads((folder / "comments.json").read_text())
    assert doc["count"] == 3 and doc["note"] is None
    assert [(c["id"], c["parent"], c["author"]) for c in doc["comments"]] == [("c1", None, "Reader One"),
                                                                           ("c2", "c1", "Reader Two"), ("c3", None, "Third")]
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    assert "comments.json" in manifest
    assert verify(store, archive, [vid]).ok  # the comment rows went under the chain with the fetch
    (folder / "comments.json").write_text((folder / "comments.json").read_text().replace("harvest", "HARVEST"))
    bad = [f for f in verify(store, archive, [vid]).problems if f.path.endswith("comments.json")]
    assert len(bad) == 1 and bad[0].status == "corrupt"
    # the comment API response is in the fetch's web archive, byte for byte as served
    recs = {r["uri"]: r for r in wacz.records(archive.abspath(capture_of(store, vid).path)) if r["type"] == "response"}
    api = server.url("/api/comments/c-news.json")
    assert api in recs
    with zipfile.ZipFile(archive.abspath(capture_of(store, vid).path)) as z, z.open("archive/data.warc.gz") as f:
        from warcio.archiveiterator import ArchiveIterator

        payloads = [r.content_stream().read() for r in ArchiveIterator(f)
                    if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") == api]
    assert payloads == [body]

    res = search(store, SearchQuery(text="harvest", source="comments"))
    hits = [h for g in res.videos for h in g.hits]
    assert len(hits) == 1 and hits[0].kind == "comments"
    h = hits[0]
    assert h.author == "Reader One" and h.posted_at == "2023-11-14T22:13:20Z"
    assert h.web_path.startswith(f"/videos/{vid}#comment-") and h.keyframe is None
    assert search(store, SearchQuery(text="bulletin", source="comments")).videos[0].hits[0].author == "Reader Two"
    assert not search(store, SearchQuery(text="harvest", source="speech")).videos
    assert not search(store, SearchQuery(text="harvest", source="screen")).videos


def test_without_the_option_no_comment_is_asked_for(server, store, archive):
    vid, _ = ingest(server, store, archive, "quiet", COMMENTS, want=False)
    assert "GET /api/comments/c-quiet.json" not in server.requests
    assert not (archive.video_dir(vid) / "comments.json").exists()
    assert not search(store, SearchQuery(text="harvest", source="comments")).videos


def hostile() -> list[dict]:
    out = [
        {"id": "h1", "parent": "root", "author": "../../etc/passwd", "author_id": "..\\x", "timestamp": 1700000000,
         "text": "bell\x07 nul\x00 esc\x1b]0;pwned\x07 rtl\u202eevil\u202c <script>alert(1)</script> markerword",
         "like_count": "many"},
        {"id": "h2", "parent": "h1", "author": "[bold]rich[/bold]", "text": "A" * 100_000 + " longword",
         "timestamp": "yesterday"},
        {"id": "h3", "parent": "h3", "author": None, "text": "answers itself loopword"},
        "not a comment",
    ]
    out += [{"id": f"n{i}", "parent": "root", "author": f"user{i}", "text": f"comment number {i} filler",
             "timestamp": 1700000000 + i} for i in range(10_000)]
    return out


def test_hostile_comments_stay_text(server, store, archive, settings):
    vid, _ = ingest(server, store, archive, "hostile", hostile())
    doc = json.loads((archive.video_dir(vid) / "comments.json").read_text())
    assert doc["count"] == 10_003  # the entry that is not an object is left out
    assert "10,003" in doc["note"] and "5,000" in doc["note"]
    assert doc["comments"][1]["text"] == "A" * 100_000 + " longword"  # whole in the file
    lines = store.segments(vid, "comments")
    assert len(lines) == cm.MAX_INDEXED
    first = next(s for s in lines if s["idx"] == 0)["text"]
    assert "\x00" not in first and "\x1b" not in first and "markerword" in first
    assert len(next(s for s in lines if s["idx"] == 1)["text"]) <= cm.MAX_CHARS + 1
    hit = search(store, SearchQuery(text="markerword", source="comments")).videos[0].hits[0]
    assert hit.author == "../../etc/passwd" and hit.posted_at == "2023-11-14T22:13:20Z"
    assert not list(archive.root.parent.glob("etc"))  # an author is never a path

    from pipeline.web.app import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        page = client.get(f"/videos/{vid}")
        assert page.status_code == 200
        text = page.text
        assert "Comments (10003)" in text and "not indexed or shown" in text
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert 'class="comment depth-1"' in text  # h2 answers h1
        assert "\x00" not in text and "\x1b" not in text
        found = client.get("/", params={"q": "markerword", "source": "comments"})
        assert found.status_code == 200 and f"/videos/{vid}#comment-" in found.text and "comment by" in found.text

    from pipeline.cli.app import app

    res = CliRunner().invoke(app, ["search", "markerword", "--source", "comments"])
    assert res.exit_code == 0, res.output
    assert "comment by ../../etc/passwd" in res.output and "\u202e" not in res.output and "\x1b" not in res.output
    res = CliRunner().invoke(app, ["show", vid, "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.output)
    assert shown["comments"]["indexed"] == cm.MAX_INDEXED and "thread" not in shown["comments"]
    assert all(t["kind"] != "comments" for t in shown["transcripts"])
    res = CliRunner().invoke(app, ["show", vid, "--comments", "--json"])
    thread = json.loads(res.output)["comments"]["thread"]
    assert len(thread) == cm.MAX_INDEXED and [(t["id"], t["depth"]) for t in thread[:2]] == [("h1", 0), ("h2", 1)]
    res = CliRunner().invoke(app, ["show", vid, "--comments"])
    assert res.exit_code == 0 and "\u202e" not in res.output and "[bold]rich[/bold]" in res.output


def test_threading_survives_cycles_and_deep_chains():
    chain = [cm.Comment(str(i), str(i - 1) if i else None, None, None, "t", None, None) for i in range(3000)]
    out = cm.threaded(chain)
    assert [c.id for _, c in out] == [str(i) for i in range(3000)] and out[-1][0] == 8
    loop = [cm.Comment("a", "b", None, None, "", None, None), cm.Comment("b", "a", None, None, "", None, None)]
    assert sorted(c.id for _, c in cm.threaded(loop)) == ["a", "b"]  # a cycle loses nothing


def test_registry_entry_asks_for_comments(tmp_path):
    reg = tmp_path / "channels.toml"
    reg.write_text('version = "t"\n[watch]\npoll = "1h"\nrelist = "6h"\n'
                   '[[channel]]\nname = "Loud"\nkind = "state-media"\nurls = ["example.org/loud"]\ncomments = true\n'
                   '[[channel]]\nname = "Quiet"\nkind = "state-media"\nurls = ["example.org/quiet"]\npoll = "15m"\n')
    assert wants_comments("https://example.org/loud/videos", reg)
    assert not wants_comments("https://example.org/quiet/videos", reg)
    assert not wants_comments("https://elsewhere.example/x", reg)
    assert not wants_comments("/local/file.mp4", reg)
    reg.write_text(reg.read_text().replace("comments = true", 'comments = "yes"'))
    with pytest.raises(ConfigError, match="comments"):
        wants_comments("https://example.org/loud/videos", reg)


@pytest.fixture(params=["sqlite", "postgresql"])
def cat(request, tmp_path):
    """A fresh catalogue of each kind: both keep and search comments alike (PostgreSQL refuses a NUL in text)."""
    import uuid

    from pipeline.storage.base import open_catalogue

    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'clipwatch.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"c_{uuid.uuid4().hex[:10]}")
    with open_catalogue(url) as c:
        yield c


def test_both_catalogues_keep_and_search_comments(cat, tmp_path):
    from pipeline.domain import MediaRecord, VideoRecord

    sha = "ab" * 32
    cat.upsert_video(VideoRecord(id="v", extractor="generic", platform_id="v", webpage_url="https://e.org/v",
                                 source_url="https://e.org/feed"), "videos/v")
    cat.add_media_file(MediaRecord(sha256=sha, video_id="v", path=f"media/{sha}.mp4", size=10,
                                   fetched_at="2024-01-01T00:00:00Z", fetcher="yt-dlp"))
    folder = tmp_path / "videos" / "v"
    folder.mkdir(parents=True)
    path, transcript = cm.write_comments(folder, {"comments": [
        {"id": "a", "parent": "root", "author": "A", "text": "nul\x00 inside wheatfield", "timestamp": 1},
        {"id": "b", "parent": "a", "author": "B", "text": "speech elsewhere", "timestamp": 2}]})
    cat.replace_transcript("v", sha, cm.KIND, transcript, "videos/v/comments.json")
    res = search(cat, SearchQuery(text="wheatfield", source="comments"))
    hits = [h for g in res.videos for h in g.hits]
    assert [(h.kind, h.text) for h in hits] == [("comments", "nul  inside wheatfield")]
    assert not search(cat, SearchQuery(text="wheatfield", source="speech")).videos


def test_a_capture_with_comments_passes_wacz_validate(server, store, archive):
    import shutil
    import subprocess

    tool = shutil.which("wacz")
    if tool is None:
        pytest.skip("wacz is not installed here: bash scripts/test installs it in .tools/ and runs this test")
    vid, _ = ingest(server, store, archive, "valid", COMMENTS)
    res = subprocess.run([tool, "validate", "-f", str(archive.abspath(capture_of(store, vid).path))],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Validation succeeded" in res.stdout, res.stdout + res.stderr


def test_a_registry_entry_with_comments_makes_the_fetch_task_ask(server, settings, tmp_path, monkeypatch):
    """The ingest flow's fetch asks for comments for a source under an entry with ``comments = true``."""
    from flows.batch import fetch_video
    from pipeline.sources.base import VideoRef
    from pipeline.storage.files import Archive

    reg = tmp_path / "channels.toml"
    reg.write_text(f'version = "t"\n[watch]\npoll = "1h"\nrelist = "6h"\n[[channel]]\nname = "Sample TV"\n'
                   f'kind = "state-media"\nurls = ["{server.base_url}/watch"]\ncomments = true\n', encoding="utf-8")
    monkeypatch.setenv("CLIPWATCH_CHANNELS", str(reg))
    url, _ = publish(server, "listed", COMMENTS)
    outcome = fetch_video(VideoRef(url, url, None), settings, None)
    assert outcome.status == "done"
    assert (Archive(settings.archive_dir).video_dir(outcome.video_id) / "comments.json").is_file()
    assert "GET /api/comments/c-listed.json" in server.requests


def test_the_comments_setting_makes_the_fetch_ask_for_every_source(server, settings):
    """`ingest --comments` (Settings.comments, CLIPWATCH_COMMENTS=1): comments for a source no registry entry names."""
    from dataclasses import replace

    from flows.batch import fetch_video
    from pipeline.sources.base import VideoRef
    from pipeline.storage.files import Archive

    url, _ = publish(server, "asked", COMMENTS)
    outcome = fetch_video(VideoRef(url, url, None), replace(settings, comments=True), None)
    assert (Archive(settings.archive_dir).video_dir(outcome.video_id) / "comments.json").is_file()
    url, _ = publish(server, "unasked", COMMENTS)
    outcome = fetch_video(VideoRef(url, url, None), settings, None)
    assert not (Archive(settings.archive_dir).video_dir(outcome.video_id) / "comments.json").exists()
