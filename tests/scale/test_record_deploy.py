"""A channel's recorder as a Prefect deployment, for real on loopback (issue 25): `clipwatch deploy --record` registers
`record/<channel>` in the `record` pool with its parameters, one run at a time and an automation that restarts a
crashed run (read back from the server's API); a `clipwatch worker --pool record` runs the recorder on a live HLS
stream that ffmpeg publishes in real time; its flow-run process is killed (SIGKILL) while it records, and the automation
starts the deployment again, which archives the segment left open; each closed segment's transcript is made by a
`clipwatch worker --pool asr` (an `asr-batch` flow run per segment), not by the recorder's process.

Everything here is started by the test and stopped by it; only processes it started are signalled.
"""

from __future__ import annotations

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
        # registering again replaces it (one automation per channel); without --no-start it starts the recorder
        again = json.loads(_cli("--data-dir", str(data), "deploy", "--record", hls.url, "--channel", "kctv",
                                "--segment", "8", "--json", env=env).stdout)
        autos = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
        assert [a["id"] for a in autos if a["name"].startswith("clipwatch: restart record/kctv")] == \
            [again["restart_automation"]]
        first = again["flow_run"]
        assert first and not again["already_running"]

        hls.publish(clip, loop=True)
        hls.first_program_date_time()
        ledger = data / "record" / "kctv" / "ledger.jsonl"
        try:
            for name, pool in (("rec-1", "record"), ("asr-1", "asr")):
                workers.append(Worker(pool, name, env, data, tmp_path / f"{name}.log"))
            wait_online(api, {"record": 1, "asr": 1})
            # kill -9 the recorder's flow-run process while it records: the automation starts the deployment again
            _wait_for(lambda: _live_chunk(ledger, time.time() - 6), 240, "the deployed recorder to record live")
            pids = [p for p in _descendants(workers[0].proc.pid) if _flow_run_of(p) == first]
            assert pids, "the recorder's flow-run process was not found below its worker"
            os.kill(pids[0], signal.SIGKILL)

            def restarted() -> list[dict]:
                return [r for r in flow_runs(api, "record") if r["id"] != first]

            _wait_for(lambda: any(r["state_type"] == "RUNNING" for r in restarted()), 240,
                      "the automation to start the crashed recorder again")
            second = restarted()[0]["id"]

            def recorded_after_restart() -> int:
                with open_catalogue(f"sqlite://{data / 'clipwatch.db'}") as store:
                    events = [json.loads(e["detail"]) for e in store.events_of_kind("recorded")]
                return len(events) if any(e.get("closed_by") == "restart" for e in events) else 0

            _wait_for(lambda: recorded_after_restart() >= 2, 420, "two segments analysed by the restarted recorder")
            httpx.post(f"{api}/flow_runs/{second}/set_state", json={"state": {"type": "CANCELLING"}}, timeout=10)
            _wait_for(lambda: httpx.get(f"{api}/flow_runs/{second}", timeout=10).json()["state_type"]
                      in ("CANCELLED", "CRASHED", "FAILED", "COMPLETED"), 120, "the restarted recorder to stop")
            runs = {r["id"]: r for r in flow_runs(api, "record")}
            asr_runs = flow_runs(api, "asr-batch")
        finally:
            for worker in workers:
                worker.stop()

    assert runs[first]["state_type"] == "CRASHED" and runs[second]["state_type"] == "CANCELLED", runs
    assert len(runs) == 2, runs  # restarted once; the cancelled run is not restarted
    assert workers[0].ran(first) and workers[0].ran(second)
    assert runs[second]["parameters"] == dep["parameters"]
    assert runs[second]["empirical_policy"]["retries"] == 1000  # a failed recorder is retried by Prefect itself
    with open_catalogue(f"sqlite://{data / 'clipwatch.db'}") as store:
        rows = store.stream_segments("kctv")
        recorded = [json.loads(e["detail"]) for e in store.events_of_kind("recorded")]
        transcribed = {r["video_id"] for r in rows if store.segments(r["video_id"])}
        shas = [store.get_video(r["video_id"])["media_sha256"] for r in rows]
    assert len(rows) >= 2 and len(set(shas)) == len(shas) and len({r["seq"] for r in rows}) == len(rows), rows
    assert sum(1 for r in recorded if r["closed_by"] == "restart") == 1, recorded  # the open segment, archived
    # every segment's analysis went through the asr pool: an asr-batch flow run for it, run by the asr worker
    by_asr = {v for r in asr_runs if r["state_type"] == "COMPLETED" and workers[1].ran(r["id"])
              for v in r["parameters"]["video_ids"]}
    assert {r["video_id"] for r in rows} <= by_asr, (rows, asr_runs)
    assert transcribed, "no segment has a transcript"


def _live_chunk(ledger: Path, after: float) -> bool:
    """A segment is open and its newest chunk aired after ``after`` (the recorder's own ledger)."""
    try:
        lines = [json.loads(line) for line in ledger.read_text().splitlines() if line.endswith("}")]
    except OSError:
        return False
    return bool(lines) and lines[-1]["t"] == "chunk" and lines[-1]["air_start"] >= after


def _descendants(pid: int) -> list[int]:
    """The processes below one we started (Linux /proc): the worker's flow-run processes."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        try:
            kids = [int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
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
    return next((item.split(b"=", 1)[1].decode() for item in env if item.startswith(b"PREFECT__FLOW_RUN_ID=")), None)
