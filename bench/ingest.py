"""End-to-end ingest benchmark: the bundled samples through the real Prefect flow.

    python bench/ingest.py [--model base|tiny.en] [--engine faster-whisper|openai-whisper]

Publishes data/samples on a loopback server, ingests them into a fresh temporary
archive (cold: Prefect's temporary API starts, the model loads), then ingests
again (warm: every stage must be skipped), and prints wall time per stage and
the real-time factor of the whole pipeline (seconds of media per second of work).
"""

from __future__ import annotations

import argparse
import atexit
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import configure_prefect  # noqa: E402
from pipeline.config import Settings, samples_dir  # noqa: E402
from pipeline.demo.loopback import LoopbackServer, publish_samples  # noqa: E402
from pipeline.storage.sqlite.catalogue import Store  # noqa: E402

STAGES = ("fetch", "keyframes", "transcribe", "tag")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--engine", default="faster-whisper")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="clipwatch-bench-ingest-"))
    atexit.register(shutil.rmtree, data, True)  # nothing left in /tmp after the run
    settings = Settings(data_dir=data, model=args.model, engine=args.engine)
    configure_prefect(settings)
    from flows.ingest import ingest_flow

    with LoopbackServer() as server:
        feed = publish_samples(server, samples_dir())
        t0 = time.perf_counter()
        cold = ingest_flow([feed], settings)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = ingest_flow([feed], settings)
        warm_s = time.perf_counter() - t0
    with Store(settings.db_path) as store:
        media_s = sum(v["duration"] or 0 for v in store.list_videos())
    print(f"clipwatch ingest benchmark: {len(cold.videos)} sample clips, {media_s:.1f} s of media; model {args.model}, "
          f"engine {args.engine}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    print()
    print(f"| video | {' | '.join(f'{s} s' for s in STAGES)} |")
    print(f"|---|{'---|' * len(STAGES)}")
    totals = dict.fromkeys(STAGES, 0.0)
    for v in cold.videos:
        print(f"| {v.title} | " + " | ".join(f"{v.seconds.get(s, 0):.2f}" for s in STAGES) + " |")
        for s in STAGES:
            totals[s] += v.seconds.get(s, 0)
    print("| **all** | " + " | ".join(f"{totals[s]:.2f}" for s in STAGES) + " |")
    print()
    print(f"cold ingest (Prefect API start + model load + all stages + semantic index): {cold_s:.1f} s wall, "
          f"{media_s / cold_s:.2f}x real time; stage work alone {sum(totals.values()):.1f} s = "
          f"{media_s / max(sum(totals.values()), 1e-9):.1f}x real time")
    skipped = all(set(v.stages.values()) == {"skipped"} for v in warm.videos)
    print(f"warm re-run: {warm_s:.1f} s wall, every stage skipped: {skipped}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; failures {cold.failed + warm.failed}")


if __name__ == "__main__":
    main()
