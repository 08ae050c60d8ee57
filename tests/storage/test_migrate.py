"""`clipwatch migrate`: an embedded archive (SQLite + files) copied into PostgreSQL and an S3-compatible store,
verified (row counts, SHA-256s, transcript text), with the same search results afterwards, and resumable after a
run that stopped half-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import _search_catalogue
import pytest
from conftest import SAMPLES
from test_postgres_catalogue import QUERIES
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import Settings
from pipeline.demo.loopback import publish_samples
from pipeline.preservation.fixity import verify
from pipeline.preservation.manifest import record_manifest
from pipeline.search.facade import SearchQuery, search
from pipeline.sources.discovery import discover
from pipeline.sources.fetch import fetch
from pipeline.stages.runner import record_fetch
from pipeline.storage import migrate as migrate_mod
from pipeline.storage.files import Archive
from pipeline.storage.postgres.catalogue import PostgresCatalogue
from pipeline.storage.s3 import S3Store
from pipeline.storage.sqlite.catalogue import Store

TABLES = [t for t, _ in migrate_mod.TABLES]


def _counts(src: Store, dest: PostgresCatalogue) -> tuple[dict, dict]:
    return src.row_counts(TABLES), dest.row_counts(TABLES)


def _hits(store, archive_dir, text, **kw):
    """The trusted lines found (PostgreSQL does not list issue 13's doubtful lines yet: see test_postgres_catalogue)."""
    res = search(store, SearchQuery(text=text, limit=100, **kw), archive_dir=archive_dir)
    return sorted((h.video_id, h.kind, h.start, h.text) for h in res.hits if not h.doubtful)


def test_catalogue_round_trips_with_identical_search_results(pg, tmp_path):
    s = _search_catalogue.build_catalogue(tmp_path / "data")
    url = pg.create_database(f"m_{uuid.uuid4().hex[:8]}")
    with Store(s.db_path) as src, PostgresCatalogue(url) as dest:
        result = migrate_mod.migrate(src, s.archive_dir, dest)
        a, b = _counts(src, dest)
        assert b == {**a, "events": a["events"] + 1}  # + the "migrated" event
        assert result.rows == a and result.copied == a
        for text, kw in QUERIES:
            assert _hits(dest, s.archive_dir, text, **kw) == _hits(src, s.archive_dir, text, **kw), text
        # ids survive, so links and cursors keep working; new rows continue after them
        assert [r["id"] for r in dest.events()][: a["events"]] == [r["id"] for r in src.events()]
        # the chain arrives whole: same hashes, it walks, and the new events extend it
        assert [r["hash"] for r in dest.events()][: a["events"]] == [r["hash"] for r in src.events()]
        assert dest.chain_report().ok and src.chain_report().ok
        assert dest.events()[a["events"]]["prev_hash"] == src.chain_head()[1]
        assert a["media_fetches"] > 0
        dest.add_event("verified")
        assert dest.events()[-1]["id"] > max(r["id"] for r in src.events())
        [ev] = [e for e in dest.events() if e["kind"] == "migrated"]
        assert json.loads(ev["detail"])["text_sha256"] == result.text_digest


def test_a_stopped_migration_resumes_without_duplicates(pg, tmp_path, monkeypatch):
    s = _search_catalogue.build_catalogue(tmp_path / "data")
    url = pg.create_database(f"m_{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(migrate_mod, "BATCH", 7)

    def die(what, done, total):
        if what == "segments" and done >= 14:
            raise KeyboardInterrupt  # the process is stopped half-way through a table

    with Store(s.db_path) as src, PostgresCatalogue(url) as dest:
        with pytest.raises(KeyboardInterrupt):
            migrate_mod.migrate(src, s.archive_dir, dest, progress=die)
        partial = dest.row_counts(["segments"])["segments"]
        total = src.row_counts(["segments"])["segments"]
        assert 0 < partial < total
        assert dest.events() == []  # not reached yet
        again = migrate_mod.migrate(src, s.archive_dir, dest)
        assert again.copied["segments"] == total - partial and again.copied["videos"] == 0
        a, b = _counts(src, dest)
        assert b == {**a, "events": a["events"] + 1}
        third = migrate_mod.migrate(src, s.archive_dir, dest)  # finished: nothing to do, no second event
        assert not any(third.copied.values())
        assert [e["kind"] for e in dest.events()].count("migrated") == 1


@pytest.fixture
def real_archive(server, tmp_path):
    """The three sample clips really fetched from the loopback site into a local archive, plus transcripts."""
    s = Settings(data_dir=tmp_path / "data")
    s.ensure_dirs()
    arch = Archive(s.archive_dir)
    feed = publish_samples(server, SAMPLES)
    with Store(s.db_path) as st:
        for ref in discover(feed).refs:
            out = record_fetch(st, arch, fetch(ref.url, arch), None)
            v = st.get_video(out.video_id)
            st.replace_transcript(v["id"], v["media_sha256"], "original", _search_catalogue._transcript("ko", [
                (0.0, 4.0, f"{v['title']} 조선중앙텔레비죤 보도입니다."), (4.0, 8.0, "We will strengthen the harvest.")]), None)
            record_manifest(st, arch, v["id"])  # what the transcribe stage does: the rows' digests go under the chain
    return s


def test_archive_into_postgres_and_s3_then_verify_from_the_store(pg, s3, real_archive, tmp_path):
    s = real_archive
    bucket = f"mig-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(bucket)
    url = pg.create_database(f"m_{uuid.uuid4().hex[:8]}")
    blobs = S3Store(f"s3://{bucket}/archive", cache_dir=tmp_path / "cache")
    with Store(s.db_path) as src, PostgresCatalogue(url) as dest:
        result = migrate_mod.migrate(src, s.archive_dir, dest, blobs)
        media = src.media_rows()
        assert len(media) == 3 and result.uploaded == result.objects > 3  # originals + info.json, provenance…
        for m in media:  # every original under its content address, byte for byte
            body = s3.client().get_object(Bucket=bucket, Key=f"archive/{m['path']}")["Body"].read()
            assert body == (s.archive_dir / m["path"]).read_bytes() and len(body) == m["size"]
        res = verify(dest, blobs)  # fixity on the new backends: PostgreSQL rows, S3 bytes
        assert res.ok and res.counts()["ok"] == 3, [p.message for p in res.problems]
        assert res.chain.ok and res.derivatives_checked >= 6  # the chain came along; manifests checked from S3
        assert dest._one("SELECT count(*) AS n FROM manifests")["n"] == 3
        assert _hits(dest, s.archive_dir, "조선") == _hits(src, s.archive_dir, "조선") != []
        again = migrate_mod.migrate(src, s.archive_dir, dest, blobs)
        assert again.uploaded == 0 and not any(again.copied.values())


def test_cli_migrate_and_its_errors(pg, tmp_path):
    s = _search_catalogue.build_catalogue(tmp_path / "data")
    url = pg.create_database(f"m_{uuid.uuid4().hex[:8]}")
    res = CliRunner().invoke(app, ["--data-dir", str(s.data_dir), "migrate", "--to", url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rows"]["segments"] == out["copied"]["segments"] > 30
    env = {**os.environ, "CLIPWATCH_DATA": str(s.data_dir)}
    for args, words in ((["--to", "sqlite:///x.db"], "postgresql://"),
                        (["--to", url.replace(pg.password, "nope")], "password authentication failed")):
        proc = subprocess.run([sys.executable, "-c", "from pipeline.cli import main; main()", "migrate", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        [line] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert line.startswith("error:") and words in line
