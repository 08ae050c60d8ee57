"""A channel's recorder as a Prefect deployment, for real on loopback (issue 25): `clipwatch deploy --record` registers
`record/<channel>` in the `record` pool with its parameters, one run at a time and an automation that restarts a
crashed run (read back from the server's API); a `clipwatch worker --pool record` runs the recorder on a live HLS
stream that ffmpeg publishes in real time, and each closed segment's transcript is made by a `clipwatch worker --pool
asr` (an `asr-batch` flow run per segment), not by the recorder's process.

Everything here is started by the test and stopped by it; only processes it started are signalled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from pipeline.storage.base import open_catalogue
from pipeline.testing.hls import LoopbackHls, make_broadcast_clip
from pipeline.testing.prefect import PrefectServer, Worker, flow_runs, wait_online

pytestmark = pytest.mark.slow

PHRASE = "Harvest reports from the northern province were excellent this autumn."


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLIPWATCH_"))}
    return {**base, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DO_NOT_TRACK": "1", **extra}


def _wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1.0)
    pytest.fail(f"timed out waiting for {what}")


def test_deploy_record_registers_a_restarting_recorder_whose_segments_go_to_the_asr_pool(pg, tmp_path):
    clip = make_broadcast_clip(tmp_path / "a.mp4", 12.0, PHRASE, 2.0)
    data = tmp_path / "data"  # the recorder's and the asr worker's archive: one machine here
    workers: list[Worker] = []
    with PrefectServer(pg.create_database(f"prefect_{uuid.uuid4().hex[:8]}")) as prefect, \
            LoopbackHls(tmp_path / "live", hls_time=2, list_size=30) as hls:
        api = prefect.api_url
        env = _env(**prefect.env(), CLIPWATCH_DATA=str(data), CLIPWATCH_MODEL="tiny.en", CLIPWATCH_TRANSLATE="0",
                   CLIPWATCH_SEMANTIC="0", CLIPWATCH_DEVICE="cpu", PREFECT_WORKER_QUERY_SECONDS="1",
                   PREFECT_WORKER_PREFETCH_SECONDS="1")
        assert _cli("--data-dir", str(data), "deploy", "--json", env=env).returncode == 0  # asr-batch among them
        out = _cli("--data-dir", str(data), "deploy", "--record", hls.url, "--channel", "kctv", "--segment", "8",
                   "--no-start", "--json", env=env)
        assert out.returncode == 0, out.stderr
        done = json.loads(out.stdout)
        assert done["deployment"] == "record/kctv" and done["pool"] == "record" and done["flow_run"] is None

        # read back from the server: the deployment, its parameters and one-at-a-time limit, the restart automation
        dep = httpx.get(f"{api}/deployments/name/record/kctv", timeout=10).json()
        assert dep["work_pool_name"] == "record" and dep["entrypoint"] == "flows.record_deploy.record_channel_flow"
        assert dep["parameters"] == {"url": hls.url, "channel": "kctv", "segment_seconds": 8.0, "shed_after": None}
        assert (dep.get("global_concurrency_limit") or {}).get("limit") == 1, dep
        autos = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
        restart = [a for a in autos if a["id"] == done["restart_automation"]]
        assert len(restart) == 1 and restart[0]["enabled"], autos
        assert restart[0]["trigger"]["expect"] == ["prefect.flow-run.Crashed"]
        assert restart[0]["trigger"]["match_related"] == {"prefect.resource.id": f"prefect.deployment.{dep['id']}"}
        action = restart[0]["actions"][0]
        assert action["type"] == "run-deployment" and action["deployment_id"] == dep["id"]
        assert action["parameters"] == dep["parameters"]
        # registering again replaces it (one automation per channel), and a run already there is not doubled
        again = json.loads(_cli("--data-dir", str(data), "deploy", "--record", hls.url, "--channel", "kctv",
                                "--segment", "8", "--no-start", "--json", env=env).stdout)
        autos = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
        assert [a["id"] for a in autos if a["name"].startswith("clipwatch: restart record/kctv")] == \
            [again["restart_automation"]]

        hls.publish(clip, loop=True)
        hls.first_program_date_time()
        try:
            for name, pool in (("rec-1", "record"), ("asr-1", "asr")):
                workers.append(Worker(pool, name, env, data, tmp_path / f"{name}.log"))
            wait_online(api, {"record": 1, "asr": 1})
            # a bounded run for the test (a deployed recorder runs until cancelled)
            run = httpx.post(f"{api}/deployments/{dep['id']}/create_flow_run",
                             json={"parameters": {**dep["parameters"], "for_seconds": 20}}, timeout=10).json()

            def finished() -> bool:
                state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()["state_type"]
                return state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

            _wait_for(finished, 420, "the recorder's flow run to end")
            record_run = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()
            asr_runs = flow_runs(api, "asr-batch")
        finally:
            for worker in workers:
                worker.stop()

    assert record_run["state_type"] == "COMPLETED", (record_run["state"], workers[0].log_path.read_text()[-3000:])
    assert workers[0].ran(run["id"])
    assert record_run["empirical_policy"]["retries"] == 1000  # a failed recorder is retried by Prefect itself
    with open_catalogue(f"sqlite://{data / 'clipwatch.db'}") as store:
        rows = store.stream_segments("kctv")
        transcribed = {r["video_id"] for r in rows if store.segments(r["video_id"])}
    assert len(rows) >= 2, rows
    # every segment's analysis went through the asr pool: one asr-batch flow run each, run by the asr worker
    assert sorted(v for r in asr_runs for v in r["parameters"]["video_ids"]) == sorted(r["video_id"] for r in rows)
    assert all(r["state_type"] == "COMPLETED" and workers[1].ran(r["id"]) for r in asr_runs), asr_runs
    assert transcribed, "no segment has a transcript"
