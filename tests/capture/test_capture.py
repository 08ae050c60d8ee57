"""Every fetch kept as a WACZ (issue 23): validated by py-wacz, replayed by a real pywb, checked by verify, carried
by bags, exported as a collection, shown on the web; hostile sites give a WACZ as served or a one-line refusal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline.capture import wacz
from pipeline.demo.loopback import Route
from pipeline.errors import ClipwatchError, NotFoundError
from pipeline.preservation.bag import export_bag
from pipeline.preservation.fixity import verify
from pipeline.preservation.webarchive import capture_of, export_wacz
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch

# a 1×1 PNG: the thumbnail the site serves
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000 1f15c489 0000000d4944415478da63f8cfc0f01f0005000201"
                    "a5d6c5b40000000049454e44ae426082".replace(" ", ""))
TITLE = "Evening News Bulletin"
DESCRIPTION = "The evening news: the harvest in the western provinces."


def tool(name: str) -> str:
    """A web-archive tool (py-wacz's `wacz`, pywb's `wayback`/`wb-manager`): beside this Python, else on PATH.

    scripts/test installs them into a virtual environment of their own (`.tools/`, put on PATH): pywb pins older
    cryptography and werkzeug than clipwatch's and installs brotlipy over yt-dlp's brotli, so they must not share
    clipwatch's environment.
    """
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed here: bash scripts/test installs pywb and wacz in .tools/ and runs this test")
    return found


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("wacz"), "validate", "-f", str(path)], capture_output=True, text=True, timeout=120)


def ingest(server, store, archive, name: str = "bulletin", **meta) -> str:
    meta.setdefault("description", DESCRIPTION)
    url = publish_page(server, name, SAMPLES / "evening-bulletin.mp4", meta.pop("title", TITLE), **meta)
    return record_fetch(store, archive, fetch(url, archive), None).video_id


def wacz_of(store, archive, vid: str) -> Path:
    ref = capture_of(store, vid)
    assert ref is not None
    return archive.abspath(ref.path)


@pytest.fixture
def archived(server, store, archive):
    server.routes["/thumbs/bulletin.png"] = Route(body=PNG, content_type="image/png")
    vid = ingest(server, store, archive, upload_date="2019-04-15", channel="Sample TV",
                 thumbnail_url=server.url("/thumbs/bulletin.png"))
    return vid


def test_fetch_writes_a_wacz_named_in_the_chain_and_the_manifest(archived, store, archive, server):
    vid = archived
    path = wacz_of(store, archive, vid)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert path.name == f"{digest}.wacz" and path.parent.name == "capture"
    fetched = [json.loads(e["detail"]) for e in store.events(vid) if e["kind"] == "fetched"]
    assert fetched[0]["capture"]["sha256"] == digest and fetched[0]["capture"]["size"] == len(data)
    listed = json.loads((archive.video_dir(vid) / "manifest.json").read_text())["files"]
    assert listed[f"capture/{digest}.wacz"]["sha256"] == digest
    assert wacz.check(path) == []
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["archive/data.warc.gz", "datapackage-digest.json", "datapackage.json",
                                        "indexes/index.cdx", "pages/pages.jsonl"]
        assert z.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        package = json.loads(z.read("datapackage.json"))
        pages = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()]
    assert package["wacz_version"] == "1.1.1" and package["mainPageUrl"] == server.url("/watch/bulletin.html")
    assert pages[0]["format"] == "json-pages-1.0" and pages[1]["title"] == TITLE
    recs = list(wacz.records(path))
    kinds = [(r["type"], r["uri"]) for r in recs]
    assert kinds[0] == ("warcinfo", None)
    assert ("response", server.url("/watch/bulletin.html")) in kinds and ("request", server.url("/watch/bulletin.html")) in kinds
    assert ("response", server.url("/thumbs/bulletin.png")) in kinds          # the thumbnail as it was written
    media_sha = store.get_video(vid)["media_sha256"]
    revisit = [r for r in recs if r["type"] == "revisit"]
    assert [r["uri"] for r in revisit] == [server.url("/media/bulletin.mp4")]
    # the media is referred to by its SHA-256, never stored twice: the WACZ is far smaller than the media
    assert len(data) < (SAMPLES / "evening-bulletin.mp4").stat().st_size / 10
    with zipfile.ZipFile(path) as z, z.open("archive/data.warc.gz") as f:
        from warcio.archiveiterator import ArchiveIterator

        heads = {r.rec_type: r.rec_headers for r in ArchiveIterator(f)}
    assert heads["revisit"].get_header("WARC-Payload-Digest") == f"sha256:{media_sha}"
    page = wacz.main_page(path)
    assert page is not None and page.status == 200 and TITLE.encode() in page.body and DESCRIPTION.encode() in page.body


def test_wacz_validate_accepts_it(archived, store, archive):
    res = validate(wacz_of(store, archive, archived))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Validation succeeded" in res.stdout


def test_a_changed_byte_inside_the_wacz_is_corrupt(archived, store, archive):
    path = wacz_of(store, archive, archived)
    assert verify(store, archive, [archived]).ok
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("archive/data.warc.gz")
    at = info.header_offset + 30 + len(info.filename) + 40   # inside the stored WARC's bytes
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    assert wacz.check(path)                                   # the package itself says so
    res = verify(store, archive, [archived])
    bad = [f for f in res.problems if f.path.endswith(".wacz")]
    assert len(bad) == 1 and bad[0].status == "corrupt" and bad[0].role == "web archive (WACZ)"
    with pytest.raises(ClipwatchError, match="changed after event"):
        export_wacz(store, archive, archive.root.parent / "out", [archived])


def test_a_changed_wacz_is_never_replayed_on_the_web(archived, store, archive, settings):
    from pipeline.web.app import create_app

    path = wacz_of(store, archive, archived)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        for url in (f"/videos/{archived}/capture", f"/videos/{archived}/capture/page", f"/videos/{archived}/capture.wacz",
                    f"/api/videos/{archived}/capture"):
            got = client.get(url)
            assert got.status_code == 400 and "clipwatch verify" in got.text, url


def test_bag_carries_the_wacz(archived, store, archive, tmp_path):
    path = wacz_of(store, archive, archived)
    export_bag(store, archive, tmp_path / "bag", [archived])
    carried = list((tmp_path / "bag").rglob("*.wacz"))
    assert len(carried) == 1 and carried[0].read_bytes() == path.read_bytes()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pywb_replays_the_watch_page_from_the_exported_collection(archived, store, archive, server, tmp_path):
    wayback, manager = tool("wayback"), tool("wb-manager")
    out = export_wacz(store, archive, tmp_path / "export", [archived])
    assert validate(tmp_path / "export" / out.collection).returncode == 0
    home = tmp_path / "pywb"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": ""}
    subprocess.run([manager, "init", "clips"], cwd=home, check=True, capture_output=True, timeout=120, env=env)
    subprocess.run([manager, "add", "--unpack-wacz", "clips", str(tmp_path / "export" / out.collection)], cwd=home,
                   check=True, capture_output=True, timeout=120, env=env)
    port = _free_port()
    proc = subprocess.Popen([wayback, "-p", str(port), "-b", "127.0.0.1"], cwd=home, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page_url = server.url("/watch/bulletin.html")
        server.stop()   # the site is gone: what comes back is the archive's
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/clips/2mp_/{page_url}", timeout=10) as r:
                    body = r.read().decode("utf-8")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert f"<title>{TITLE}</title>" in body and DESCRIPTION in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_export_wacz_cli_writes_a_collection(archived, server, store, archive, tmp_path, data_dir):
    from pipeline.cli.app import app

    second = ingest(server, store, archive, name="statement", title="Statement of the Spokesman")
    res = CliRunner().invoke(app, ["export", "wacz", str(tmp_path / "coll"), archived, second, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [v["id"] for v in doc["videos"]] == [archived, second]
    coll = json.loads((tmp_path / "coll" / "collection.json").read_text())
    assert coll["profile"] == "multi-wacz-package" and len(coll["resources"]) == 2
    for r in coll["resources"]:
        f = tmp_path / "coll" / r["path"]
        assert r["hash"] == "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()
    joined = tmp_path / "coll" / "collection.wacz"
    assert wacz.check(joined) == []
    with zipfile.ZipFile(joined) as z:
        pages = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()[1:]]
        index = z.read("indexes/index.cdx").decode().splitlines()
    assert sorted(p["title"] for p in pages) == ["Evening News Bulletin", "Statement of the Spokesman"]
    assert {json.loads(line.split(" ", 2)[2])["filename"] for line in index} == {f"{archived}-data.warc.gz",
                                                                                  f"{second}-data.warc.gz"}
    res = validate(joined)
    assert res.returncode == 0, res.stdout
    # a second export into the same folder is refused in one line, nothing overwritten
    again = CliRunner().invoke(app, ["export", "wacz", str(tmp_path / "coll"), archived])
    assert again.exit_code != 0 and isinstance(again.exception, ClipwatchError)
    assert "already exists" in str(again.exception)


def test_export_wacz_with_tsa_stamps_each_file(archived, store, archive, tmp_path):
    from pipeline.testing.tsa import LoopbackTSA

    with LoopbackTSA() as tsa:
        out = export_wacz(store, archive, tmp_path / "stamped", [archived], tsa=tsa.url)
    assert {t["file"] for t in out.timestamps} == {"collection.wacz", f"{archived}.wacz"}
    for t in out.timestamps:
        assert (tmp_path / "stamped" / t["tsr"]).is_file() or (tmp_path / "stamped" / "videos" / t["tsr"]).is_file()


def test_web_shows_the_page_as_captured(archived, store, archive, settings):
    from pipeline.web.app import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        video = client.get(f"/videos/{archived}")
        assert f'href="/videos/{archived}/capture"' in video.text
        page = client.get(f"/videos/{archived}/capture")
        assert page.status_code == 200 and "the page as captured" in page.text.lower()
        assert capture_of(store, archived).sha256 in page.text
        framed = client.get(f"/videos/{archived}/capture/page")
        assert framed.status_code == 200 and TITLE in framed.text and DESCRIPTION in framed.text
        assert framed.headers["content-security-policy"].startswith("sandbox")
        assert framed.headers["content-type"].startswith("text/html")
        down = client.get(f"/videos/{archived}/capture.wacz")
        assert down.status_code == 200 and down.content == wacz_of(store, archive, archived).read_bytes()
        api = client.get(f"/api/videos/{archived}/capture").json()
        assert api["capture"]["sha256"] == capture_of(store, archived).sha256
        assert client.get("/videos/nosuchvideo/capture").status_code == 404


def test_a_video_without_capture_is_a_404_not_a_500(store, archive, settings, tmp_path):
    from pipeline.sources.fetch import fetch as fetch_any
    from pipeline.web.app import create_app

    clip = tmp_path / "local.mp4"
    clip.write_bytes((SAMPLES / "evening-bulletin.mp4").read_bytes())
    vid = record_fetch(store, archive, fetch_any(str(clip), archive), None).video_id
    with pytest.raises(NotFoundError, match="no web archive"):
        export_wacz(store, archive, tmp_path / "none", [vid])
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        assert client.get(f"/videos/{vid}/capture").status_code == 404
        assert client.get(f"/videos/{vid}/capture/page").status_code == 404
