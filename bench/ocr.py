"""Text on screen: captions of 2-4 s inside long shots and changing chyrons, read by text change vs the old sampler.

    python bench/ocr.py [--split tuning|held-out|both] [--clips-per-footage 2] [--no-old] [--no-text-free]

Footage: the real recordings in /work/media/video (see ../shared/media/README.md for the package each came
from), each looped into one 14-second shot at 1280x720, 25 fps (people walk, bikes pass, the camera pans: the
picture moves under the text). Burned in with ffmpeg drawtext, per clip: three bottom captions of 2.2-2.3 s
placed inside the shot (not at a cut; one of them between the old sampler's reads), each in one of five styles (white outlined, white with a drop shadow,
white on a translucent box, dark on a light box, yellow on a dark box), and a top chyron on a dark box that
changes every 3.6 s; Korean and English alternate.

Splits (the thresholds in shots/textchange.py and shots/ocr.py were set looking at the TUNING split only):

- tuning: footage Big Buck Bunny, vtest, Megamind, tree; Debian fonts-nanum faces (Korean and Latin) and
  DejaVu Sans Bold (Latin); the even-numbered caption texts.
- held-out: footage bikes, cityCC0, carphone; Debian fonts-unfonts-core (UnDotum Bold, UnGraphic Bold,
  UnBatang) and fonts-baekmuk (Gulim, Dotum) for Korean, Liberation Sans/Serif Bold for Latin; the odd-numbered
  caption texts. The fonts are fetched with ``apt-get download`` and ``dpkg-deb -x`` into bench/.cache/ocr/fonts.

Tools compared in the same run: ``new`` = shots/textchange.py (what the stage runs); ``old`` = the sampler as it
was (``ocr.screen_text``: each keyframe of the real keyframe detector plus every 5 s in shots over 10 s).

Scoring, per caption: the readings overlapping its time on its half of the screen; the best of them (lowest
CER) is its reading. CER = Levenshtein distance / reference length, spaces removed (Korean spacing is
conventional, not orthographic); a caption not read counts all its characters. Recall: captions whose best
reading has CER <= 50 %. Timing: |start error| and |end error| of that reading. Spurious: readings that are no
caption's (CER > 50 % against every caption of the clip). CPU: process + children CPU seconds of the OCR call
(decoding included; the old sampler's keyframe detection is not counted, the keyframes stage pays it anyway),
per minute of 720p video.

Text-free (issue 19, Bad input: "a video with no text on screen costs (almost) nothing in OCR"): each split's
clips built again from the same footage without any caption, read by the new tool: CPU per minute of 720p
video (decoding included), how many samples the line detector ran on and how many the gate spared, Tesseract
calls and readings (none expected). Also bench/e2e.py's 5-minute 640x360 clip when it is there
(bench/.cache/e2e/clip0-5min.mp4, real footage with no text at all): the stage's CPU on it, whole seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media")) / "video"
CACHE = ROOT / "bench" / ".cache" / "ocr"
FONT_CACHE = CACHE / "fonts"
NANUM = Path("/usr/share/fonts/truetype/nanum")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
LIBERATION = Path("/usr/share/fonts/truetype/liberation")
SHOT = 14.0

KOREAN = [
    "조선중앙텔레비죤 저녁 보도",
    "경애하는 원수님께서 공장을 현지지도하시였다",
    "평양에서 새로운 주택지구 준공식이 진행되였다",
    "올해 농사에서 큰 성과를 거두었다",
    "인민경제 여러 부문에서 혁신이 일어나고 있다",
    "오늘 날씨는 대체로 맑겠습니다",
    "국방과학원에서 중요시험을 진행",
    "수도의 거리마다 명절 분위기가 넘쳐난다",
    "청년들이 건설장에서 위훈을 세우고 있다",
    "세계 여러 나라에서 축전을 보내왔다",
    "과학기술 발전에 큰 힘을 넣고 있다",
    "새해 첫 전투에서 승리를 이룩하자",
    "외무성 대변인 담화 발표",
    "전국 농업부문 열성자회의 개막",
    "15일 평양 기온 영하 5도",
    "속보 중앙통신사 보도",
]
ENGLISH = [
    "Evening news bulletin",
    "Leader inspects the new factory",
    "Housing district completed in the capital",
    "Record harvest reported this year",
    "Foreign ministry issues a statement",
    "Weather: mostly clear skies tomorrow",
    "Scientists conduct an important test",
    "Festive mood on the streets of the capital",
    "Youth brigades finish the power station",
    "Greetings arrive from many countries",
    "Talks will resume next month",
    "Exports of machinery rose by 12 percent",
    "National conference of farm workers opens",
    "Special report: the five year plan",
    "LIVE: Pyongyang, 15 January",
    "Breaking news from the news agency",
]
STYLES = {
    "outline": "fontcolor=white:borderw=3:bordercolor=black",
    "shadow": "fontcolor=white:shadowcolor=black@0.9:shadowx=3:shadowy=3",
    "box": "fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=10",
    "dark-on-light": "fontcolor=0x101010:box=1:boxcolor=white@0.8:boxborderw=10",
    "chyron": "fontcolor=yellow:box=1:boxcolor=0x102040@0.85:boxborderw=12",
}
BOTTOM_STYLES = ["outline", "shadow", "box", "dark-on-light"]
#: bottom captions inside the one shot (start, end), 2.2-2.3 s, none aligned to a cut; the old sampler reads a
#: 14 s shot at its keyframe and at 2.5, 7.5 and 12.5 s: the first and last captions hold one of those times,
#: the second (3.6-5.8 s) only when the keyframe falls in it
BOTTOM_TIMES = [(0.9, 3.1), (3.6, 5.8), (10.6, 12.9)]
CHYRON_STEP = 3.6

SPLITS = {
    "tuning": {
        "footage": ["bigbuckbunny.mp4", "vtest.avi", "Megamind.avi", "tree.avi"],
        "ko_fonts": [NANUM / f for f in ("NanumGothic.ttf", "NanumGothicBold.ttf", "NanumMyeongjo.ttf",
                                        "NanumBarunGothic.ttf", "NanumSquareB.ttf")],
        "en_fonts": [NANUM / "NanumGothicBold.ttf", DEJAVU / "DejaVuSans-Bold.ttf", NANUM / "NanumBarunGothic.ttf"],
        "texts": 0,
    },
    "held-out": {
        "footage": ["bikes.mp4", "cityCC0.mpg", "carphone_pristine.mp4"],
        "ko_fonts": [FONT_CACHE / "usr/share/fonts/truetype/unfonts-core" / f for f in ("UnDotumBold.ttf", "UnGraphicBold.ttf", "UnBatang.ttf")]
                    + [FONT_CACHE / "usr/share/fonts/truetype/baekmuk" / f for f in ("gulim.ttf", "dotum.ttf")],
        "en_fonts": [LIBERATION / "LiberationSans-Bold.ttf", LIBERATION / "LiberationSerif-Bold.ttf",
                     FONT_CACHE / "usr/share/fonts/truetype/unfonts-core/UnDotumBold.ttf"],
        "texts": 1,
    },
}


def fetch_fonts() -> None:
    """The held-out split's fonts from Debian (apt-get download + dpkg-deb -x into the cache), once."""
    if (FONT_CACHE / "usr/share/fonts/truetype/baekmuk/gulim.ttf").is_file():
        return
    FONT_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["apt-get", "download", "fonts-unfonts-core", "fonts-baekmuk"], cwd=d, check=True,
                       capture_output=True)
        for deb in Path(d).glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(FONT_CACHE)], check=True)


