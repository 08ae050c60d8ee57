"""Text on screen: regions then Tesseract (Korean + English), timed segments, search by --source, the video page.

Needs Debian's tesseract-ocr, tesseract-ocr-kor, tesseract-ocr-eng and fonts-nanum (scripts/test installs them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import publish_page
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.errors import ConfigError
from pipeline.media.probe import run_ffmpeg
from pipeline.shots import ocr
from pipeline.shots.ocr import FrameText, ScreenReader, TextLine, merge_samples, sample_times, text_regions

FONT = "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"
KO = "조선중앙방송 저녁 보도"
EN = "Leader inspects the new factory"


def frame_with(lines: list[tuple[str, int, int, str]], seed: int = 0, size=(1280, 720), font: str = FONT) -> np.ndarray:
    """A textured picture (blurred noise + shapes) with text drawn in (text, x, y, style)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8), (3, 3), 0)
    bg = cv2.resize(bg, size, interpolation=cv2.INTER_CUBIC)
    img = Image.fromarray(cv2.cvtColor(bg, cv2.COLOR_BGR2RGB))
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype(font, 40)
    for text, x, y, style in lines:
        if style == "box":
            l, t, r, b = d.textbbox((x, y), text, font=f)
            d.rectangle((l - 10, t - 10, r + 10, b + 10), fill=(10, 20, 40))
            d.text((x, y), text, font=f, fill=(255, 230, 0))
        else:
            d.text((x, y), text, font=f, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    return cv2.cvtColor(np.array(img), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def reader():
    with ScreenReader() as r:
        yield r


def test_korean_caption_and_english_chyron_are_read(reader):
    frame = frame_with([(EN, 60, 50, "box"), (KO, 300, 600, "outline")])
    lines = reader.read(frame)
    assert [l.text for l in lines] == [EN, KO]
    assert all(l.confidence >= ocr.MIN_WORD_CONFIDENCE for l in lines)
    assert lines[0].box[1] < 120 and lines[1].box[1] > 560  # boxes in frame coordinates


def test_no_text_gives_no_text(reader):
    assert reader.read(frame_with([], seed=3)) == []
    assert reader.read(np.zeros((720, 1280, 3), np.uint8)) == []


def test_a_script_the_models_lack_gives_no_text(reader):
    cyr = frame_with([("Москва сообщает новости дня", 200, 600, "outline")],
                     font="/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
    assert reader.read(cyr) == []


def test_regions_are_found_before_reading():
    boxes = text_regions(frame_with([(KO, 300, 600, "outline")], seed=5))
    assert any(b[1] <= 610 <= b[1] + b[3] and b[0] <= 320 for b in boxes)
    assert text_regions(np.full((720, 1280, 3), 128, np.uint8)) == []


def test_long_shots_are_sampled_and_samples_split_the_shot():
    plan = sample_times([(1.0, 0.0, 4.0), (6.0, 4.0, 24.0)])
    assert plan[0] == (1.0, 0.0, 4.0)
    long = [p for p in plan if p[1] >= 4.0]
    assert len(long) >= 4 and long[0][1] == 4.0 and long[-1][2] == 24.0
    assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(long, long[1:]))  # contiguous


def test_a_line_on_screen_in_consecutive_samples_is_one_segment():
    line = lambda t, c=90.0: TextLine(t, c, (0, 600, 500, 40))  # noqa: E731
    chyron = TextLine("Evening news", 95.0, (0, 40, 300, 40))
    samples = [FrameText(1, 0, 2, [line(KO, 80), chyron]), FrameText(3, 2, 4, [line(KO + ".", 92), chyron]),
               FrameText(5, 4, 6, [chyron]), FrameText(7, 6, 8, [line(KO)])]
    segs = merge_samples(samples)
    assert [(g.start, g.end, g.text) for g in segs] == [(0, 6, "Evening news"), (0, 4, KO + "."), (6, 8, KO)]
    assert segs[1].samples == 2 and segs[1].confidence == 92


def test_missing_language_data_is_a_config_error_naming_the_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    with pytest.raises(ConfigError, match="tesseract-ocr-kor"):
        ScreenReader()


# -- stage, search, web ----------------------------------------------------------
runner = CliRunner()


def cw(data_dir: Path, *args: str):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def captioned_video(dest: Path, seconds: int = 6) -> Path:
    """A moving picture with a Korean caption from 0 s and an English chyron from 3 s."""
    ko, en = dest.with_suffix(".ko.txt"), dest.with_suffix(".en.txt")
    ko.write_text(KO, encoding="utf-8")
    en.write_text(EN, encoding="utf-8")
    run_ffmpeg(["-f", "lavfi", "-i", f"color=c=0x305070:s=1280x720:r=10:d={seconds}", "-vf",
                "noise=alls=25:allf=t,"  # a moving (noisy) picture under the text
                f"drawtext=fontfile={FONT}:textfile={ko}:fontsize=40:fontcolor=white:borderw=3:bordercolor=black:x=(w-tw)/2:y=h-110,"
                f"drawtext=fontfile={FONT}:textfile={en}:fontsize=40:fontcolor=yellow:box=1:boxcolor=0x102040:boxborderw=10"
                f":x=60:y=60:enable='gte(t,3)'",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(dest)])
    return dest


@pytest.fixture
def read_video(server, settings, store, archive, tmp_path, monkeypatch):
    from pipeline.sources.fetch import fetch
    from pipeline.stages.runner import record_fetch, run_keyframes, run_ocr

    monkeypatch.setattr(ocr, "LONG_SHOT_SECONDS", 2.0)  # sample the test clip's one long shot every 5 s: 0-2.5 s, 2.5-6 s
    monkeypatch.setattr(ocr, "LONG_SHOT_STEP", 3.0)
    url = publish_page(server, "captioned", captioned_video(tmp_path / "captioned.mp4"), "Captioned bulletin",
                       channel="KCTV", upload_date="2024-01-01")
    fetched = fetch(url, archive)
    record_fetch(store, archive, fetched, None)
    run_keyframes(store, archive, fetched.video.id)
    outcome = run_ocr(store, archive, fetched.video.id)
    return fetched.video.id, outcome


def test_stage_stores_timed_screen_text_searchable_by_source(read_video, settings, store):
    vid, outcome = read_video
    assert outcome.status == "done", outcome
    segs = {r["text"]: (r["start"], r["end"]) for r in store.segments(vid, "screen")}
    assert KO in segs and EN in segs
    assert segs[KO][0] == 0.0 and segs[EN][0] > 1.0  # the chyron appears later
    for source, found in (("screen", True), ("all", True), ("speech", False)):
        r = cw(settings.data_dir, "search", "저녁 보도", "--source", source, "--json")
        assert r.exit_code == 0, r.output
        hits = [h for g in json.loads(r.stdout)["videos"] for h in g["hits"]]
        assert bool(hits) is found, (source, hits)
        if found:
            assert hits[0]["kind"] == "screen" and hits[0]["text"] == KO
    r = cw(settings.data_dir, "search", "factory", "--source", "screen", "--json")
    assert [h["text"] for g in json.loads(r.stdout)["videos"] for h in g["hits"]] == [EN]
    again = cw(settings.data_dir, "screen-text", vid, "--json")
    assert json.loads(again.stdout)["status"] == "skipped"


def test_video_page_shows_screen_text(read_video, settings):
    from fastapi.testclient import TestClient

    from pipeline.web import create_app

    vid, _ = read_video
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        page = c.get(f"/videos/{vid}").text
        assert 'id="screen-text"' in page and KO in page[page.index('id="screen-text"'):]
        assert c.get("/api/search", params={"q": "factory", "source": "screen"}).json()["videos"]
        assert c.get("/api/search", params={"q": "factory", "source": "speech"}).json()["videos"] == []
        assert c.get("/api/search", params={"q": "factory", "source": "eyes"}).status_code == 400


def test_bad_source_and_missing_tesseract_are_one_error_line(read_video, settings, tmp_path):
    import os

    vid, _ = read_video
    base = [sys.executable, "-c", "from pipeline.cli import main; main()", "--data-dir", str(settings.data_dir)]
    proc = subprocess.run([*base, "search", "x", "--source", "smell"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error:") and "speech" in proc.stderr
    env = {**os.environ, "TESSDATA_PREFIX": str(tmp_path / "no-tessdata")}
    proc = subprocess.run([*base, "screen-text", vid, "--force"], capture_output=True, text=True, env=env)
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and "apt-get install tesseract-ocr" in lines[0]


def _stub_reads(reader, monkeypatch, joint: list[TextLine], alone: list[TextLine]) -> list[str]:
    """``reader``'s Tesseract calls answered by ``joint`` (kor+eng) and ``alone`` (Korean alone); which ran, in order."""
    ran: list[str] = []
    korean = reader._korean_alone()
    assert korean is not None  # the Korean data load on their own too

    def read_image(img, x0, y0, scale, api=None):
        ran.append("kor" if api is korean else "kor+eng")
        return alone if api is korean else joint

    monkeypatch.setattr(reader, "_read_image", read_image)
    return ran


def _line(text: str, conf: float, dropped: int = 0) -> TextLine:
    return TextLine(text, conf, (0, 0, 10, 10), dropped)


def test_a_hangul_line_misread_as_latin_is_read_again_with_korean_alone(reader, monkeypatch):
    # what a thin Korean font over a busy picture gave on bench/ocr.py's held-out split: Hangul, then Latin letters
    ran = _stub_reads(reader, monkeypatch, [_line("경애하는 SIFE MM", 93)], [_line("경애하는 원수님께서", 91)])
    img = np.full((60, 400), 255, np.uint8)
    assert [l.text for l in reader.read_line(img, 0, 0, 1.0)] == ["경애하는 원수님께서"]
    assert ran == ["kor+eng", "kor"]
    # nothing kept by the joint reading: Korean alone gets a try, and wins only with Hangul
    ran = _stub_reads(reader, monkeypatch, [], [_line("경애하는 원수님께서", 80)])
    assert [l.text for l in reader.read_line(img, 0, 0, 1.0)] == ["경애하는 원수님께서"]
    ran = _stub_reads(reader, monkeypatch, [], [_line("SIFE MM", 95)])
    assert reader.read_line(img, 0, 0, 1.0) == []


def test_clear_or_latin_lines_cost_no_second_reading(reader, monkeypatch):
    img = np.full((60, 400), 255, np.uint8)
    for joint in ([_line(KO, 95)], [_line(EN, 96)], [_line("Leader inspects", 60, dropped=2)]):
        ran = _stub_reads(reader, monkeypatch, joint, [_line("경애하는 원수님께서", 99)])
        assert reader.read_line(img, 0, 0, 1.0) == joint
        assert ran == ["kor+eng"]
    # a Korean reading no better than the joint one leaves it be
    ran = _stub_reads(reader, monkeypatch, [_line("경애하는 원수님", 80, dropped=1)], [_line("경애", 85)])
    assert [l.text for l in reader.read_line(img, 0, 0, 1.0)] == ["경애하는 원수님"]
    assert ran == ["kor+eng", "kor"]


def test_a_reader_whose_korean_data_would_not_load_alone_still_closes():
    r = ScreenReader()
    r._korean = False  # what _korean_alone leaves when Tesseract rejects Korean on its own
    assert r._korean_alone() is None
    r.close()
