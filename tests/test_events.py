"""The chain of custody is append-only: SQLite triggers refuse UPDATE and DELETE of past events."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.storage.sqlite.catalogue import Store


def test_events_cannot_be_updated_or_deleted(store, settings):
    store.add_event("verified", video_id="v1", detail={"path": "media/aa/x.mp4"})
    store.add_event("removed", video_id="v1", detail={"reason": "Video unavailable"})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE events SET kind = 'verified' WHERE kind = 'removed'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM events WHERE video_id = 'v1'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM events")
    # Not even from another connection, in a transaction, after re-opening the database.
    with Store(settings.db_path) as other:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            with other.transaction():
                other.db.execute("UPDATE events SET detail = '{}'")
    assert [(e["kind"], json.loads(e["detail"])) for e in store.events("v1")] == [
        ("verified", {"path": "media/aa/x.mp4"}), ("removed", {"reason": "Video unavailable"})]
    store.add_event("reappeared", video_id="v1")  # appending still works
    assert [e["kind"] for e in store.events("v1")] == ["verified", "removed", "reappeared"]


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
