"""The chain of custody as the CLI lists it (the triggers that keep it append-only: tests/storage/test_schema_sql.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pipeline.cli.app import app


def test_events_cli_lists_the_log(store, data_dir):
    store.add_event("verified", video_id=None, source_id=1, detail={"path": "p"})
    store.add_event("removed", video_id=None, source_id=1, detail={"reason": "This channel was terminated"})
    runner = CliRunner()
    out = runner.invoke(app, ["--data-dir", str(data_dir), "events", "--json"])
    assert out.exit_code == 0, out.output
    assert [e["kind"] for e in json.loads(out.stdout)] == ["verified", "removed"]
    out = runner.invoke(app, ["--data-dir", str(data_dir), "events", "--kind", "removed"])
    assert out.exit_code == 0 and "This channel was terminated" in out.output and "verified" not in out.output
    missing = runner.invoke(app, ["--data-dir", str(data_dir), "events", "nope"])
    assert missing.exit_code != 0
