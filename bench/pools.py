"""Ingest throughput on Prefect work pools: the same clips with 1, then 2 (…) download workers.

    python bench/pools.py [--workers 1,2] [--clips 6] [--model tiny.en] [--asr-batch 16] [--in-process] [--media-worker]

Everything on loopback, started here: a throwaway PostgreSQL (the catalogue, and Prefect's database apart), a moto
S3 server (the originals), a Prefect server on PostgreSQL, `clipwatch deploy`, N download workers (each `--limit 2`,
its own data folder) and one asr worker; then `clipwatch ingest FEED` of the synthetic speech clips
(``pipeline.testing.media.NEWS_LINES``, ~3 s each, repeated with new pictures up to --clips), into a fresh catalogue
and bucket for each N. Prints the wall time of each ingest (from the command's start to its exit: discovery, every
download, picture, ASR and tag flow run, each a process of its own) and videos per minute.

THE CLIPS ARE SYNTHETIC AND TINY and all processes share this machine's cores, so these figures measure the
orchestration's overhead (flow-run process start, polling, a model load per ASR batch), not a platform's download
rate or a GPU's transcription rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.demo.loopback import LoopbackServer, publish_feed  # noqa: E402
from pipeline.testing.media import make_news_clips  # noqa: E402
from pipeline.testing.postgres import PostgresCluster  # noqa: E402
from pipeline.testing.prefect import PrefectServer, Worker, flow_runs, wait_online  # noqa: E402
from pipeline.testing.s3 import S3Server  # noqa: E402

FLOWS = ("ingest-video", "media-stages", "asr-batch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2", help="download worker counts to measure, comma-separated")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--asr-batch", type=int, default=16)
    ap.add_argument("--in-process", action="store_true", help="also time the same ingest without a Prefect server")
    ap.add_argument("--media-worker", action="store_true",
                    help="one media worker too: the picture stages leave the download workers")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="clipwatch-bench-pools-") as folder:
        rows = run(Path(folder), args, counts)
    print_table(rows, args)


def run(tmp: Path, args: argparse.Namespace, counts: list[int]) -> list[tuple]:
    rows = []
    with LoopbackServer() as site, PostgresCluster() as pg, S3Server() as s3:
        feed = publish_feed(site, make_news_clips(tmp / "clips", args.clips), "Bench news")
        with PrefectServer(pg.create_database("prefect")) as prefect:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLIPWATCH_"))}
            env = {**base, **s3.env(), **prefect.env(), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                   "CLIPWATCH_MODEL": args.model, "CLIPWATCH_TRANSLATE": "0", "CLIPWATCH_SEMANTIC": "0",
                   "CLIPWATCH_DEVICE": "cpu", "CLIPWATCH_ASR_BATCH": str(args.asr_batch),
                   "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
            cli = [sys.executable, "-m", "pipeline.cli", "--data-dir", str(tmp / "here")]
            subprocess.run([*cli, "deploy"], env=env, check=True, capture_output=True)
            if args.in_process:  # the same ingest without PREFECT_API_URL: one process, Prefect's temporary API
                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                s3.create_bucket(bucket)
                local_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
                local_env.update(CLIPWATCH_DATABASE_URL=pg.create_database("cat_local"),
                                 CLIPWATCH_STORAGE_URL=f"s3://{bucket}/archive")
                t0 = time.perf_counter()
                subprocess.run([*cli[:-1], str(tmp / "local"), "ingest", feed, "--json"], env=local_env, check=True,
                               capture_output=True)
                rows.append(("in-process", time.perf_counter() - t0, "-", "-", "-", os.getloadavg()[0]))
            for n in counts:
                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                s3.create_bucket(bucket)
                run_env = {**env, "CLIPWATCH_DATABASE_URL": pg.create_database(f"cat_{n}"),
                           "CLIPWATCH_STORAGE_URL": f"s3://{bucket}/archive"}
                workers = [Worker("download", f"dl-{n}-{i}", run_env, tmp / f"dl-{n}-{i}", tmp / f"dl-{n}-{i}.log",
                                  limit=2) for i in range(n)]
                workers.append(Worker("asr", f"asr-{n}", run_env, tmp / f"asr-{n}", tmp / f"asr-{n}.log"))
                if args.media_worker:
                    workers.append(Worker("media", f"media-{n}", run_env, tmp / f"media-{n}", tmp / f"media-{n}.log"))
                try:
                    wait_online(prefect.api_url, {"download": n, "asr": 1, **({"media": 1} if args.media_worker else {})})
                    before = {r["id"] for flow in FLOWS for r in flow_runs(prefect.api_url, flow)}
                    t0 = time.perf_counter()
                    subprocess.run([*cli, "ingest", feed, "--json"], env=run_env, check=True, capture_output=True)
                    wall = time.perf_counter() - t0
                    new = {flow: [r for r in flow_runs(prefect.api_url, flow) if r["id"] not in before]
                           for flow in FLOWS}
                    per_worker = [sum(w.ran(r["id"]) for r in new["ingest-video"]) for w in workers[:n]]
                    assert all(r["state_type"] == "COMPLETED" for runs in new.values() for r in runs), new
                finally:
                    for w in workers:
                        w.stop()
                rows.append((n, wall, per_worker, _timing(new), {f: len(r) for f, r in new.items() if r},
                             os.getloadavg()[0]))
    return rows


def print_table(rows: list[tuple], args: argparse.Namespace) -> None:
    print(f"clipwatch ingest on work pools: {args.clips} synthetic speech clips (~3 s, 160x120), model {args.model}, "
          f"ASR batch {args.asr_batch}, one asr worker; {os.cpu_count()} cores shared by every process")
    print()
    print("| download workers | ingest wall s | videos/min | flow runs per download worker | flow runs | "
          "mean s scheduled → running / running (per flow) | load after |")
    print("|---|---|---|---|---|---|---|")
    for n, wall, per_worker, timing, counts, load in rows:
        print(f"| {n} | {wall:.1f} | {args.clips / wall * 60:.1f} | {per_worker} | {counts} | {timing} | {load:.1f} |")


def _timing(runs: dict[str, list[dict]]) -> str:
    """Per flow: mean seconds from the run's scheduled time to Running (a worker taking it and starting its
    process) and mean seconds Running (the work itself)."""
    from datetime import datetime

    def t(x: str) -> float:
        return datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()

    parts = []
    for flow, rs in runs.items():
        done = [r for r in rs if r.get("start_time") and r.get("expected_start_time")]
        if done:
            wait = sum(t(r["start_time"]) - t(r["expected_start_time"]) for r in done) / len(done)
            run = sum(r["total_run_time"] for r in done) / len(done)
            parts.append(f"{flow} {wait:.1f} / {run:.1f}")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
