"""One output convention across the whole CLI: every command that prints results takes the same --json option,
typed after the command or before it (`clipwatch --json CMD`), and then writes JSON alone on stdout.

The command list is read from the Typer app itself, so a new command without --json (or without a run here) fails.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import typer.main
from conftest import SAMPLES, publish_page
from typer.testing import CliRunner

from pipeline import __version__
from pipeline.cli.app import app
from pipeline.cli.common import JsonFlag
from pipeline.config import Settings
from pipeline.demo.loopback import LoopbackServer, publish_samples
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch, run_keyframes
from pipeline.storage.files import Archive
from pipeline.storage.sqlite.catalogue import Store

runner = CliRunner()
TESTS = Path(__file__).resolve().parents[1]  # tests/: the media and every room's test files
JSON_HELP = JsonFlag.__metadata__[0].help

# Commands that print no result: they run a server or become another process until stopped.
NOT_RESULTS = {
    ("serve",): "runs the web server until stopped",
    ("worker",): "replaces itself with a Prefect worker",
    ("monitor", "serve"): "serves the monitor deployment until stopped",
}

# Commands whose --json needs a service this file does not start: the test that runs them with --json and reads the
# JSON, and the words of that invocation in its source (checked below, so the reference cannot go stale silently).
ELSEWHERE = {
    ("deploy",): ("scale/test_scale_pools.py", '"deploy", "--json"'),  # a Prefect server on PostgreSQL
    ("migrate",): ("storage/test_migrate.py", '"migrate", "--to", url, "--json"'),  # a PostgreSQL cluster
    ("models", "pull"): ("models/test_models_pull.py", '"models", "pull", "tiny", "--json"'),  # a loopback hub
    ("voices", "show"): ("speakers/test_speakers.py", '"voices", vid, "--json"'),  # a video whose speakers were found
    ("voices", "name"): ("speakers/test_speakers.py", '"voices", "name", f"{vid}:S2", "Second voice", "--json"'),
    ("delete",): ("preservation/test_verify_probes.py", '"delete", b, "--why", "a second takedown order", "--json"'),
    ("export", "wacz"): ("capture/test_capture.py", '"export", "wacz", str(tmp_path / "coll"), archived, second, "--json"'),  # a capture from the loopback site
    ("programmes", "ident", "add"): ("programmes/test_day.py", '"programmes", "ident", "add", "kctv", str(whole), *args, "--json"'),  # a jingle
    ("record",): ("broadcast/test_record_live.py", '"--for", "900", "--json"'),  # a live HLS stream
    ("monitor", "retract"): ("preservation/test_removals.py", '"monitor", "retract", video, "--why", "CDN outage on 6 Jan, confirmed by the platform", "--json"'),  # a recorded removal
}


class Ctx:
    """What the command lines below refer to: the archived video, files, a fresh folder per run."""

    def __init__(self, data_dir: Path, vid: str, others: list[str], feed: str, work: Path):
        self.data_dir, self.vid, self.others, self.feed, self.work = data_dir, vid, others, feed, work
        self.n = 0

    def fresh(self, name: str) -> Path:
        self.n += 1
        return self.work / f"{self.n}-{name}"

    def labels(self) -> Path:
        path = self.fresh("labels.csv")
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([["video_id", "news", "music", "propaganda"], [self.vid, 1, 0, 1],
                                       *([v, n % 2, (n + 1) % 2, n % 2] for n, v in enumerate(self.others))])
        return path


SAMPLE = SAMPLES / "ministry-statement.mp4"

# Each result-printing command with the arguments it runs with on the small archive (--json added by the test).
RUNS = {
    ("version",): lambda c: [],
    ("doctor",): lambda c: ["--offline"],
    ("list",): lambda c: [],
    ("status",): lambda c: [],
    ("show",): lambda c: [c.vid],
    ("history",): lambda c: [c.vid],
    ("events",): lambda c: [c.vid],
    ("search",): lambda c: ["statement"],
    ("trends",): lambda c: ["statement"],
    ("browse", "channels"): lambda c: [],
    ("browse", "removed"): lambda c: [],
    ("browse", "recent"): lambda c: [],
    ("models", "list"): lambda c: [],
    ("shots",): lambda c: [str(SAMPLE), "--detector", "content"],
    ("screen-text",): lambda c: [c.vid],
    ("similar",): lambda c: [c.vid],
    ("match",): lambda c: [str(SAMPLE)],
    ("copies",): lambda c: [c.vid],
    ("network",): lambda c: [],
    ("copies-index",): lambda c: ["--rebuild"],
    ("tags", "show"): lambda c: [c.vid],
    ("tags", "set"): lambda c: [c.vid, "--category", "news", "--value", "true"],
    ("tags", "run"): lambda c: [c.vid],
    ("tags", "retrain"): lambda c: [str(c.labels()), "--no-audio", "--out", str(c.fresh("weights.json"))],
    ("verify",): lambda c: ["--all"],
    ("monitor", "add"): lambda c: [c.feed],
    ("monitor", "list"): lambda c: [],
    ("programmes", "show"): lambda c: ["kctv", "--date", "2026-12-06"],
    ("programmes", "ident", "list"): lambda c: ["kctv"],
    ("export", "bag"): lambda c: [str(c.fresh("bag")), c.vid],
    ("export", "csv"): lambda c: [str(c.fresh("catalogue.csv"))],
    ("export", "json"): lambda c: [str(c.fresh("catalogue.json"))],
}

# The same for commands that run a flow, load a model or transcribe (marked slow); see test_slow_commands_print_json.
SLOW_RUNS = {
    ("ingest",): lambda c: [str(SAMPLES / "evening-bulletin.mp4"), "--model", "tiny.en", "--no-translate"],
    ("reprocess",): lambda c: [c.vid, "--model", "tiny.en"],
    ("demo",): lambda c: ["--model", "tiny.en", "--query", "statement"],
    ("monitor", "run"): lambda c: ["--no-relist", "--no-analyse", "--limit", "1"],
    ("monitor", "watch"): lambda c: ["--rounds", "1", "--no-analyse", "--no-check"],
    ("transcribe",): lambda c: [str(TESTS / "media" / "transcribe" / "en_short.opus"), "--model", "tiny.en"],
    ("index-semantic",): lambda c: [],
    ("models", "convert"): lambda c: ["tiny.en"],
}


def leaf_commands() -> dict[tuple[str, ...], object]:
    """Every command of the app (not its groups), by path."""
    out: dict[tuple[str, ...], object] = {}

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs is None:
            out[path] = cmd
            return
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def json_params(cmd) -> list:
    return [p for p in cmd.params if "--json" in p.opts]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Four videos really fetched from a loopback site (the tagger retrains on no fewer), one with keyframes; a
    watched feed to add."""
    root = tmp_path_factory.mktemp("cli-output")
    s = Settings(data_dir=root / "data")
    s.ensure_dirs()
    archive = Archive(s.archive_dir)
    with LoopbackServer() as server:
        url = publish_page(server, "ministry", SAMPLE, "Ministry Statement", channel="Ministry TV", upload_date="2019-07-01")
        with Store(s.db_path) as store:
            fetched = fetch(url, archive)
            record_fetch(store, archive, fetched, None)
            run_keyframes(store, archive, fetched.video.id)
            others = []
            for name, clip in (("song", "song-of-the-factory"), ("bulletin", "evening-bulletin"), ("again", "ministry-statement")):
                got = fetch(publish_page(server, name, SAMPLES / f"{clip}.mp4", name.title(), channel="Other TV",
                                         upload_date="2018-02-03"), archive)
                record_fetch(store, archive, got, None)
                others.append(got.video.id)
        feed = publish_samples(server, SAMPLES)
        (root / "work").mkdir()
        yield Ctx(s.data_dir, fetched.video.id, others, feed, root / "work")