def plan(split: str, clips_per_footage: int) -> list[dict]:
    """The captions of every clip of a split: (text, lang, style, font, size, start, end, place)."""
    cfg = SPLITS[split]
    ko = KOREAN[cfg["texts"]::2]
    en = ENGLISH[cfg["texts"]::2]
    clips = []
    n = 0
    for fi, src in enumerate(cfg["footage"]):
        for k in range(clips_per_footage):
            caps = []
            for j, (a, b) in enumerate(BOTTOM_TIMES):
                lang = "ko" if (n + j) % 2 == 0 else "en"
                texts, fonts = (ko, cfg["ko_fonts"]) if lang == "ko" else (en, cfg["en_fonts"])
                caps.append({"text": texts[(n * 3 + j) % len(texts)], "lang": lang,
                             "style": BOTTOM_STYLES[(n + j) % len(BOTTOM_STYLES)], "font": fonts[(n + j) % len(fonts)],
                             "size": (32, 36, 40, 44)[(n + 2 * j) % 4], "start": a, "end": b, "place": "bottom"})
            c = 0
            t = 0.0
            while t < SHOT - 0.5:
                lang = "en" if (n + c) % 2 == 0 else "ko"
                texts, fonts = (ko, cfg["ko_fonts"]) if lang == "ko" else (en, cfg["en_fonts"])
                caps.append({"text": texts[(n * 5 + c + 1) % len(texts)], "lang": lang, "style": "chyron",
                             "font": fonts[(n + c + 1) % len(fonts)], "size": (30, 34)[c % 2],
                             "start": round(t, 2), "end": round(min(SHOT, t + CHYRON_STEP), 2), "place": "top"})
                t += CHYRON_STEP
                c += 1
            clips.append({"src": src, "split": split, "offset": 1.7 * k, "captions": caps,
                          "video": CACHE / f"v2-{split}-{n}.mp4", "plain": CACHE / f"v2-{split}-{n}-plain.mp4"})
            n += 1
    return clips


