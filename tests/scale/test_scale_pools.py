"""Prefect at scale, for real on loopback: a Prefect server on PostgreSQL, `clipwatch deploy`, two process workers on
the download pool and one on asr, six short speech clips fanned out by `clipwatch ingest`, the catalogue on
PostgreSQL and the originals on S3 (moto) — and one flow run killed (SIGKILL) while it downloads, which the ingest
starts again without leaving a duplicate or a half-written object or row.

Everything here is started by the test and stopped by it; only processes it started are signalled.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from pipeline.demo.loopback import publish_feed
from pipeline.search.facade import SearchQuery, search
from pipeline.storage.postgres.catalogue import PostgresCatalogue
from pipeline.testing.media import make_news_clips
from pipeline.testing.prefect import PrefectServer, Worker, flow_runs, wait_online

pytestmark = pytest.mark.slow

SLOW = "library"  # served slowly: its first download is killed half-way


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLIPWATCH_"))}
    return {**base, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DO_NOT_TRACK": "1", **extra}


def test_ingest_says_when_the_prefect_server_is_down(server, tmp_path):
    feed = publish_feed(server, [], "Nothing")
    for args in (["ingest", feed], ["worker", "--pool", "asr"], ["deploy"]):
        down = _cli("--data-dir", str(tmp_path), *args, env=_env(PREFECT_API_URL="http://127.0.0.1:9/api"))
        assert down.returncode == 1 and down.stderr.count("error:") == 1, down.stderr
        assert "Prefect server at http://127.0.0.1:9/api does not answer" in down.stderr
        assert "Traceback" not in down.stderr
    for args in (["deploy"], ["worker", "--pool", "download"]):
        out = _cli("--data-dir", str(tmp_path), *args, env=_env())  # no PREFECT_API_URL at all
        assert out.returncode == 1 and "error: PREFECT_API_URL is not set" in out.stderr, out.stderr
    bad = _cli("--data-dir", str(tmp_path), "worker", "--pool", "gpu", env=_env())
    assert bad.returncode == 1 and "unknown work pool 'gpu'" in bad.stderr


def test_a_worker_sweeps_the_fetch_folder_of_a_killed_flow_run(tmp_path):
    from pipeline.preservation.sweep import sweep_incoming

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / ".incoming" / f"fetch-{dead.pid}-abc"  # a killed flow run's half-downloaded video
    (left / "media.mp4.part").parent.mkdir(parents=True)
    (left / "media.mp4.part").write_bytes(b"half")
    busy = tmp_path / ".incoming" / f"fetch-{os.getpid()}-def"  # a download still going on in a live process
    busy.mkdir()
    assert sweep_incoming(tmp_path) == [f".incoming/fetch-{dead.pid}-abc"]
    assert not left.exists() and busy.is_dir()


def _descendants(pid: int) -> list[int]:
    """The processes below one we started (Linux /proc): the worker's flow-run processes."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *_descendants(kid)]
    return out


def _flow_run_of(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"PREFECT__FLOW_RUN_ID="):
            return item.split(b"=", 1)[1].decode()
    return None


