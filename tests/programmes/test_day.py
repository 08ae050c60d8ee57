"""A recorded channel's day end to end: segments archived and catalogued as `clipwatch record` leaves them, an ident
marked once (`programmes ident add`), `programmes CHANNEL --date D --find --json`, titles from stored screen text and
speech, and the day view (`/channels/<id>/day/<date>`) with a gap, hostile titles escaped, bad dates and channels 4xx.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline.asr.base import Segment, Transcript
from pipeline.cli.app import app
from pipeline.errors import ClipwatchError
from pipeline.media.probe import run_ffmpeg
from pipeline.programmes.boundaries import iso
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage.files import Archive
from pipeline.storage.sqlite.catalogue import Store
from pipeline.testing.broadcast import make_broadcast
from pipeline.web.app import create_app

runner = CliRunner()
T0 = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)
PARTS = [("programme", 24), ("black", 2), ("ident", 4), ("programme", 26), ("ident", 4), ("programme", 20)]
CUT = 40.0  # the recorder's segment boundary (seconds into the broadcast)
HOSTILE = "<script>alert(1)</script> Evening News [bold]Today[/bold]"


def _lines(text: str, at: float = 3.0) -> Transcript:
    return Transcript("en", 1.0, 40.0, "test", "test", "0", segments=[Segment(at, at + 2.0, text)])


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """An archive holding the broadcast as two recorded segments of channel kctv, with readings and a gap event."""
    root = tmp_path_factory.mktemp("day")
    from pipeline.config import Settings

    s = Settings(data_dir=root / "data")
    s.ensure_dirs()
    archive = Archive(s.archive_dir)
    whole = root / "broadcast.mp4"
    truth = make_broadcast(whole, PARTS, seed=5)
    parts = [root / "seg0.mp4", root / "seg1.mp4"]
    run_ffmpeg(["-i", str(whole), "-t", f"{CUT}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                str(parts[0])])
    run_ffmpeg(["-ss", f"{CUT}", "-i", str(whole), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                str(parts[1])])
    vids = []
    with Store(s.db_path) as store:
        for seq, (path, a, b) in enumerate([(parts[0], 0.0, CUT), (parts[1], CUT, sum(d for _, d in PARTS))]):
            fetched = fetch(str(path), archive)
            record_fetch(store, archive, fetched, None)
            vid = fetched.video.id
            vids.append(vid)
            store.add_segment(vid, "kctv", "http://127.0.0.1/live.m3u8", seq, iso(T0.timestamp() + a),
                              iso(T0.timestamp() + b), "receiver")
        sha = store.get_video(vids[0])["media_sha256"]
        # the second programme (from 30 s) names itself on screen, the third (from 60 s, in segment 2) in speech
        store.replace_transcript(vids[0], sha, "screen", _lines(HOSTILE, 31.0), None)
        sha1 = store.get_video(vids[1])["media_sha256"]
        store.replace_transcript(vids[1], sha1, "original", _lines("Good evening. This is Farm Hour. Today", 21.0),
                                 None)
        gap0 = T0 + timedelta(seconds=90)
        store.add_event("gap", detail={"channel": "kctv", "start": iso(gap0.timestamp()),
                                       "end": iso(gap0.timestamp() + 60), "seconds": 60.0, "reason": "connection lost"})
        store.add_event("gap", detail={"channel": "other", "start": iso(gap0.timestamp()),
                                       "end": iso(gap0.timestamp() + 5), "seconds": 5.0, "reason": "elsewhere"})
    return s, whole, truth, vids


def cw(s, *args):
    return runner.invoke(app, ["--data-dir", str(s.data_dir), *args])


def test_find_a_day_with_a_marked_ident(day):
    s, whole, truth, vids = day
    t_ident = truth["ident"][0]
    args = ["--start", f"{t_ident}", "--end", f"{t_ident + 4}", "--name", "station ident"]
    res = cw(s, "programmes", "ident", "add", "kctv", str(whole), *args, "--json")
    assert res.exit_code == 0, res.output
    added = json.loads(res.stdout)
    assert added["channel"] == "kctv" and added["name"] == "station ident" and abs(added["duration"] - 4.0) < 0.1
    res = cw(s, "programmes", "ident", "list", "kctv", "--json")
    assert [r["name"] for r in json.loads(res.stdout)] == ["station ident"]

    res = cw(s, "programmes", "kctv", "--date", "2026-12-06", "--find", "--json")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    starts = [datetime.fromisoformat(p["air_start"].replace("Z", "+00:00")) - T0 for p in got["programmes"]]
    assert len(starts) == 3, got["programmes"]
    # programmes start after the junctions (black + ident at 24-30 s, ident at 56-60 s), within a second
    assert [round(t.total_seconds()) for t in starts] in ([0, 30, 60], [0, 30, 59], [0, 29, 60], [0, 29, 59])
    assert [p["title"] for p in got["programmes"]] == [None, " ".join(HOSTILE.split()), "Farm Hour"]
    assert [p["title_source"] for p in got["programmes"]] == [None, "screen", "speech"]
    # the second programme (30-56 s) spans the recorder's cut at 40 s: both segments
    assert got["programmes"][1]["video_ids"] == vids and got["programmes"][2]["video_ids"] == [vids[1]]
    kinds = {c["kind"] for c in got["programmes"][2]["evidence"]["start"]["cues"]}
    assert "ident" in kinds
    assert [g["reason"] for g in got["gaps"]] == ["connection lost"] and got["gaps"][0]["seconds"] == 60.0
    assert [seg["video_id"] for seg in got["segments"]] == vids
    # finding again replaces the day's programmes, never doubles them
    again = json.loads(cw(s, "programmes", "kctv", "--date", "2026-12-06", "--find", "--json").stdout)
    assert len(again["programmes"]) == 3
    # the plain listing prints the hostile title as text
    res = cw(s, "programmes", "kctv", "--date", "2026-12-06")
    assert res.exit_code == 0 and "[bold]Today[/bold]" in res.stdout and "Farm Hour" in res.stdout


def test_a_day_without_segments_and_bad_input(day):
    s = day[0]

    def fails(*args: str) -> str:
        res = cw(s, *args)
        # a ClipwatchError: `clipwatch` prints it as one `error:` line and exits 1 (pipeline.cli.common.report_errors)
        assert res.exit_code != 0 and isinstance(res.exception, ClipwatchError), (res.output, res.exception)
        return str(res.exception)

    assert "no recorded segments" in fails("programmes", "kctv", "--date", "2026-12-05", "--find")
    assert "YYYY-MM-DD" in fails("programmes", "kctv", "--date", "06/12/2026")
    assert "channel id" in fails("programmes", "a;b", "--date", "2026-12-06")
    assert "--end" in fails("programmes", "ident", "add", "kctv", str(day[1]), "--start", "5", "--end", "4",
                            "--name", "x")


def test_day_view(day):
    s = day[0]
    cw(s, "programmes", "kctv", "--date", "2026-12-06", "--find", "--json")
    with TestClient(create_app(s), base_url="http://127.0.0.1") as client:
        r = client.get("/channels/kctv/day/2026-12-06")
        assert r.status_code == 200
        html = r.text
        assert 'class="gap"' in html and 'fill="url(#hatch)"' in html and "connection lost" in html
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html
        assert html.count('class="programme"') == 3 and html.count('class="segment"') == 2
        assert f"/videos/{day[3][1]}?t=" in html  # a programme opens its segment at its first second
        api = client.get("/api/channels/kctv/day/2026-12-06").json()
        assert len(api["programmes"]) == 3 and len(api["gaps"]) == 1 and api["gaps"][0]["offset"] == 20 * 3600 + 90
        empty = client.get("/channels/kctv/day/2026-12-07")
        assert empty.status_code == 200 and "Nothing recorded" in empty.text
        for bad in ("/channels/kctv/day/2026-02-30", "/channels/kctv/day/yesterday", "/api/channels/kctv/day/x",
                    "/channels/a%20b/day/2026-12-06", "/api/channels/..%2F..%2Fetc/day/2026-12-06"):
            r = client.get(bad)
            assert 400 <= r.status_code < 500, (bad, r.status_code)
