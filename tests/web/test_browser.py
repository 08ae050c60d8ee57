"""The web UI in a real headless Chromium: search, open a hit, the player jumps to the segment.

Needs Debian's ``chromium`` (apt-get install chromium) and the Python ``playwright``
package; Playwright drives the system browser through ``executable_path`` and
never downloads one. Skipped, with the reason, when either is missing.
Screenshots of the search and video pages are written to
``$CLIPWATCH_SCREENSHOTS`` (default: <tmp>/clipwatch-screenshots) and the path
is printed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from _search_catalogue import build_catalogue, make_media
from conftest import serve_app

CHROMIUM = os.environ.get("CLIPWATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) to run the browser tests",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Python package 'playwright' is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from pipeline.web import create_app

    root = tmp_path_factory.mktemp("browser")
    # VP9/Opus in WebM: every Chromium build plays it (H.264 depends on how it was built).
    media = make_media(root / "src" / "ministry-statement.webm", seconds=20, fmt="webm")
    s = build_catalogue(root / "data", media=media)
    with serve_app(create_app(s)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    except Exception as exc:  # a broken browser install is an environment problem, say which
        pw.stop()
        pytest.fail(f"could not start {CHROMIUM} through Playwright: {exc}")
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="module")
def shots_dir() -> Path:
    d = Path(os.environ.get("CLIPWATCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "clipwatch-screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _current_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def test_search_open_hit_and_player_seeks(server, browser, shots_dir, capsys):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))  # an alert() would be an XSS
    page.goto(server + "/")
    page.fill("#q", "nuclear talks")
    page.click("#search-button")
    page.wait_for_selector("#results .hit")
    hit = page.locator("#results .hit", has_text="Nuclear talks will resume").first
    assert hit.locator("mark").first.inner_text().lower() == "nuclear"
    page.screenshot(path=str(shots_dir / "search.png"), full_page=True)

    hit.locator("a.hit-link").click()
    page.wait_for_url("**/videos/generic-ministry-bbbbbb?t=12")
    page.wait_for_function("document.getElementById('player') && document.getElementById('player').readyState >= 1")
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 12) < 0.5", timeout=15_000)
    assert abs(_current_time(page) - 12.0) < 0.5
    assert page.locator("li.line.current").first.inner_text().find("Nuclear talks") >= 0

    # Clicking a transcript line seeks the player there.
    page.locator("li.line", has_text="Officials said the deterrent").locator(".text").click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 3) < 0.8", timeout=15_000)
    # ...and so does a keyframe in the strip (shot 2 starts at 10 s).
    page.locator(".strip a.kf").nth(2).click()
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 10) < 0.8", timeout=15_000)
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(shots_dir / "video.png"), full_page=True)
    assert not errors, errors
    with capsys.disabled():
        print(f"\nscreenshots: {shots_dir / 'search.png'} {shots_dir / 'video.png'}")
    page.close()


def test_hostile_title_does_not_run_in_the_browser(server, browser):
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + "/?q=song")
    page.wait_for_selector("#results .hit")
    assert page.locator(".vtitle").first.inner_text() == "<script>alert(1)</script>"
    page.goto(server + "/videos/youtube-hostile-cccccc")
    assert page.locator("#video-title").inner_text() == "<script>alert(1)</script>"
    page.wait_for_timeout(200)
    assert dialogs == []
    page.close()


# -- issue 13: the chart on the search page and the browse pages --------------------------------

def _shot(page, shots_dir: Path, name: str) -> Path:
    path = shots_dir / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_search_page_shows_the_trend_chart(server, browser, shots_dir, capsys):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/?q=nuclear")
    page.wait_for_selector("#trend-chart")
    # the SVG loaded and has a size: the server drew it
    page.wait_for_function("document.getElementById('trend-chart').complete && document.getElementById('trend-chart').naturalWidth > 0")
    assert page.evaluate("document.getElementById('trend-chart').naturalWidth") > 100
    doubt = page.locator("#results .hit.doubtful")
    assert doubt.count() == 1 and "doubtful: repetition" in doubt.first.inner_text()
    path = _shot(page, shots_dir, "search-trends.png")
    page.goto(server + "/?q=zebra")
    page.wait_for_function("document.getElementById('trend-chart').complete && document.getElementById('trend-chart').naturalWidth > 0")
    assert not errors, errors
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    page.close()


@pytest.mark.parametrize("path,table,rows,text", [
    ("/channels", "#channels", 3, "Ministry TV"),
    ("/removed", "#removed", 1, "This video has been removed <i>for violating</i> terms"),
    ("/recent", "#recent", 4, "Ministry statement"),
])
def test_browse_pages(server, browser, shots_dir, capsys, path, table, rows, text):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + "/")
    page.click("#nav-" + path.strip("/"))
    page.wait_for_url("**" + path)
    page.wait_for_selector(table)
    assert page.locator(f"{table} tbody tr").count() == rows
    assert text in page.locator(table).inner_text()
    shot = _shot(page, shots_dir, f"browse-{path.strip('/')}.png")
    if path == "/removed":
        # the archived copy is one click away
        page.locator(f"{table} a.vtitle").first.click()
        page.wait_for_url("**/videos/youtube-hostile-cccccc")
    page.wait_for_timeout(100)
    assert not errors and not dialogs, (errors, dialogs)
    with capsys.disabled():
        print(f"\nscreenshot: {shot}")
    page.close()