def _kill_slow_download(api: str, server, workers: list[Worker], page: str, timeout: float = 240) -> str:
    """SIGKILL the flow-run process (below one of our workers) while it downloads the slow clip; its flow run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"GET /media/{SLOW}.mp4" in server.requests:
            slow = {r["id"] for r in flow_runs(api, "ingest-video")
                    if r["parameters"]["url"].startswith(page) and r["state_type"] == "RUNNING"}
            for worker in workers:
                for child in _descendants(worker.proc.pid):
                    run_id = _flow_run_of(child)
                    if run_id in slow:
                        time.sleep(1.0)  # some bytes in, most still to come
                        os.kill(child, signal.SIGKILL)
                        return run_id
        time.sleep(0.2)
    pytest.fail(f"the slow clip's download never started on a worker: {server.requests[-20:]}")


def test_ingest_fans_out_to_process_workers(pg, s3, server, tmp_path):
    t_start = time.monotonic()
    clips = make_news_clips(tmp_path / "clips")  # six clips, ~3 s each
    feed = publish_feed(server, [*clips, {**clips[0], "name": "gone", "title": "Clip gone"}], "Loopback news")
    server.routes.pop("/watch/gone.html")  # listed in the feed, but the page is gone: that video fails alone
    server.routes[f"/media/{SLOW}.mp4"].rate = 6_000  # bytes a second: ~6 s per download
    bucket = f"pools-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    catalogue_url = pg.create_database(f"cat_{uuid.uuid4().hex[:8]}")
    prefect_db = pg.create_database(f"prefect_{uuid.uuid4().hex[:8]}")  # Prefect's own database, apart
    workers: list[Worker] = []
    with PrefectServer(prefect_db) as prefect:
        env = _env(**s3.env(), **prefect.env(), CLIPWATCH_DATABASE_URL=catalogue_url,
                   CLIPWATCH_STORAGE_URL=f"s3://{bucket}/archive", CLIPWATCH_MODEL="tiny.en", CLIPWATCH_TRANSLATE="0",
                   CLIPWATCH_SEMANTIC="0", CLIPWATCH_DEVICE="cpu", CLIPWATCH_ASR_BATCH="3",
                   PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
        undeployed = _cli("--data-dir", str(tmp_path / "here"), "ingest", feed, env=env)
        assert undeployed.returncode == 1 and "error: the Prefect server has no deployment" in undeployed.stderr
        assert "clipwatch deploy" in undeployed.stderr
        deployed = _cli("--data-dir", str(tmp_path / "here"), "deploy", "--json", env=env)
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout)["deployments"] == {
            "ingest-video/clipwatch-download": "download", "media-stages/clipwatch-media": "media",
            "asr-batch/clipwatch-asr": "asr", "monitor/clipwatch-monitor": "download"}
        try:
            for name, pool in (("dl-1", "download"), ("dl-2", "download"), ("asr-1", "asr")):
                # each worker a machine of its own: its own data folder
                workers.append(Worker(pool, name, env, tmp_path / name, tmp_path / f"{name}.log",
                                      limit=2 if pool == "download" else None))
            wait_online(prefect.api_url, {"download": 2, "asr": 1})

            t0 = time.monotonic()
            ingest = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--data-dir", str(tmp_path / "here"),
                                       "ingest", feed, "--json"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            killed = _kill_slow_download(prefect.api_url, server, workers[:2], server.url(f"/watch/{SLOW}.html"))
            out, err = ingest.communicate(timeout=400)
            wall = time.monotonic() - t0
            assert ingest.returncode == 2, err[-3000:]  # one video failed, the rest archived
            report = json.loads(out)
            runs = flow_runs(prefect.api_url, "ingest-video")
            asr_runs = flow_runs(prefect.api_url, "asr-batch")
            limits = {name: httpx.get(f"{prefect.api_url}/v2/concurrency_limits/{name}", timeout=10).json()["limit"]
                      for name in ("clipwatch-download", "clipwatch-download:127.0.0.1")}
        finally:
            for worker in workers:
                worker.stop()

    assert report["failed"] == 1 and len(report["videos"]) == 7, report
    gone = report["videos"][-1]
    assert gone["title"] == "Clip gone" and gone["status"] == "unavailable" and gone["stages"] == {"fetch": "failed"}
    assert "404" in gone["error"], gone
    for v in report["videos"][:6]:
        assert set(v["stages"].values()) <= {"done", "not-applicable"}, v
        assert {"fetch", "keyframes", "transcribe", "tag"} <= set(v["stages"]), v

    assert limits == {"clipwatch-download": 4, "clipwatch-download:127.0.0.1": 2}  # the documented defaults
    # One flow run per video, plus the one that was killed and run again; both download workers took some.
    by_state: dict[str, int] = {}
    for r in runs:
        by_state[r["state_type"]] = by_state.get(r["state_type"], 0) + 1
    assert by_state == {"COMPLETED": 6, "FAILED": 1, "CRASHED": 1}, by_state
    slow_runs = [r for r in runs if r["parameters"]["url"].startswith(server.url(f"/watch/{SLOW}.html"))]
    assert {r["id"] for r in slow_runs if r["state_type"] == "CRASHED"} == {killed} and len(slow_runs) == 2
    per_worker = {w.name: sum(w.ran(r["id"]) for r in runs) for w in workers[:2]}
    print(f"scale pools: set-up {t0 - t_start:.1f} s; ingest of 7 feed items (6 clips, 1 gone) on 2 download "
          f"workers + 1 asr worker {wall:.1f} s (one download killed and re-run); flow runs per download worker {per_worker}", file=sys.stderr)
    assert all(n >= 1 for n in per_worker.values()) and sum(per_worker.values()) == len(runs), per_worker
    assert workers[0].ran(killed) != workers[1].ran(killed)
    # Two batches of three (CLIPWATCH_ASR_BATCH) on the asr worker: one Whisper load per batch, not per video.
    assert [r["state_type"] for r in asr_runs] == ["COMPLETED", "COMPLETED"]
    assert sorted(len(r["parameters"]["video_ids"]) for r in asr_runs) == [3, 3]
    assert all(workers[2].ran(r["id"]) for r in asr_runs)

    with PostgresCatalogue(catalogue_url) as cat:
        videos = cat.all_videos()
        assert len(videos) == 6 and len({v["webpage_url"] for v in videos}) == 6
        media = cat.media_rows()
        assert len(media) == 6 and {m["sha256"] for m in media} == {v["media_sha256"] for v in videos}
        listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="archive/media/").get("Contents", [])
        keys = {o["Key"] for o in listed}
        assert keys == {f"archive/{m['path']}" for m in media}  # no object without a row, no row without an object
        for m in media:
            body = s3.client().get_object(Bucket=bucket, Key=f"archive/{m['path']}")["Body"].read()
            assert hashlib.sha256(body).hexdigest() == m["sha256"] and m["sha256"] in m["path"]
        fetched = [e["video_id"] for e in cat.events() if e["kind"] == "fetched"]
        assert sorted(fetched) == sorted(v["id"] for v in videos)  # the killed run recorded nothing
        assert cat.chain_report().ok
        for word, name in (("snow", "weather"), ("bridge", "railway"), ("fleet", "fishing")):
            res = search(cat, SearchQuery(word), archive_dir=tmp_path / "here" / "archive")
            assert [g.title for g in res.videos] == [f"Clip {name}"], word
