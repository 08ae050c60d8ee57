"""Copies and the channel network in the web UI and JSON API (TestClient), and in a real Chromium (screenshot)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from _search_catalogue import build_catalogue
from conftest import serve_app
from fastapi.testclient import TestClient

from pipeline.copies.copies import CopyLink
from pipeline.storage.sqlite.catalogue import Store
from pipeline.web import create_app

DAILY, BULLETIN, HOSTILE_ID, MINISTRY = "generic-daily-dddddd", "youtube-kb1-aaaaaa", "youtube-hostile-cccccc", "generic-ministry-bbbbbb"


def with_links(data_dir: Path):
    """The search test catalogue plus copy links: Ministry TV's daily report re-uploaded by two other channels."""
    s = build_catalogue(data_dir)
    with Store(s.db_path) as st:
        st.save_links([
            CopyLink(DAILY, BULLETIN, offset=30.0, coverage=0.06, confidence=0.91, method="both", matched_seconds=18.0),
            CopyLink(DAILY, HOSTILE_ID, offset=0.0, coverage=0.03, confidence=0.8, method="audio", speed=1.05,
                     matched_seconds=10.0),
        ], "test")
    return s


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    s = with_links(tmp_path_factory.mktemp("netweb") / "data")
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        yield client


def test_api_network_shape(web):
    r = web.get("/api/network")
    assert r.status_code == 200
    net = r.json()
    nodes = {n["channel"]: n for n in net["nodes"]}
    assert set(nodes) == {"KCTV Archive", "Ministry TV", "Hostile <b>Channel</b>"}
    assert {k for k in nodes["Ministry TV"]} >= {"channel", "videos", "copies", "copy_share", "registry", "status"}
    assert nodes["Ministry TV"]["videos"] == 2 and nodes["Ministry TV"]["copies"] == 0
    assert nodes["Hostile <b>Channel</b>"]["status"] == "removed" and nodes["Hostile <b>Channel</b>"]["copy_share"] == 1.0
    edges = {(e["from"], e["to"]): e for e in net["edges"]}
    assert set(edges) == {("Ministry TV", "KCTV Archive"), ("Ministry TV", "Hostile <b>Channel</b>")}
    assert edges[("Ministry TV", "KCTV Archive")]["median_delay_days"] == 669.0  # 2016-05-05 -> 2018-03-05
    one = web.get("/api/network", params={"channel": "KCTV Archive"}).json()
    assert [(e["from"], e["to"]) for e in one["edges"]] == [("Ministry TV", "KCTV Archive")]
    g = web.get("/api/network", params={"format": "graphml"})
    assert g.status_code == 200 and ElementTree.fromstring(g.content).tag.endswith("graphml")
    assert web.get("/api/network", params={"format": "csv"}).text.splitlines()[0] == "from,to,videos,median_delay_days"


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"format": "dot"}, {"since": "2019-02-30"}])
def test_network_bad_params_are_400(web, params):
    assert web.get("/api/network", params=params).status_code == 400
    if "since" in params:
        assert web.get("/network", params=params).status_code == 400


def test_network_page_draws_escaped_svg(web):
    r = web.get("/network")
    assert r.status_code == 200
    svg = r.text[r.text.index("<svg"):r.text.index("</svg>") + 6]
    root = ElementTree.fromstring(svg)  # well-formed: hostile names are escaped
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}g[@class='node']")) == 3 and len(root.findall(f".//{ns}g[@class='edge']")) == 2
    assert "<b>Channel</b>" not in svg and "Hostile &lt;b&gt;Channel&lt;/b&gt;" in svg
    assert "<script" not in r.text.replace('<script src="/static/app.js" defer></script>', "")


def test_video_page_lists_copied_from_and_copies_elsewhere(web):
    page = web.get(f"/videos/{DAILY}").text
    section = page[page.index('id="copies"'):page.index("</section>", page.index('id="copies"'))]
    assert f'href="/videos/{BULLETIN}"' in section and f'href="/videos/{HOSTILE_ID}"' in section
    assert "Copied from" in section and "None found." in section  # the daily report copies nobody
    copy_page = web.get(f"/videos/{HOSTILE_ID}").text
    assert f'href="/videos/{DAILY}"' in copy_page and "speed ×1.05" in copy_page
    api = web.get(f"/api/videos/{BULLETIN}/copies").json()
    assert [l["video_id"] for l in api["copied_from"]] == [DAILY] and api["copied_from"][0]["method"] == "both"
    assert web.get("/api/videos/nope/copies").status_code == 404
    assert web.get(f"/api/videos/{MINISTRY}").json()["copies"] == {"copied_from": [], "copies_elsewhere": []}


# -- in a real browser ---------------------------------------------------------
CHROMIUM = os.environ.get("CLIPWATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python package 'playwright' is not installed")
    s = with_links(tmp_path_factory.mktemp("netlive") / "data")
    with serve_app(create_app(s)) as base:
        pw = sync_api.sync_playwright().start()
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield base, browser
        browser.close()
        pw.stop()


def test_network_page_in_chromium(live, capsys):
    base, browser = live
    shots = Path(os.environ.get("CLIPWATCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "clipwatch-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.goto(base + "/")
    page.click("text=Network")
    page.wait_for_url("**/network")
    assert page.locator("svg.network g.node").count() == 3 and page.locator("svg.network g.edge").count() == 2
    box = page.locator("svg.network").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 300  # drawn, not collapsed
    # each circle is inside the drawing
    for i in range(3):
        c = page.locator("svg.network g.node circle").nth(i).bounding_box()
        assert c and box["x"] <= c["x"] and c["x"] + c["width"] <= box["x"] + box["width"]
    page.screenshot(path=str(shots / "network.png"), full_page=True)
    # clicking a channel narrows the network to it
    page.locator("svg.network g.node[data-channel='KCTV Archive'] a").click()
    page.wait_for_url("**/network?channel=KCTV+Archive")
    assert page.locator("svg.network g.edge").count() == 1
    page.goto(base + f"/videos/{BULLETIN}")
    page.locator("#copies a", has_text="Daily report").click()
    page.wait_for_url(f"**/videos/{DAILY}")
    assert page.locator("#copies ul.copies_elsewhere li").count() == 2
    page.screenshot(path=str(shots / "video-copies.png"), full_page=True)
    assert not errors, errors
    with capsys.disabled():
        print(f"\nscreenshots: {shots / 'network.png'} {shots / 'video-copies.png'}")
    page.close()