def build(clip: dict, tmp: Path, plain: bool = False) -> None:
    """The clip's video (``plain``: the same footage without its captions) into the cache, once."""
    from pipeline.media.probe import run_ffmpeg

    dest = clip["plain" if plain else "video"]
    if dest.exists():
        return
    filters = ["scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25"]
    for i, c in enumerate([] if plain else clip["captions"]):
        tf = tmp / f"{clip['video'].stem}-{i}.txt"  # drawtext reads the text from a file: no escaping
        tf.write_text(c["text"], encoding="utf-8")
        x, y = ("60", "60") if c["place"] == "top" else ("(w-tw)/2", "h-th-70")
        filters.append(f"drawtext=fontfile={c['font']}:textfile={tf}:fontsize={c['size']}:{STYLES[c['style']]}"
                       f":x={x}:y={y}:enable='between(t,{c['start']},{c['end'] - 0.001})'")
    out = dest.with_suffix(".part.mp4")
    run_ffmpeg(["-stream_loop", "-1", "-ss", f"{clip['offset']}", "-i", str(MEDIA / clip["src"]), "-t", f"{SHOT}", "-an",
                "-vf", ",".join(filters), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(out)])
    out.replace(dest)


def _cer(ref: str, hyp: str) -> tuple[int, int]:
    from rapidfuzz.distance import Levenshtein

    r, h = "".join(ref.split()), "".join(hyp.split())
    return Levenshtein.distance(r, h), len(r)


def score(clip: dict, segs: list) -> tuple[list[dict], int]:
    """One row per caption (its best reading), and the number of spurious readings."""
    rows = []
    used = set()
    for c in clip["captions"]:
        best, best_err = None, None
        for i, g in enumerate(segs):
            overlap = min(g.end, c["end"]) - max(g.start, c["start"])
            top = g.box[1] + g.box[3] / 2 < 360
            if overlap < 0.3 or top != (c["place"] == "top"):
                continue
            err = _cer(c["text"], g.text)[0]
            if best_err is None or err < best_err:
                best, best_err = i, err
        n = _cer(c["text"], "")[1]
        if best is None or best_err > 0.5 * n:
            rows.append({**c, "err": n, "n": n, "read": "" if best is None else segs[best].text, "hit": False})
            continue
        used.add(best)
        g = segs[best]
        rows.append({**c, "err": best_err, "n": n, "read": g.text, "hit": True, "d_start": abs(g.start - c["start"]),
                     "d_end": abs(g.end - c["end"])})
    spurious = 0
    for i, g in enumerate(segs):
        if i in used:
            continue
        if all(_cer(c["text"], g.text)[0] > 0.5 * _cer(c["text"], "")[1] for c in clip["captions"]):
            spurious += 1
    return rows, spurious


def run_tool(tool: str, clip: dict, reader) -> tuple[list, float]:
    from pipeline.shots import ocr, textchange

    if tool == "new":
        c0 = textchange.cpu_seconds()
        result = textchange.screen_text_by_change(clip["video"], reader, SHOT)
        return result.segments, textchange.cpu_seconds() - c0
    from pipeline.shots.keyframes import extract_keyframes

    with tempfile.TemporaryDirectory() as d:
        kf = extract_keyframes(clip["video"], Path(d))
    shots = [(k.time, k.shot_start, k.shot_end) for k in kf.keyframes]
    c0 = textchange.cpu_seconds()
    result = ocr.screen_text(clip["video"], shots, reader, SHOT)
    return result.segments, textchange.cpu_seconds() - c0


def report(split: str, tool: str, rows: list[dict], spurious: int, cpu: float, minutes: float, calls: int) -> None:
    def cer(rs: list[dict]) -> str:
        n = sum(r["n"] for r in rs)
        return f"{sum(r['err'] for r in rs) / n:.1%}" if n else "-"

    hits = [r for r in rows if r["hit"]]
    print(f"\n### {split} split, {tool} tool: {len(rows)} captions on {minutes * 60:.0f} s of 720p video")
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| recall (captions of 2-4 s read at all) | {len(hits)}/{len(rows)} = {len(hits) / len(rows):.1%} | 100 % |")
    print(f"| CER overall | {cer(rows)} | <= 5 % |")
    for key, values in (("lang", ("ko", "en")), ("style", list(STYLES))):
        for v in values:
            rs = [r for r in rows if r[key] == v]
            print(f"| CER {key} = {v} ({len(rs)} captions) | {cer(rs)} | <= 8 % |")
    print(f"| lines read exactly | {sum(1 for r in rows if r['err'] == 0)}/{len(rows)} | |")
    if hits:
        print(f"| timing error start / end, median (max) | {statistics.median(r['d_start'] for r in hits):.2f} s "
              f"({max(r['d_start'] for r in hits):.2f}) / {statistics.median(r['d_end'] for r in hits):.2f} s "
              f"({max(r['d_end'] for r in hits):.2f}) | |")
    print(f"| spurious lines (no caption's) | {spurious} | 0 |")
    print(f"| CPU per minute of 720p video | {cpu / minutes:.2f} s | <= 2 s |")
    print(f"| Tesseract calls | {calls} | |")
    worst = sorted(rows, key=lambda r: -r["err"] / max(r["n"], 1))[:5]
    print("worst:")
    for r in worst:
        if r["err"]:
            print(f"  {r['lang']} {r['style']} {r['size']}px {Path(r['font']).stem} {r['start']}-{r['end']} s: "
                  f"{r['text']!r} -> {r['read']!r}")


