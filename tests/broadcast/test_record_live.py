"""`clipwatch record` against a live HLS channel that ffmpeg publishes in real time on loopback (issue 25).

One recording, checked end to end: the recorder is killed with SIGKILL in the middle of a segment and started again
(the open segment is closed and archived at restart, nothing recorded twice); the publisher drops for 10 s and comes
back (one `gap` event of 10 ± 3 s); a phrase spoken at a known moment is found by `search` with its air time within
2 s of when it aired (the stream's program date-time plus the phrase's place in the clip); `list` and `verify` show
the segments' air time and the gap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.storage.base import open_catalogue
from pipeline.testing.hls import LoopbackHls, make_broadcast_clip

pytestmark = pytest.mark.slow

PHRASE = "Harvest reports from the northern province were excellent this autumn."
PHRASE_AT = 2.0      # seconds into the first clip
CLIP_A = 24.0        # the first publisher's clip; then the signal drops
OUTAGE = 10.0
CLIP_B = 8.0
SEGMENT = 10


def _cli(data: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "CLIPWATCH_DATA": str(data)}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--data-dir", str(data), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _run(data: Path, *args: str) -> str:
    p = _cli(data, *args)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return out


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _wait_for(pred, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_record_kill_restart_gap_and_air_time_search(tmp_path):
    clip_a = make_broadcast_clip(tmp_path / "a.mp4", CLIP_A, PHRASE, PHRASE_AT)
    clip_b = make_broadcast_clip(tmp_path / "b.mp4", CLIP_B)
    data = tmp_path / "data"
    ledger = data / "record" / "kctv" / "ledger.jsonl"
    with LoopbackHls(tmp_path / "live", hls_time=2, list_size=10) as hls:
        hls.publish(clip_a)
        aired = hls.first_program_date_time()  # the stream's clock at the clip's first frame
        first = _cli(data, "record", hls.url, "--channel", "kctv", "--segment", str(SEGMENT), "--for", "120")
        # kill -9 once the second segment is open (its first chunk is in the ledger)
        _wait_for(lambda: ledger.is_file() and '"seg":1' in ledger.read_text(), 60, "the second segment to open")
        time.sleep(1.0)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()
        restarted_at = time.time()
        stop_after = max(10.0, aired + CLIP_A + OUTAGE + CLIP_B + 3.0 - restarted_at)
        second = _cli(data, "record", hls.url, "--channel", "kctv", "--segment", str(SEGMENT),
                      "--for", f"{stop_after:.0f}", "--json")
        hls.wait(timeout=CLIP_A + 30)   # the first clip ends: the signal drops (no end-of-list: a live drop)
        time.sleep(OUTAGE)
        hls.publish(clip_b)
        out, err = second.communicate(timeout=stop_after + 400)
    assert second.returncode == 0, err
    report = json.loads(out)
    assert report["recovered"] == 1 and report["air_clock"] == "stream", (report, err[-3000:])

    with open_catalogue(f"sqlite://{data / 'clipwatch.db'}") as store:
        rows = store.stream_segments("kctv")
        recorded = [json.loads(e["detail"]) for e in store.events_of_kind("recorded")]
        gaps = [json.loads(e["detail"]) for e in store.events_of_kind("gap")]
        shas = [store.get_video(r["video_id"])["media_sha256"] for r in rows]

    # segments archived, in air order, none twice: no two overlap and no file is catalogued twice
    assert len(rows) >= 4, rows
    for a, b in zip(rows, rows[1:]):
        assert a["air_end"] <= b["air_start"], (a, b)
    assert len(set(shas)) == len(shas) and len({r["seq"] for r in rows}) == len(rows)
    # the segment open at the kill was closed and archived at restart
    assert [r["seq"] for r in recorded if r["closed_by"] == "restart"] == [1]
    # one gap for the 10 s outage
    assert len(gaps) == 1, gaps
    assert abs(gaps[0]["seconds"] - OUTAGE) <= 3.0 and gaps[0]["channel"] == "kctv"
    assert {"start", "end", "reason"} <= set(gaps[0])
    # what aired before and after the outage is recorded up to the gap and from its end
    assert any(r["air_end"] == gaps[0]["start"] for r in rows) and any(r["air_start"] == gaps[0]["end"] for r in rows)

    hits = json.loads(_run(data, "search", "harvest", "--json"))
    found = [h for v in hits["videos"] for h in v["hits"]]
    assert found, hits
    assert found[0]["air_time"] is not None
    assert abs(_epoch(found[0]["air_time"]) - (aired + PHRASE_AT)) <= 2.0, (found[0]["air_time"], aired + PHRASE_AT)
    text = _run(data, "search", "harvest")
    assert "kctv · " in text and " UTC" in text
    day = found[0]["air_time"][:10]
    assert json.loads(_run(data, "search", "harvest", "--since", day, "--json"))["hit_count"] >= 1
    after = datetime.fromtimestamp(aired + CLIP_A + 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert json.loads(_run(data, "search", "harvest", "--since", after + "Z", "--json"))["hit_count"] == 0

    listed = json.loads(_run(data, "list", "--json"))
    assert sum(1 for v in listed if v.get("air_start")) == len(rows)
    verified = json.loads(_run(data, "verify", "--all", "--json"))
    assert verified["gaps"]["count"] == 1
    status = json.loads(_run(data, "status", "--json"))["recorders"]
    assert status[0]["channel"] == "kctv" and status[0]["state"] == "stopped" and status[0]["backlog_seconds"] == 0