def cw(ctx: Ctx, *args: str):
    return runner.invoke(app, ["--data-dir", str(ctx.data_dir), *args])


def test_every_result_printing_command_takes_the_shared_json_option():
    commands = leaf_commands()
    assert set(NOT_RESULTS) <= set(commands), "an exemption names a command that no longer exists"
    for path, cmd in commands.items():
        params = json_params(cmd)
        if path in NOT_RESULTS:
            assert not params, f"{' '.join(path)} prints no result but takes --json"
            continue
        assert len(params) == 1, f"`clipwatch {' '.join(path)}` prints results but has no --json"
        [p] = params
        assert p.is_flag and p.opts == ["--json"] and p.help == JSON_HELP, \
            f"{' '.join(path)}: --json is not the shared option (pipeline.cli.common.JsonFlag)"
    runnable = set(commands) - set(NOT_RESULTS)
    assert set(RUNS) | set(SLOW_RUNS) | set(ELSEWHERE) == runnable, \
        "every result-printing command is run with --json here (or by the test named in ELSEWHERE)"


@pytest.mark.parametrize("path", sorted(ELSEWHERE), ids=" ".join)
def test_commands_run_elsewhere_are_run_with_json_there(path):
    test_file, invocation = ELSEWHERE[path]
    source = (TESTS / test_file).read_text(encoding="utf-8")
    assert invocation in source and "json.loads(" in source