def watch_text_free(videos: list[Path], duration: float, reader) -> dict:
    """The new tool over videos without text: CPU, detector runs, gate skips, Tesseract calls, readings."""
    from pipeline.shots import textchange

    made: list = []
    real_init = textchange.TextWatcher.__init__

    def init(self, *a, **k):  # keep each watcher to read its counters
        real_init(self, *a, **k)
        made.append(self)

    textchange.TextWatcher.__init__ = init  # type: ignore[method-assign]
    try:
        calls0, cpu, lines = reader.calls, 0.0, 0
        for v in videos:
            c0 = textchange.cpu_seconds()
            lines += len(textchange.screen_text_by_change(v, reader, duration).segments)
            cpu += textchange.cpu_seconds() - c0
    finally:
        textchange.TextWatcher.__init__ = real_init  # type: ignore[method-assign]
    # a watcher without the gate's counters (an older textchange.py, for a before/after run) reports "-"
    return {"cpu": cpu, "detections": sum(getattr(w, "detections", 0) for w in made) if all(hasattr(w, "detections") for w in made) else "-",
            "gated": sum(getattr(w, "gated", 0) for w in made) if all(hasattr(w, "gated") for w in made) else "-",
            "frames": sum(w.frames for w in made), "calls": reader.calls - calls0, "lines": lines}


def report_text_free(name: str, r: dict, minutes: float) -> None:
    print(f"| {name} | {minutes * 60:.0f} s | {r['cpu'] / minutes:.2f} s | {r['cpu']:.2f} s | {r['frames']} | "
          f"{r['detections']} / {r['gated']} | {r['calls']} | {r['lines']} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("tuning", "held-out", "both"), default="both")
    ap.add_argument("--clips-per-footage", type=int, default=2)
    ap.add_argument("--no-old", action="store_true", help="skip the old sampler")
    ap.add_argument("--no-text-free", action="store_true", help="skip the clips without text")
    args = ap.parse_args()
    from pipeline.shots.ocr import ScreenReader

    CACHE.mkdir(parents=True, exist_ok=True)
    splits = ["tuning", "held-out"] if args.split == "both" else [args.split]
    if "held-out" in splits:
        fetch_fonts()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    with ScreenReader() as reader, tempfile.TemporaryDirectory() as tmp:
        print(f"Tesseract {reader.version} {reader.languages} via tesserocr")
        for split in splits:
            clips = plan(split, args.clips_per_footage)
            t0 = time.perf_counter()
            for clip in clips:
                build(clip, Path(tmp))
            print(f"{split}: {len(clips)} clips built or cached in {time.perf_counter() - t0:.0f} s")
            for tool in ("new",) if args.no_old else ("new", "old"):
                rows: list[dict] = []
                spurious = 0
                cpu = 0.0
                calls0 = reader.calls
                for clip in clips:
                    segs, c = run_tool(tool, clip, reader)
                    cpu += c
                    r, s = score(clip, segs)
                    rows += r
                    spurious += s
                report(split, tool, rows, spurious, cpu, len(clips) * SHOT / 60, reader.calls - calls0)
        if not args.no_text_free:
            print("\n### without text (new tool): the same footage, no caption; target: (almost) nothing")
            print("| video | length | CPU per minute | CPU | samples | detector runs / spared | Tesseract calls | lines |")
            print("|---|---|---|---|---|---|---|---|")
            for split in splits:
                clips = plan(split, args.clips_per_footage)
                for clip in clips:
                    build(clip, Path(tmp), plain=True)
                r = watch_text_free([c["plain"] for c in clips], SHOT, reader)
                report_text_free(f"{split} footage, 720p", r, len(clips) * SHOT / 60)
            e2e = ROOT / "bench" / ".cache" / "e2e" / "clip0-5min.mp4"
            if e2e.exists():
                r = watch_text_free([e2e], 300.0, reader)
                report_text_free("bench/e2e.py clip0-5min, 640x360", r, 5.0)
            else:
                print(f"({e2e} not built: python bench/e2e.py builds it)")
    load = os.getloadavg()
    print(f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