@pytest.mark.parametrize("path", sorted(RUNS), ids=" ".join)
def test_each_command_prints_json_with_json_after_or_before_it(small, path):
    for form in ("after", "before"):
        args = RUNS[path](small)
        argv = [*path, *args, "--json"] if form == "after" else ["--json", *path, *args]
        res = cw(small, *argv)
        assert res.exit_code == 0, (form, res.output, res.exception)
        try:
            json.loads(res.stdout)
        except ValueError:
            pytest.fail(f"`clipwatch {' '.join(argv)}` printed more than JSON on stdout:\n{res.stdout[:2000]}")


def test_trends_takes_json_like_every_other_command(small):
    wanted = cw(small, "trends", "statement", "--by", "year", "--format", "json")
    assert wanted.exit_code == 0, wanted.output
    for argv in (["trends", "statement", "--by", "year", "--json"], ["--json", "trends", "statement", "--by", "year"]):
        res = cw(small, *argv)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout) == json.loads(wanted.stdout)
    clash = cw(small, "trends", "statement", "--json", "--format", "csv")
    assert clash.exit_code != 0 and "--json" in str(clash.exception) and "csv" in str(clash.exception)
    assert cw(small, "trends", "statement").stdout.lstrip()[:1] not in ("{", "[")  # the table stays the default


def test_json_of_commands_that_gained_it(small):
    assert json.loads(cw(small, "version", "--json").stdout) == {"version": __version__}
    dest = small.fresh("ids.csv")
    out = json.loads(cw(small, "export", "csv", str(dest), small.vid, "--json").stdout)
    assert out == {"path": str(dest), "format": "csv", "videos": 1} and dest.is_file()
    res = cw(small, "tags", "set", small.vid, "-c", "music", "--value", "false", "--note", "a speech", "--json")
    out = json.loads(res.stdout)
    assert out["human"] is False and out["cleared"] is False
    [music] = [t for t in out["tags"] if t["category"] == "music"]
    assert music["origin"] == "human" and music["decision"] is False
    out = json.loads(cw(small, "--json", "tags", "set", small.vid, "-c", "music", "--value", "clear").stdout)
    assert out["cleared"] is True and out["human"] is None
    assert not [t for t in out["tags"] if t["category"] == "music" and t["origin"] == "human"]
    clash = cw(small, "network", "--json", "--format", "graphml")
    assert clash.exit_code != 0 and "graphml" in str(clash.exception)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(SLOW_RUNS), ids=" ".join)
def test_slow_commands_print_json(prefect_harness, small, path):
    args = SLOW_RUNS[path](small)
    channels_before = os.environ.get("CLIPWATCH_CHANNELS")
    res = cw(small, *path, *args, "--json")
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    if path == ("demo",):
        assert out["ingest"]["videos"] and out["query"] == "statement" and "videos" in out["search"]
        # the sample outlet is in the registry for the demo's own site while it runs, and only then (issue 21)
        assert channels_before == os.environ.get("CLIPWATCH_CHANNELS")
        with Store(small.data_dir / "clipwatch.db") as st:
            evidence = " ".join(t["evidence"] or "" for v in out["ingest"]["videos"] if v["video_id"]
                                for t in st.tags(v["video_id"]))
        assert "channel in registry: Clipwatch Sample Broadcasting (demo/sample outlet), by " in evidence
    if path == ("transcribe",):
        assert "nuclear deterrent" in " ".join(s["text"] for s in out["segments"]).lower()
